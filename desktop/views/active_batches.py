"""The Overview's "Batches" strip: every batch still running, with its progress, one line each.

An ops person glancing at the Overview wants to know whether the night's invoices are moving
without switching pages; a click on a line opens that batch on the Batches page. When nothing
runs, the strip says how the latest batch ended, so "nothing here" never looks like "broken".
It is fed by the BatchController's ``batchesChanged`` (no broker call here).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from pooldesk.backend.batches.history import BatchRecord
from pooldesk.desktop.models.batches_model import (
    STATE_TEXT,
    created_text,
    done_total,
    duration,
    eta,
    unit_of,
)

MAX_ROWS = 5


class _BatchRow(QWidget):
    clicked = Signal(str)  # batch id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.batch_id = ""
        self.label = QLabel()
        self.label.setMinimumWidth(260)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setMaximumHeight(16)
        self.detail = QLabel()
        self.detail.setObjectName("hint")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.detail)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Open this batch on the Batches page")

    def show_record(self, record: BatchRecord, now: float) -> None:
        self.batch_id = record.id
        done, total = done_total(record)
        failed = int((record.counts or {}).get("failed", 0))
        self.label.setText(f"<b>{record.kind}</b> {record.id[:8]} — {record.state}")
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(done if total else 0)
        self.bar.setFormat(f"{done:,} / {total:,} {unit_of(record)}" if total else "planning…")
        parts = [f"{failed:,} failed"] if failed else []
        remaining = eta(record, now)
        parts.append(
            f"≈ {duration(remaining)} left" if remaining is not None else "estimating time left"
        )
        self.detail.setText(" · ".join(parts))

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.batch_id:
            self.clicked.emit(self.batch_id)
        super().mouseReleaseEvent(event)


class ActiveBatches(QWidget):
    openRequested = Signal(str)  # batch id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[_BatchRow] = []
        self.idle_label = QLabel("No batch has run yet.")
        self.idle_label.setObjectName("hint")
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self._layout.addWidget(self.idle_label)
        self.more_label = QLabel()
        self.more_label.setObjectName("hint")
        self._layout.addWidget(self.more_label)
        self.more_label.hide()

    def set_batches(self, records: list[BatchRecord]) -> None:
        """Newest first, as the controller sends them; shows the unfinished ones."""
        now = time.time()
        active = [r for r in records if not r.final]
        shown = active[:MAX_ROWS]
        while len(self.rows) < len(shown):
            row = _BatchRow(self)
            row.clicked.connect(self.openRequested)
            self._layout.insertWidget(len(self.rows), row)
            self.rows.append(row)
        for row, record in zip(self.rows, shown, strict=False):
            row.show_record(record, now)
            row.show()
        for row in self.rows[len(shown) :]:
            row.hide()
        hidden = len(active) - len(shown)
        self.more_label.setText(f"and {hidden} more on the Batches page" if hidden else "")
        self.more_label.setVisible(hidden > 0)
        self.idle_label.setVisible(not shown)
        if not shown:
            self.idle_label.setText(_idle_text(records, now))

    def active_ids(self) -> list[str]:
        return [row.batch_id for row in self.rows if not row.isHidden()]


def _idle_text(records: list[BatchRecord], now: float) -> str:
    if not records:
        return "No batch has run yet. Launch one from the Batches page (Ctrl+I, Ctrl+M)."
    last = records[0]
    done, total = done_total(last)
    state = STATE_TEXT.get(last.state, last.state)
    took = (
        duration(last.finished_at - last.started_at) if last.finished_at and last.started_at else ""
    )
    return (
        f"No batch running. Latest: {last.kind} {last.id[:8]}, {state} "
        f"({done:,}/{total:,} {unit_of(last)}{', in ' + took if took else ''}), "
        f"{created_text(last.created_at, now)}."
    )
