"""The Tasks page's filter bar: state, task name, queue, worker, time range and free text.

Typing waits for a short debounce before :attr:`TaskFilters.changed` fires, so a name typed
letter by letter costs one query, not one per key; choosing a state or a range fires at once.
The queue and worker boxes offer what the history knows (:meth:`TaskFilters.set_choices`)
without losing what the user typed. The bar only builds a :class:`Filter`; the page sends it.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QWidget

from pooldesk.backend.taskhistory.query import STATES, Filter

DEBOUNCE_MS = 250
RANGES = (
    ("All time", None),
    ("Last 15 minutes", 900),
    ("Last hour", 3600),
    ("Last 24 hours", 86400),
    ("Last 7 days", 7 * 86400),
)


class TaskFilters(QWidget):
    changed = Signal()  # text typed (after the debounce) or a range chosen
    stateChanged = Signal()  # a state chosen by hand

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_box = QComboBox()
        self.state_box.addItems(["All states", *STATES])
        self.name_edit = QLineEdit(placeholderText="Task name contains…")
        self.queue_box = QComboBox(editable=True)
        self.queue_box.lineEdit().setPlaceholderText("Any queue")
        self.worker_box = QComboBox(editable=True)
        self.worker_box.lineEdit().setPlaceholderText("Any worker")
        self.range_box = QComboBox()
        self.range_box.addItems([r[0] for r in RANGES])
        self.search_edit = QLineEdit(placeholderText="Search id, arguments, result, exception…")
        self.search_edit.setClearButtonEnabled(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in (
            (self.state_box, 0),
            (self.name_edit, 2),
            (self.queue_box, 1),
            (self.worker_box, 1),
            (self.range_box, 0),
            (self.search_edit, 3),
        ):
            layout.addWidget(widget, stretch)
            widget.setMinimumWidth(40)  # the window may be narrow: the boxes shrink, not it
            if isinstance(widget, QComboBox):
                widget.setSizeAdjustPolicy(
                    QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
                )
                widget.setMinimumContentsLength(4)

        self.debounce = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self.debounce.timeout.connect(self.changed)
        for edit in (
            self.name_edit,
            self.search_edit,
            self.queue_box.lineEdit(),
            self.worker_box.lineEdit(),
        ):
            edit.textChanged.connect(self.debounce.start)
        self.state_box.currentIndexChanged.connect(self.stateChanged)
        self.range_box.currentIndexChanged.connect(self.changed)

    def current(self, exc_group: str | None = None) -> Filter:
        state = self.state_box.currentText()
        seconds = RANGES[self.range_box.currentIndex()][1]
        return Filter(
            states=(state,) if state in STATES else (),
            name=self.name_edit.text().strip() or None,
            queue=self.queue_box.currentText().strip() or None,
            worker=self.worker_box.currentText().strip() or None,
            since=time.time() - seconds if seconds else None,
            search=self.search_edit.text().strip()[:500] or None,
            exc_group=exc_group,
        )

    def show_state(self, state: str) -> None:
        """Show ``state`` as chosen without firing :attr:`stateChanged` (a failure group)."""
        self.state_box.blockSignals(True)
        self.state_box.setCurrentText(state)
        self.state_box.blockSignals(False)

    def set_choices(self, queues: list[str], workers: list[str]) -> None:
        """Offer the queues and workers the history knows, keeping what the user typed."""
        for box, values in ((self.queue_box, queues), (self.worker_box, workers)):
            typed = box.currentText()
            known = [box.itemText(i) for i in range(box.count())]
            if known != ["", *values]:
                box.blockSignals(True)
                box.lineEdit().blockSignals(True)
                box.clear()
                box.addItems(["", *values])
                box.setEditText(typed)
                box.lineEdit().blockSignals(False)
                box.blockSignals(False)
