"""A ``QTableWidget`` of whole rows set up once for the small tables filled by hand (pool fit,
projects, worker presets): labelled columns, no row numbers, read-only unless asked, the
selection the caller wants.

The large, model-backed tables use ``make_table`` below instead; these few hold a
handful of rows rebuilt whole, where a model would be more code than the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
)


def row_table(
    columns: Sequence[str],
    selection: QAbstractItemView.SelectionMode = QAbstractItemView.SelectionMode.SingleSelection,
    stretch: int | None = None,
    fit: Iterable[int] | None = None,
    editable: bool = False,
    min_height: int = 0,
) -> QTableWidget:
    """Whole rows are selected (when anything is): a cell of these tables means nothing alone.
    With ``stretch``, the ``fit`` columns (all others when not given) fit their contents and
    that one takes the remaining width. ``editable`` for a table edited in place (presets)."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    if not editable:
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    if stretch is not None:
        header = table.horizontalHeader()
        if fit is None:
            header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        else:
            for column in fit:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    if min_height:
        table.setMinimumHeight(min_height)
    return table


def fill_row(table: QTableWidget, row: int, texts: Iterable[str]) -> list[QTableWidgetItem]:
    """Put one plain-text item per column in ``row``; returned so the caller can add tooltips,
    colours or alignment (an item changed after ``setItem`` updates its cell)."""
    items = [QTableWidgetItem(text) for text in texts]
    for column, item in enumerate(items):
        table.setItem(row, column, item)
    return items


def make_table(model: QAbstractItemModel, min_section: int = 60) -> QTableView:
    """A read-only, row-selecting table over ``model``: the workers, batches, children and
    tasks tables all look alike."""
    table = QTableView()
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(28)
    header = table.horizontalHeader()
    header.setHighlightSections(False)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setMinimumSectionSize(min_section)
    return table
