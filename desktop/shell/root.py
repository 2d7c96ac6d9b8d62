"""The composition root: builds the settings hub and the services, wires them to each other and
to the window's pages, and hands the close flow the one step that joins their threads.

Everything that knows both a service and a page lives here, so the pages stay free of services
(and of Celery) and each service knows no page. ``desktop/app.py`` opens :class:`PooldeskWindow`;
tests do the same and may pass their own services (``controller=``, ``batch_controller=``,
``telemetry=``, ``tasks=``, ``hub=``). Every connection made here is remembered and undone
before the services' threads are joined, so no queued signal reaches a half-destroyed window.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Signal, SignalInstance

from desktop.services.batches import BatchController
from desktop.services.tasks import TasksController
from desktop.services.telemetry import TelemetryController
from desktop.services.workers import WorkerController
from desktop.shell.closing import CloseFlow
from desktop.shell.operations import Operations
from desktop.shell.settings_hub import SettingsHub
from desktop.shell.tray import Tray
from desktop.views.main_window import MainWindow
from desktop.views.metrics_toggle import MetricsToggle
from desktop.views.tasks_page import TasksPage

log = logging.getLogger(__name__)


class PooldeskWindow(MainWindow):
    """The main window (navigation) with Pooldesk's services wired in."""

    # Requests to the worker service: emitted here (GUI thread), run there (its thread).
    startRequested = Signal(object)
    stopRequested = Signal(str)
    stopNowRequested = Signal(str)
    restartRequested = Signal(str, str, int)
    forgetRequested = Signal(str)

    def __init__(
        self,
        controller: WorkerController | None = None,
        batch_controller: BatchController | None = None,
        telemetry: TelemetryController | None = None,
        tasks: TasksController | None = None,
        hub: SettingsHub | None = None,
    ) -> None:
        hub = hub or SettingsHub()
        settings = hub.effective()  # each service is given the settings it runs with
        super().__init__(hub, TasksPage(tasks or TasksController(settings=settings)))
        self.hub = hub
        hub.setParent(self)
        self._connections: list[tuple[SignalInstance, Any]] = []
        self.controller = controller or WorkerController(settings)
        self.batch_controller = batch_controller or BatchController(settings)
        self.telemetry = telemetry or TelemetryController(settings)
        self.operations = Operations(self)
        self.tray = Tray(self)
        self.closing = CloseFlow(
            self,
            self.stopRequested,
            self.stopNowRequested,
            self.controller.operationFinished,
            self._shutdown,
        )
        self.close_guard = self.closing.may_close
        self.metrics_toggle = MetricsToggle(self, hub, self.telemetry)
        self.file_menu.insertAction(self.quit_action, self.metrics_toggle.action)
        self._connect(self.metrics_toggle.message, self.statusBar().showMessage)
        self._wire_settings()
        self._wire_workers()
        self._wire_batches()
        self._wire_overview()
        self._connect(self.batch_controller.batchFinished, self.tray.notify_batch)
        self._connect(self.telemetry.adviceAppeared, self.tray.notify_advice)
        if hub.message:  # the file was unreadable and set aside: said once
            self.operations.finished("settings", "", False, hub.message)
        for service in (self.controller, self.batch_controller, self.telemetry):
            if not service.is_running():
                service.launch()

    @property
    def notified(self) -> SignalInstance:
        """What the tray (or the status bar) just said: (title, text)."""
        return self.tray.notified

    # -- wiring ------------------------------------------------------------------------------
    def _connect(self, signal: SignalInstance, slot: Any) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    def _unwire(self) -> None:
        for signal, slot in reversed(self._connections):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                log.debug("already disconnected: %s", signal)
        self._connections.clear()

    def _wire_settings(self) -> None:
        """The hub pushes the settings to whoever uses them; nobody reads the file itself."""
        self.hub.subscribe(self.show_settings_applied)
        self._connections.append((self.hub.settingsChanged, self.show_settings_applied))
        services = (
            self.controller,
            self.batch_controller,
            self.telemetry,
            self.tasks_page.controller,
        )
        for service in services:  # queued into each service's thread
            self._connect(self.hub.settingsChanged, service.applySettings)

    def _wire_workers(self) -> None:
        c, page = self.controller, self.workers_page
        self._connect(c.workersChanged, page.set_workers)
        self._connect(c.brokerChanged, self.show_broker)
        self._connect(c.operationStarted, self.operations.started)
        self._connect(c.operationFinished, self.operations.finished)
        for request, forward, slot in (
            (page.startRequested, self.startRequested, c.start),
            (page.stopRequested, self.stopRequested, c.stop),
            (page.stopNowRequested, self.stopNowRequested, c.stopNow),
            (page.restartRequested, self.restartRequested, c.restart),
            (page.forgetRequested, self.forgetRequested, c.forget),
        ):
            self._connect(request, forward)
            self._connect(forward, slot)  # queued: the service lives in its thread
        # The detail pane's charts read the same history and LimitHistory as the Overview.
        page.set_chart_sources(self.telemetry.history_columns, self.overview_page.limits)
        for signal, target in (
            (c.logRead, page.detail.set_log),
            (self.telemetry.resourcesSampled, page.set_resources),
            (self.telemetry.eventsChanged, page.set_events),
            # Queued into the service's thread: log reads and broker commands run there.
            (page.detail.logWanted, c.readLog),
            (page.resizeRequested, c.resize),
            (page.remoteResizeRequested, c.remoteResize),
            (page.remoteStopRequested, c.remoteStop),
        ):
            self._connect(signal, target)

    def _wire_batches(self) -> None:
        c, page = self.batch_controller, self.batches_page
        for signal, slot in (
            (c.batchesChanged, page.set_batches),
            (c.batchesChanged, self.overview_page.set_batches),
            (c.childrenChanged, page.set_children),
            (c.customersCounted, page.set_customer_count),
            (c.problemChanged, page.set_problem),
            (c.batchLaunched, page.batch_launched),
            (c.operationStarted, self.operations.started),
            (c.operationFinished, self.operations.finished),
            # Requests: queued, the service lives in its thread.
            (page.launchInvoicesRequested, c.launchInvoices),
            (page.launchMonitoringRequested, c.launchMonitoring),
            (page.cancelRequested, c.cancel),
            (page.retryRequested, c.retry),
            (page.batchSelected, c.selectBatch),
            (page.seedRequested, c.seedDemo),
            (page.customersWanted, c.countCustomers),
        ):
            self._connect(signal, slot)
        page.detail.set_timeline_source(self.telemetry.timeline)

    def _wire_overview(self) -> None:
        t, c, page = self.telemetry, self.controller, self.overview_page
        page.set_history_source(t.history_columns)  # ring buffers, read by the chart timer
        page.set_timeline_source(t.timeline)
        for signal, slot in (
            (t.adviceChanged, page.set_advice),
            (t.fitChanged, page.set_fit),
            (t.adviceChanged, self.banner.set_advice),
            (t.resourcesSampled, page.set_resources),
            (t.eventsChanged, page.set_events),
            (c.brokerChanged, page.set_broker),
            (c.operationFinished, page.fix_finished),
            # Into the telemetry thread (queued): the worker list and broker status it needs,
            # so it does not ask the broker for them a second time.
            (c.workersChanged, t.setWorkers),
            (c.brokerChanged, t.setBroker),
            (self.batch_controller.batchesChanged, t.setBatches),  # the one batch poller
            (page.fixRequested, c.applyFix),  # queued: runs in the service's thread
            (c.workersChanged, self.update_first_run),
        ):
            self._connect(signal, slot)

    # -- closing -----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        """The close flow's last step: no signal reaches the window any more, then each
        service finishes its current call and its thread is joined."""
        self._unwire()
        self.controller.shutdown()
        self.batch_controller.shutdown()
        self.telemetry.shutdown()
        self.tasks_page.shutdown()
