"""The Overview page: the advisor's warnings on top, live charts below, the broker on one line.

Data in: ``set_advice`` / ``set_fit`` (the Pool fit table) / ``set_resources`` / ``set_events``
/ ``set_broker`` / ``set_batches`` (slots the window
connects to the controllers' signals) and a history source (the TelemetryController's
``history_columns``, read by the chart timer at 2 Hz while the page is on screen). Requests out:
``fixRequested(Fix)``, which the window forwards to the WorkerController, and
``batchOpenRequested(batch id)`` from the active-batches strip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.advisor.model import Advice
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot, Span
from pooldesk.desktop.charts import (
    LimitHistory,
    QueueHistory,
    QueueThroughputChart,
    SystemCpuChart,
    SystemRamChart,
    TimeChart,
    WorkerCharts,
)
from pooldesk.desktop.charts.grid import ChartGrid
from pooldesk.desktop.charts.queues import BacklogHistory, QueueBacklogChart
from pooldesk.desktop.charts.window import CHART_MS, History, no_history, window_combo
from pooldesk.desktop.charts.worker import worker_facts
from pooldesk.desktop.formatting import broker_line, broker_tooltip
from pooldesk.desktop.views.active_batches import ActiveBatches
from pooldesk.desktop.views.audit_card import add_audit_card
from pooldesk.desktop.views.first_run import FirstRunCard
from pooldesk.desktop.views.pool_fit import PoolFitTable
from pooldesk.desktop.views.timeline import TimelineDialog
from pooldesk.desktop.views.warnings_panel import WarningsPanel


class OverviewPage(QWidget):
    title = "Overview"
    fixRequested = Signal(object)  # Fix, confirmed by the user
    batchOpenRequested = Signal(str)  # batch id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._history: History = no_history
        self._snapshot: Snapshot | None = None
        self._events: EventSnapshot | None = None
        self._broker: BrokerStatus | None = None

        self.warnings = WarningsPanel()
        self.warnings.fixRequested.connect(self.fixRequested)
        self.first_run = FirstRunCard()  # shown while there is no project and no worker
        self.first_run.setVisible(False)

        self.window_combo = window_combo()
        self.window_combo.currentIndexChanged.connect(self._window_changed)
        self.status_label = QLabel("Broker: connecting…")
        self.status_label.setObjectName("brokerStatus")  # red and bold when down (style.qss)
        self.status_label.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Show the last"))
        controls.addWidget(self.window_combo)
        controls.addSpacing(16)
        controls.addWidget(self.status_label, 1)

        self.pool_fit = PoolFitTable()
        self.pool_fit.fixRequested.connect(self.fixRequested)
        self.pool_fit.timelineRequested.connect(self.show_timeline)
        self._timeline_source: Callable[..., list[Span]] | None = None
        self.timeline_dialog: TimelineDialog | None = None

        self.batches = ActiveBatches()
        self.batches.openRequested.connect(self.batchOpenRequested)

        self.limits = LimitHistory()
        self.queue_history = QueueHistory()
        self.cpu_chart = SystemCpuChart()
        self.ram_chart = SystemRamChart()
        self.queue_chart = QueueThroughputChart(self.queue_history)
        self.backlog = BacklogHistory()
        self.backlog_chart = QueueBacklogChart(self.backlog)
        self.worker_charts = WorkerCharts(self.limits)
        self.worker_combo = QComboBox()
        self.worker_combo.setMinimumContentsLength(12)
        self.worker_combo.setPlaceholderText("no local worker running")
        self.worker_combo.currentIndexChanged.connect(self._worker_changed)
        self.worker_caption = QLabel()
        self.worker_caption.setObjectName("hint")
        worker_label = _section("Worker")
        worker_label.setBuddy(self.worker_combo)
        self.worker_combo.setAccessibleName("Worker whose charts are shown")
        worker_row = QHBoxLayout()
        worker_row.setSpacing(8)  # the label no longer touches its dropdown (issue 22)
        worker_row.addWidget(worker_label)
        worker_row.addWidget(self.worker_combo)
        worker_row.addSpacing(8)
        worker_row.addWidget(self.worker_caption, 1)
        self.worker_caption.setWordWrap(True)

        # Three charts side by side on a desktop, one above the other at 1024 px (grid.py).
        self.system_charts = ChartGrid(
            [self.cpu_chart, self.ram_chart, self.queue_chart, self.backlog_chart]
        )
        # Whose machine the System CPU and memory charts show: this machine or a fleet host
        # (its agent's samples); shown once a host is heard.
        self.host_combo = QComboBox()
        self.host_combo.addItem("This machine", "")
        self.host_combo.setAccessibleName("Machine whose CPU and memory are charted")
        self.host_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.host_combo.currentIndexChanged.connect(self._host_changed)
        self._host_source: Callable[[str], History] | None = None
        host_label = QLabel("&Machine:")
        host_label.setBuddy(self.host_combo)
        self._host_widgets = (host_label, self.host_combo)
        machine_row = QHBoxLayout()
        machine_row.setSpacing(8)
        machine_row.addWidget(_section("Machine and queues"))
        machine_row.addStretch(1)
        for widget in self._host_widgets:
            machine_row.addWidget(widget)
            widget.setVisible(False)
        grid = QVBoxLayout()
        grid.setSpacing(6)
        grid.addLayout(machine_row)
        grid.addWidget(self.system_charts, 1)
        grid.addLayout(worker_row)
        grid.addWidget(self.worker_charts, 1)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(10)
        layout.addWidget(self.first_run)
        layout.addWidget(self.warnings)
        self.audit_card = add_audit_card(layout)  # the configuration audit, in one line
        layout.addLayout(controls)
        layout.addWidget(_section("Pool fit: what each queue's tasks measure"))
        layout.addWidget(self.pool_fit)
        layout.addWidget(_section("Batches"))
        layout.addWidget(self.batches)
        layout.addLayout(grid, 1)
        self.scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # No sideways scrolling from 1024 px up: everything on the page wraps, elides or
        # reflows to the width (tests/desktop/test_fits_screen.py checks the scrollbar).
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        self.chart_timer = QTimer(self)
        self.chart_timer.setInterval(CHART_MS)
        self.chart_timer.timeout.connect(self.refresh_charts)
        self._window_changed()

    def chart_columns(self) -> int:
        """How many of the machine charts sit side by side (1 on a 1024-px screen)."""
        return self.system_charts.columns

    def charts(self) -> list[TimeChart]:
        return [
            self.cpu_chart,
            self.ram_chart,
            self.queue_chart,
            self.backlog_chart,
            *self.worker_charts.charts(),
        ]

    # -- data in -----------------------------------------------------------------------------
    def set_history_source(self, history: History) -> None:
        self._history = history

    def set_first_run(self, first: bool) -> None:
        """No project, no worker: offer the ways in instead of claiming all is well."""
        self.first_run.setVisible(first)
        self.warnings.setVisible(not first)

    def set_advice(self, advice: list[Advice]) -> None:
        self.warnings.set_advice(advice)

    def set_fit(self, rows: list[QueueFit]) -> None:
        self.pool_fit.set_rows(rows)

    def set_timeline_source(self, source: Callable[..., list[Span]]) -> None:
        """``source(prefix=None, queue=None)``: task runs for the timeline (any thread)."""
        self._timeline_source = source

    def show_timeline(self, queue: str) -> None:
        source = self._timeline_source
        if source is None:
            return
        if self.timeline_dialog is not None:
            self.timeline_dialog.close()
        self.timeline_dialog = TimelineDialog(
            f"Queue {queue}: recent runs", lambda: source(queue=queue), self
        )
        self.timeline_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.timeline_dialog.destroyed.connect(self._timeline_closed)
        self.timeline_dialog.show()

    def _timeline_closed(self) -> None:
        self.timeline_dialog = None

    def fix_finished(self, op: str, _name: str, ok: bool, _message: str) -> None:
        if op == "fix":
            self.warnings.fix_finished(ok)

    def set_resources(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self.limits.record(snapshot)
        self.queue_history.tick(snapshot.timestamp)  # here, not in the chart timer: no gaps
        self.worker_charts.set_cores(len(snapshot.system.per_cpu) or 1)
        names = sorted(snapshot.workers)
        known = [self.worker_combo.itemData(i) for i in range(self.worker_combo.count())]
        for name in names:
            if name not in known:  # kept when the worker stops: its history stays readable
                self.worker_combo.addItem(name, name)
        if self.worker_combo.currentIndex() < 0 and names:
            self.worker_combo.setCurrentIndex(self.worker_combo.findData(names[0]))
        self._update_caption()

    def set_events(self, snapshot: EventSnapshot) -> None:
        self._events = snapshot
        self.queue_history.observe(snapshot)
        self.limits.record_loop(snapshot)  # shared with the Workers page's detail pane
        self._update_status()

    def set_broker(self, status: BrokerStatus) -> None:
        self._broker = status
        if status.up:
            self.backlog.record(status.queues)
        self._update_status()

    def set_project_brokers(self, found: list[tuple[str, BrokerStatus]]) -> None:
        """Each project's own broker: its queues' backlog on the backlog chart."""
        for project, status in found:
            if status.up:
                self.backlog.record(status.queues, broker=project)

    def set_batches(self, records: list[BatchRecord]) -> None:
        self.batches.set_batches(records)

    def select_worker(self, name: str) -> bool:
        index = self.worker_combo.findData(name)
        if index >= 0:
            self.worker_combo.setCurrentIndex(index)
        return index >= 0

    # -- the fleet's hosts ---------------------------------------------------------------------
    def set_host_source(self, source: Callable[[str], History]) -> None:
        """``source(host)``: a history source of that host's samples (the fleet service's)."""
        self._host_source = source

    def set_hosts(self, rows: list[dict[str, Any]]) -> None:
        """The fleet's hosts: each can be picked for the machine charts."""
        for row in rows:
            name = str(row.get("name", ""))
            if name and self.host_combo.findData(name) < 0:
                self.host_combo.addItem(name, name)
            index = self.host_combo.findData(name)
            if index >= 0:
                cores = row.get("cores")
                state = "agent online" if row.get("online") else "agent offline"
                tip = f"{state}, {cores} cores" if cores else state
                self.host_combo.setItemData(index, tip, Qt.ItemDataRole.ToolTipRole)
        for widget in self._host_widgets:
            widget.setVisible(self.host_combo.count() > 1)

    def machine(self) -> str:
        """ "" for this machine, else the fleet host whose charts are shown."""
        return str(self.host_combo.currentData() or "")

    def select_machine(self, host: str) -> bool:
        index = self.host_combo.findData(host)
        if index >= 0:
            self.host_combo.setCurrentIndex(index)
        return index >= 0

    def _machine_history(self) -> History:
        host = self.machine()
        if not host or self._host_source is None:
            return self._history
        return self._host_source(host)

    def _host_changed(self, _index: int = 0) -> None:
        host = self.machine()
        suffix = f" · {host}" if host else ""
        for chart in (self.cpu_chart, self.ram_chart):
            chart.clear_series()
            chart.title_label.setText(chart.title + suffix)
        self.refresh_charts()

    # -- charts ------------------------------------------------------------------------------
    def refresh_charts(self) -> None:
        now = time.time()
        machine = self._machine_history()
        self.cpu_chart.refresh(machine, now)
        self.ram_chart.refresh(machine, now)
        self.queue_chart.refresh(now)
        self.backlog_chart.refresh(now)
        self.worker_charts.refresh(self._history, now)

    def window_seconds(self) -> int:
        return int(self.window_combo.currentData())

    def _window_changed(self, _index: int = 0) -> None:
        seconds = self.window_seconds()
        for chart in (self.cpu_chart, self.ram_chart, self.queue_chart, self.backlog_chart):
            chart.set_window(seconds)
        self.worker_charts.set_window(seconds)
        self.refresh_charts()

    def _worker_changed(self, _index: int) -> None:
        self.worker_charts.set_worker(self.worker_combo.currentData())
        self._update_caption()
        self.refresh_charts()

    def _update_caption(self) -> None:
        name = self.worker_combo.currentData()
        facts = worker_facts(self._snapshot, name)
        if facts is None or self._snapshot is None:
            self.worker_caption.setText("not running" if name else "")
            return
        sample = self._snapshot.workers[name]
        shape = f"{sample.pool or '?'} × {sample.concurrency or '?'}"
        self.worker_caption.setText(" · ".join([shape, *facts]))

    def _update_status(self) -> None:
        """One compact line: broker health and backlog, and whether events are flowing (the
        status bar has the broker's URL and memory)."""
        parts = []
        status, events = self._broker, self._events
        if status is not None:
            parts.append(_broker_summary(status))
            self.status_label.setToolTip(broker_tooltip(status))
            state = "up" if status.up else "down"
            if self.status_label.property("state") != state:
                self.status_label.setProperty("state", state)
                self.status_label.style().unpolish(self.status_label)
                self.status_label.style().polish(self.status_label)
        if events is not None and events.connected:
            parts.append(f"events live, lag {events.lag_seconds:.1f} s")
        elif events is not None:
            why = f" ({events.last_error})" if events.last_error else ""
            parts.append(f"events not connected{why}")
        if parts:
            self.status_label.setText(" · ".join(parts))

    # -- lifecycle: draw only while on screen ------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.chart_timer.start()
        # After the page switch has painted: redrawing six charts first made the click feel
        # stuck (measured in bench/gui_responsiveness.py).
        QTimer.singleShot(0, self.refresh_charts)

    def hideEvent(self, event: QHideEvent) -> None:
        self.chart_timer.stop()
        super().hideEvent(event)


def _broker_summary(status: BrokerStatus) -> str:
    if not status.up:
        return broker_line(status)  # "Broker unreachable: …"
    waiting = {q: n for q, n in status.queues.items() if n}
    backlog = ", ".join(f"{q} {n:,} waiting" for q, n in waiting.items()) or "no backlog"
    return f"Broker up ({'managed' if status.managed else 'external'}) · {backlog}"


def _section(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label
