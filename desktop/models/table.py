"""What every Pooldesk table model shares: columns as data, one ``data()``/``headerData()``.

Each table (workers, batches, a batch's children, tasks) is a list of row objects plus, for
most, the display text of every cell computed once when the row arrives (``_cells``), so
painting a table asks nothing of the backend objects. A subclass declares its
:class:`Columns` (names, which are numeric: right-aligned in the cells and, unless
``numeric_headers`` is false, in the header; header tooltips; the role that returns the row
object); it overrides :meth:`TableModel.role_data` for its colours, fonts and tooltips, and
:meth:`TableModel.text` when its text is not precomputed. The merge helpers keep a refresh
from resetting the view: rows that went away are removed, changed cells are announced with
``dataChanged``, new rows inserted, so the selection and scroll position survive a refresh
every second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

Index = QModelIndex | QPersistentModelIndex

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Columns:
    """A table's columns as data."""

    names: Sequence[str]
    numeric: frozenset[int] = frozenset()  # right-aligned columns
    tips: Mapping[int, str] = field(default_factory=dict)  # header tooltips
    row_role: int | None = None  # the role that returns the row object itself
    numeric_headers: bool = True  # align the numeric columns' headers to the right too


class TableModel(QAbstractTableModel):
    spec: ClassVar[Columns] = Columns(())

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Any] = []
        self._cells: list[tuple[str, ...]] = []

    # -- what a subclass may override --------------------------------------------------------
    def text(self, row: int, column: int) -> str:
        """The cell's display text: precomputed in ``_cells`` unless a subclass says otherwise."""
        return self._cells[row][column]

    def role_data(self, item: Any, row: int, column: int, role: int) -> Any:
        """Any other role (colours, fonts, icons, tooltips, custom roles) for ``item``."""
        return None

    # -- Qt ----------------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.spec.names)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.spec.names[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.spec.tips.get(section)
        if role == Qt.ItemDataRole.TextAlignmentRole and self.spec.numeric_headers:
            return _RIGHT if section in self.spec.numeric else None
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row, column = index.row(), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _RIGHT if column in self.spec.numeric else _LEFT
        if self.spec.row_role is not None and role == self.spec.row_role:
            return self._rows[row]
        return self.role_data(self._rows[row], row, column, role)

    # -- access ------------------------------------------------------------------------------
    def row_at(self, row: int) -> Any | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def _find(self, match: Callable[[Any], bool]) -> int:
        return next((row for row, item in enumerate(self._rows) if match(item)), -1)

    # -- merging a refresh -------------------------------------------------------------------
    def _drop_rows(self, keep: Callable[[Any], bool]) -> None:
        """Remove, one by one from the bottom, the rows ``keep`` rejects."""
        for row in reversed(range(len(self._rows))):
            if not keep(self._rows[row]):
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rows[row], self._cells[row]
                self.endRemoveRows()

    def _replace_row(self, row: int, item: Any, cells: tuple[str, ...], whole: bool) -> None:
        """Put ``item`` in ``row``; announce the changed cells, or all of them when ``whole``
        (a change of colour, font or tooltip that no cell text shows)."""
        old = self._cells[row]
        self._rows[row], self._cells[row] = item, cells
        changed = [c for c in range(len(cells)) if whole or cells[c] != old[c]]
        if changed:
            self.dataChanged.emit(self.index(row, min(changed)), self.index(row, max(changed)))

    def _insert_rows(self, first: int, items: list[Any], cells: list[tuple[str, ...]]) -> None:
        if not items:
            return
        self.beginInsertRows(QModelIndex(), first, first + len(items) - 1)
        self._rows[first:first] = items
        self._cells[first:first] = cells
        self.endInsertRows()
