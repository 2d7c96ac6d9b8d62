"""The batches table: one row per batch, newest first, keyed by the batch id.

:meth:`BatchesModel.update` merges a fresh list into the rows it has (removed rows go, new ones
are inserted where they belong, changed cells are announced with ``dataChanged``), so the
refresh every second neither resets the view nor moves the selection. The Progress column
returns ``(done, total)`` under :data:`ProgressRole` for :class:`ProgressDelegate` to draw.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.desktop import resources
from pooldesk.desktop.formatting import DASH
from pooldesk.desktop.models.table import Columns, Index, TableModel

COLUMNS = ("ID", "Kind", "State", "Progress", "Failed", "Elapsed", "ETA", "Created")
ID, KIND, STATE, PROGRESS, FAILED, ELAPSED, ETA, CREATED = range(len(COLUMNS))
NUMERIC = {FAILED, ELAPSED, ETA}
BatchRole = Qt.ItemDataRole.UserRole + 1  # the row's BatchRecord
ProgressRole = Qt.ItemDataRole.UserRole + 2  # (done, total)
ACTIVE = ("queued", "running")
# Batch states take the colours of the worker states that mean the same to the eye.
COLOUR_OF = {
    "queued": "stopped",
    "running": "starting",
    "completed": "online",
    "completed_with_failures": "warning",
    "cancelled": "stopped",
    "error": "crashed",
}
STATE_TEXT = {"completed_with_failures": "completed, failures"}
HEADER_TIPS = {
    PROGRESS: "Children ended (succeeded, failed or cancelled) of all children",
    ETA: "Remaining time at the rate so far",
}


def batch_color(state: str) -> QColor:
    return resources.state_color(COLOUR_OF.get(state, "stopped"))


def unit_of(record: BatchRecord) -> str:
    """What a batch's children are, for a person: invoice chunks or URL checks."""
    return {"invoices": "chunks", "project": "items"}.get(record.kind, "checks")


def done_total(record: BatchRecord) -> tuple[int, int]:
    c = record.counts or {}
    done = int(c.get("succeeded", 0)) + int(c.get("failed", 0)) + int(c.get("cancelled", 0))
    return done, int(c.get("total", 0))


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 m 05 s``, ``2 h 07 m``; a dash when unknown."""
    if seconds is None or seconds < 0:
        return DASH
    whole = round(seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def elapsed(record: BatchRecord, now: float | None = None) -> float | None:
    if record.started_at is None:
        return None
    end = record.finished_at or (None if record.final else (now or time.time()))
    return None if end is None else max(0.0, end - record.started_at)


def eta(record: BatchRecord, now: float | None = None) -> float | None:
    """Remaining time at the rate so far; ``None`` before the first child ends, or when over."""
    if record.state != "running":
        return None
    done, total = done_total(record)
    spent = elapsed(record, now)
    if not done or not total or not spent or done >= total:
        return None
    return (total - done) * spent / done


def created_text(stamp: float, now: float | None = None) -> str:
    local, today = time.localtime(stamp), time.localtime(now or time.time())
    if local[:3] == today[:3]:
        return time.strftime("today %H:%M:%S", local)
    return time.strftime("%Y-%m-%d %H:%M", local)


def cells(record: BatchRecord, now: float) -> tuple[str, ...]:
    done, total = done_total(record)
    failed = int((record.counts or {}).get("failed", 0))
    remaining = eta(record, now)
    kind = record.kind
    if kind == "project":  # whose task: "ledger: ledgerq.tasks.post"
        kind = f"{record.params.get('project')}: {record.params.get('task')}"
    return (
        record.id[:8],
        kind,
        STATE_TEXT.get(record.state, record.state),
        f"{done}/{total}" if total else DASH,
        str(failed) if total else DASH,
        duration(elapsed(record, now)),
        DASH if remaining is None else f"≈ {duration(remaining)}",
        created_text(record.created_at, now),
    )


class BatchesModel(TableModel):
    spec = Columns(COLUMNS, frozenset(NUMERIC), HEADER_TIPS, BatchRole)
    _rows: list[BatchRecord]

    def role_data(self, record: BatchRecord, row: int, column: int, role: int) -> Any:
        if role == ProgressRole:
            return done_total(record)
        if column == STATE and role == Qt.ItemDataRole.ForegroundRole:
            return batch_color(record.state)
        if column == STATE and role == Qt.ItemDataRole.DecorationRole:
            return resources.dot(batch_color(record.state).name())
        failed = (record.counts or {}).get("failed")
        if column == FAILED and role == Qt.ItemDataRole.ForegroundRole and failed:
            return resources.state_color("crashed")
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == ID:
                return record.id
            if column == STATE and record.error:
                return record.error
            if column == CREATED:
                return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created_at))
        return None

    # -- access ------------------------------------------------------------------------------
    def record(self, row: int) -> BatchRecord | None:
        return self.row_at(row)

    def records(self) -> list[BatchRecord]:
        return list(self._rows)

    def row_of(self, batch_id: str) -> int:
        return self._find(lambda record: record.id == batch_id)

    # -- updating ----------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> bool:
        """Recompute the clocks (elapsed, ETA) of active rows; True if any row is active."""
        active = [r for r in self._rows if not r.final]
        if active:
            self.update(self._rows, now)
        return bool(active)

    def update(self, records: list[BatchRecord], now: float | None = None) -> None:
        now = now or time.time()
        ordered = sorted(records, key=lambda r: r.created_at, reverse=True)
        fresh = {r.id: r for r in ordered}
        self._drop_rows(lambda r: r.id in fresh)
        known = {r.id: row for row, r in enumerate(self._rows)}
        for batch_id, row in known.items():
            record, new_cells = fresh[batch_id], cells(fresh[batch_id], now)
            progressed = new_cells[PROGRESS] != self._cells[row][PROGRESS]
            # A new state or progress changes colours, tooltips and the bar: the whole row.
            whole = self._rows[row].state != record.state or progressed
            self._replace_row(row, record, new_cells, whole)
        # Rows never change places (created_at is fixed): insert the new ones where they go.
        for target, record in enumerate(ordered):
            if record.id not in known:
                self._insert_rows(target, [record], [cells(record, now)])


class ProgressDelegate(QStyledItemDelegate):
    """A progress bar in the cell, coloured by the batch state, with ``7/12`` on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        done, total = index.data(ProgressRole) or (0, 0)
        record = index.data(BatchRole)
        # The row background first (selection, alternate colour), as for any other cell.
        self.initStyleOption(option, index)
        option.text = ""
        widget = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, widget)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 5, -4, -5)  # type: ignore[attr-defined]
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.direction = option.direction  # type: ignore[attr-defined]
        bar.fontMetrics = option.fontMetrics  # type: ignore[attr-defined]
        # The view's own palette, not the cell's: on a selected row the groove stays light and
        # the bar stands out against the selection colour.
        bar.palette = QPalette(widget.palette() if widget is not None else option.palette)  # type: ignore[attr-defined]
        if record is not None and record.state != "running":
            bar.palette.setColor(QPalette.ColorRole.Highlight, batch_color(record.state))
        bar.minimum, bar.maximum = 0, max(total, 1)
        bar.progress = min(done, total) if total else 0
        percent = f" · {done * 100 // total} %" if total else ""
        bar.text = f"{done}/{total}{percent}" if total else DASH
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)
