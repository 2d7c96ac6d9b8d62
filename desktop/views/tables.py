"""A read-only ``QTableWidget`` set up once for the small tables filled by hand (pool fit,
projects): labelled columns, no row numbers, no editing, the selection the caller wants.

The large, model-backed tables use ``batch_detail.make_table`` instead; these few hold a
handful of rows rebuilt whole, where a model would be more code than the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QAbstractItemView, QTableWidget


def read_only_table(
    columns: Sequence[str],
    selection: QAbstractItemView.SelectionMode = QAbstractItemView.SelectionMode.SingleSelection,
) -> QTableWidget:
    """Whole rows are selected (when anything is): a cell of these tables means nothing alone."""
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return table
