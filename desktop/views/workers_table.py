"""The Workers page's table view: how its columns size, and the two that are capped.

Every column sizes to its contents and Queues stretches, so the table fills the page without
an explicit ``resizeColumnsToContents()`` (which would freeze Queues' width). Host and Project
are capped (a long name elides, whole in its tooltip), so with the Host column the table still
fits 1280 px without scrolling sideways. The Host column is hidden until a fleet host is heard.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QTableView

from pooldesk.desktop.models.workers_model import COLUMNS, HOST, PROJECT, QUEUES, WorkersModel
from pooldesk.desktop.views.tables import make_table

CAPPED = {PROJECT: 180, HOST: 96}  # px at most


def workers_table(model: WorkersModel) -> QTableView:
    table = make_table(model, min_section=70)
    header = table.horizontalHeader()
    for column in range(len(COLUMNS)):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(QUEUES, QHeaderView.ResizeMode.Stretch)
    table.setColumnHidden(HOST, True)  # shown once a fleet host is heard
    for column in CAPPED:
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
    return table


def fit_capped_columns(table: QTableView) -> None:
    """Size the capped columns to their contents, at most their cap (after every update)."""
    header = table.horizontalHeader()
    for column, cap in CAPPED.items():
        if table.isColumnHidden(column):
            continue
        width = min(table.sizeHintForColumn(column), cap)
        width = max(width, header.sectionSizeHint(column), header.minimumSectionSize())
        if header.sectionSize(column) != width:
            header.resizeSection(column, width)
