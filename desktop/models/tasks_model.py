"""The Tasks table: recorded tasks, newest first, loaded a page at a time.

A real ``QAbstractTableModel`` over SQLite pages: the view asks ``canFetchMore``/``fetchMore`` as
the user scrolls, the model asks for the next page (keyset: after the last row it has) through
``moreWanted`` and the controller thread answers with ``append``. So 100,000 recorded tasks cost
what the visible pages cost. ``refresh`` merges a fresh first page: new tasks are inserted at
the top and changed cells announced, so a live table neither resets nor loses the selection.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from pooldesk.backend.taskhistory.query import TaskRow
from pooldesk.desktop import resources
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.table import Columns, Index, TableModel

COLUMNS = (
    "State",
    "Task",
    "Queue",
    "Worker",
    "Received",
    "Wait",
    "Runtime",
    "Retries",
    "Exception",
    "Fail rate",
)
STATE, NAME, QUEUE, WORKER, WHEN, WAIT, RUNTIME, RETRIES, EXCEPTION, RATE = range(len(COLUMNS))
NUMERIC = {WAIT, RUNTIME, RETRIES, RATE}
RowRole = Qt.ItemDataRole.UserRole + 1  # the row's TaskRow
HEADER_TIPS = {
    RATE: "Failed / finished runs of this task name in the time range shown",
    WAIT: "From sent (or received) to started",
}
COLOUR_OF = {
    "SUCCESS": "online",
    "FAILURE": "crashed",
    "REJECTED": "crashed",
    "RETRY": "warning",
    "STARTED": "starting",
    "REVOKED": "stopped",
}


def seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min"


def when(stamp: float | None, now: float) -> str:
    if not stamp:
        return DASH
    local = time.localtime(stamp)
    if local[:3] == time.localtime(now)[:3]:
        return time.strftime("%H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


class TasksModel(TableModel):
    """Display text is computed when painted, not stored: the When column is relative to now
    and the fail rate changes with :meth:`set_rates`, and only visible rows are painted."""

    moreWanted = Signal(object)  # (first_ts, id) of the last row: load the page after it
    spec = Columns(COLUMNS, frozenset(NUMERIC), HEADER_TIPS, RowRole, numeric_headers=False)
    _rows: list[TaskRow]

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._more = False
        self._loading = False
        self.rates: dict[str, tuple[int, int]] = {}  # name → (finished, failed)

    # -- feeding ------------------------------------------------------------------------------
    def reset(self, rows: list[TaskRow], more: bool) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._more = more
        self._loading = False
        self.endResetModel()

    def append(self, rows: list[TaskRow], more: bool) -> None:
        self._loading = False
        self._more = more
        known = {r.id for r in self._rows[-len(rows) :]} if rows else set()
        rows = [r for r in rows if r.id not in known]
        if rows:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()

    def refresh(self, first: list[TaskRow], more: bool) -> None:
        """Merge a fresh first page: insert what is new at the top, update the rest."""
        if not self._rows or not first:
            self.reset(first, more)
            return
        ids = [r.id for r in first]
        top = self._rows[0].id
        if top not in ids:  # everything shown is older than the fresh page, or gone
            self.reset(first, more)
            return
        new = ids.index(top)
        overlap = first[new:]
        if [r.id for r in self._rows[: len(overlap)]] != [r.id for r in overlap]:
            self.reset(first, more or len(self._rows) > len(first))
            return
        self._rows[: len(overlap)] = overlap
        if overlap:
            self.dataChanged.emit(self.index(0, 0), self.index(len(overlap) - 1, RATE))
        if new:
            self.beginInsertRows(QModelIndex(), 0, new - 1)
            self._rows[0:0] = first[:new]
            self.endInsertRows()

    def set_rates(self, rates: dict[str, tuple[int, int]]) -> None:
        self.rates = rates
        if self._rows:
            self.dataChanged.emit(self.index(0, RATE), self.index(len(self._rows) - 1, RATE))

    def row_at(self, row: int) -> TaskRow | None:
        return super().row_at(row)  # typed for callers

    def row_of(self, task_id: str) -> int:
        return self._find(lambda row: row.id == task_id)

    # -- paging -------------------------------------------------------------------------------
    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more and not self._loading

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or not self._rows or self._loading:
            return
        self._loading = True
        last = self._rows[-1]
        self.moreWanted.emit((last["first_ts"], last.id))

    # -- Qt -----------------------------------------------------------------------------------
    def text(self, row: int, column: int) -> str:
        return self._text(self._rows[row], column)

    def role_data(self, item: TaskRow, row: int, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and column == STATE:
            return resources.state_color(COLOUR_OF.get(item["state"] or "", "stopped"))
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == EXCEPTION and item["exception"]:
                return item["exception"]
            if column == NAME:
                return item.id
            if column == STATE and item["note"]:
                return item["note"]
        return None

    def _text(self, row: TaskRow, col: int) -> str:
        if col == STATE:
            return str(row["state"] or DASH)
        if col == NAME:
            return str(row["name"] or row.id)
        if col == QUEUE:
            return str(row["queue"] or DASH)
        if col == WORKER:
            return str(row["worker"] or DASH)
        if col == WHEN:
            return when(row["received_ts"] or row["sent_ts"] or row["first_ts"], time.time())
        if col == WAIT:
            return seconds(row.wait)
        if col == RUNTIME:
            return seconds(row.runtime)
        if col == RETRIES:
            return str(row["retries"] or 0)
        if col == EXCEPTION:
            return (row["exception"] or "").splitlines()[0][:120] if row["exception"] else ""
        done, failed = self.rates.get(row["name"] or "", (0, 0))
        return f"{100 * failed / done:.0f} %" if done else DASH


def colour(state: str) -> QColor:
    return resources.state_color(COLOUR_OF.get(state, "stopped"))
