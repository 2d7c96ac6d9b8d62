"""The selected worker, under the workers table: its charts and the tail of its log.

- **Charts**: :class:`WorkerCharts` (cores used against what the configuration promises, CPU,
  USS) read from the telemetry history the Overview uses and the window's one
  :class:`LimitHistory` (:meth:`WorkerDetail.set_sources`); redrawn on a timer that runs only
  while the tab is on screen.
- **Log**: the last lines of a local worker's log, asked for with ``logWanted(name, lines)``
  (the window connects it to ``WorkerController.readLog``: the file is read in the controller's
  thread, secrets masked) every 2 s while the tab is on screen; answers arrive in
  :meth:`WorkerDetail.set_log`. A search field filters lines, "Follow" keeps the end in view.

Nothing here calls the backend.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.desktop.charts import LimitHistory, WorkerCharts
from pooldesk.desktop.charts.window import CHART_MS, History, no_history, window_combo
from pooldesk.desktop.charts.worker import worker_facts

LOG_MS = 2000
LOG_LINES = 500
LOG_WAIT_S = 10.0  # a request unanswered this long (controller busy) may be sent again


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("emptyState")
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class ChartsTab(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history: History = no_history
        self._snapshot: Snapshot | None = None
        self.info: WorkerInfo | None = None
        self.charts = WorkerCharts(LimitHistory())  # the window's own arrives in set_sources
        self.window_combo = window_combo()
        self.window_combo.currentIndexChanged.connect(self._window_changed)
        self.caption = QLabel()
        self.caption.setObjectName("hint")
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show the last"))
        controls.addWidget(self.window_combo)
        controls.addSpacing(12)
        controls.addWidget(self.caption, 1)
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(controls)
        column.addWidget(self.charts, 1)
        # Three charts side by side are wide: scroll rather than widen the window.
        charts = QScrollArea()
        charts.setWidgetResizable(True)
        charts.setFrameShape(QFrame.Shape.NoFrame)
        charts.setWidget(content)
        self.note = _note("")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.note)
        self.stack.addWidget(charts)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.stack)

        self.timer = QTimer(self)
        self.timer.setInterval(CHART_MS)
        self.timer.timeout.connect(self.refresh)
        self._window_changed()
        self.set_worker(None)

    def set_sources(self, history: History, limits: LimitHistory) -> None:
        self._history = history
        self.charts.limits = limits

    def set_worker(self, info: WorkerInfo | None) -> None:
        self.info = info
        if info is not None and getattr(info, "host", ""):
            self.note.setText(
                f"{info.name} runs on host {getattr(info, 'host', '')}: its CPU and memory are "
                "in the table (from its agent); the host's charts are on the Overview."
            )
            self.stack.setCurrentWidget(self.note)
            self.charts.set_worker(None)
            return
        if info is None or info.remote:
            self.note.setText(
                "Select a worker to see its charts."
                if info is None
                else f"{info.hostname} runs on another machine or installation: Pooldesk "
                "measures only the processes of its own workers, so there are no charts here.\n"
                "Its Active and Processed counts are in the table."
            )
            self.stack.setCurrentWidget(self.note)
            self.charts.set_worker(None)
            return
        self.stack.setCurrentIndex(1)
        if info.name != self.charts.name:
            self.charts.set_worker(info.name)
            self.refresh()
        self._update_caption()

    def set_resources(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.charts.set_cores(len(snapshot.system.per_cpu) or 1)
        self._update_caption()

    def refresh(self) -> None:
        if self.charts.name and self.isVisible():
            self.charts.refresh(self._history, time.time())

    def _window_changed(self, _index: int = 0) -> None:
        self.charts.set_window(float(self.window_combo.currentData()))
        self.refresh()

    def _update_caption(self) -> None:
        name = self.charts.name
        facts = worker_facts(self._snapshot, name)
        if facts is None:
            self.caption.setText("not running: its recorded history stays readable" if name else "")
            return
        self.caption.setText(" · ".join(facts))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.start()
        self.refresh()

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()
        super().hideEvent(event)


class LogTab(QWidget):
    logWanted = Signal(str, int)  # name, lines
    hostLogWanted = Signal(str, str, int)  # fleet host, name, lines: its agent reads the log

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name: str | None = None  # the local worker whose log is shown
        self.host = ""  # or the fleet host whose agent reads it
        self.lines: list[str] = []
        self._asked_at: float | None = None
        self._rendering = False

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Filter lines (case-insensitive)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._render)
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        self.follow_check = QCheckBox("&Follow")
        self.follow_check.setToolTip("Keep the newest lines in view")
        self.follow_check.setChecked(True)
        self.follow_check.toggled.connect(self._follow_toggled)
        controls = QHBoxLayout()
        controls.addWidget(self.search_edit, 1)
        controls.addWidget(self.count_label)
        controls.addSpacing(8)
        controls.addWidget(self.follow_check)
        self.view = QPlainTextEdit()
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.view.setPlaceholderText("(the log is empty)")
        self.view.verticalScrollBar().valueChanged.connect(self._scrolled)
        # The range grows after the text is set (a horizontal scrollbar appearing for a long
        # line on a narrow window takes a line's height): following keeps the very end.
        self.view.verticalScrollBar().rangeChanged.connect(self._range_changed)
        log_page = QWidget()
        column = QVBoxLayout(log_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(controls)
        column.addWidget(self.view, 1)
        self.note = _note("")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.note)
        self.stack.addWidget(log_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.stack)

        self.timer = QTimer(self)
        self.timer.setInterval(LOG_MS)
        self.timer.timeout.connect(self.request)
        self.set_worker(None)

    def set_worker(self, info: WorkerInfo | None) -> None:
        host = str(getattr(info, "host", "") or "")
        if info is None or (info.remote and not host):
            self.note.setText(
                "Select a local worker to see its log."
                if info is None
                else f"{info.hostname} runs on another machine or installation: its log is "
                "there, not here (for a Pooldesk worker: pooldesk worker logs "
                f"{info.name} on that machine)."
            )
            self.stack.setCurrentWidget(self.note)
            self.name = None
            return
        self.stack.setCurrentIndex(1)
        if info.name != self.name or host != self.host:
            self.name, self.host, self.lines, self._asked_at = info.name, host, [], None
            self._render()
            self.request()

    def request(self) -> None:
        """Ask for the log (at most one request in flight), only while on screen."""
        if self.name is None or not self.isVisible():
            return
        now = time.monotonic()
        if self._asked_at is not None and now - self._asked_at < LOG_WAIT_S:
            return
        self._asked_at = now
        if self.host:
            self.hostLogWanted.emit(self.host, self.name, LOG_LINES)
        else:
            self.logWanted.emit(self.name, LOG_LINES)

    def set_log(self, name: str, lines: list[str]) -> None:
        if name != self.name:
            return  # an answer for a worker no longer selected
        self._asked_at = None
        if lines != self.lines:
            self.lines = list(lines)
            self._render()

    def matching(self) -> list[str]:
        needle = self.search_edit.text().strip().casefold()
        if not needle:
            return self.lines
        return [line for line in self.lines if needle in line.casefold()]

    def _render(self) -> None:
        shown = self.matching()
        total = len(self.lines)
        if self.search_edit.text().strip():
            self.count_label.setText(f"{len(shown):,} of {total:,} lines match")
        else:
            self.count_label.setText(f"{total:,} line{'s' if total != 1 else ''}")
        bar = self.view.verticalScrollBar()
        position = bar.value()
        self._rendering = True
        try:
            self.view.setPlainText("\n".join(shown))
            bar.setValue(bar.maximum() if self.follow_check.isChecked() else position)
        finally:
            self._rendering = False

    def _follow_toggled(self, on: bool) -> None:
        if on:
            bar = self.view.verticalScrollBar()
            bar.setValue(bar.maximum())

    def _range_changed(self, _low: int, high: int) -> None:
        if self.follow_check.isChecked():
            rendering, self._rendering = self._rendering, True  # may run inside _render
            try:
                self.view.verticalScrollBar().setValue(high)
            finally:
                self._rendering = rendering

    def _scrolled(self, value: int) -> None:
        """Scrolling up to read stops following; Follow brings the end back."""
        if not self._rendering and value < self.view.verticalScrollBar().maximum():
            self.follow_check.setChecked(False)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.start()
        self.request()

    def hideEvent(self, event: QHideEvent) -> None:
        self.timer.stop()
        super().hideEvent(event)


class WorkerDetail(QWidget):
    """The detail pane: a heading naming the selected worker, then the Charts and Log tabs."""

    logWanted = Signal(str, int)
    hostLogWanted = Signal(str, str, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.info: WorkerInfo | None = None
        self.heading = QLabel()
        self.heading.setObjectName("sectionTitle")
        self.charts_tab = ChartsTab()
        self.log_tab = LogTab()
        self.log_tab.logWanted.connect(self.logWanted)
        self.log_tab.hostLogWanted.connect(self.hostLogWanted)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.charts_tab, "&Charts")
        self.tabs.addTab(self.log_tab, "&Log")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.heading)
        layout.addWidget(self.tabs, 1)
        self.set_worker(None)

    def set_sources(self, history: History, limits: LimitHistory) -> None:
        self.charts_tab.set_sources(history, limits)

    def set_worker(self, info: WorkerInfo | None) -> None:
        self.info = info
        if info is None:
            self.heading.setText("No worker selected")
        else:
            host = str(getattr(info, "host", "") or "")
            where = f"on {host}, " if host else "remote, " if info.remote else ""
            shape = f"{info.pool or '?'} × {info.concurrency or '?'}"
            self.heading.setText(f"{info.hostname} ({where}{shape})")
        self.charts_tab.set_worker(info)
        self.log_tab.set_worker(info)

    def set_resources(self, snapshot: Snapshot) -> None:
        self.charts_tab.set_resources(snapshot)

    def set_log(self, name: str, lines: list[str]) -> None:
        self.log_tab.set_log(name, lines)

    def show_tab(self, which: str) -> None:
        """``"charts"`` or ``"log"``."""
        self.tabs.setCurrentWidget(self.log_tab if which == "log" else self.charts_tab)
