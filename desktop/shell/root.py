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
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, SignalInstance

from pooldesk.backend import paths
from pooldesk.backend.setaside import take
from pooldesk.desktop.settings_hub import SettingsHub
from pooldesk.desktop.views.main_window import MainWindow

if TYPE_CHECKING:
    from pooldesk.desktop.services.audit import AuditController
    from pooldesk.desktop.services.batches import BatchController
    from pooldesk.desktop.services.fleet import FleetController
    from pooldesk.desktop.services.tasks import TasksController
    from pooldesk.desktop.services.telemetry import TelemetryController
    from pooldesk.desktop.services.workers import WorkerController

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
        audit: AuditController | None = None,
        deferred: bool = False,
        fleet: FleetController | None = None,
    ) -> None:
        hub = hub or SettingsHub()
        super().__init__(hub, None)  # the frame only: it can paint before any service exists
        self.hub = hub
        hub.setParent(self)
        self._connections: list[tuple[SignalInstance, Any]] = []
        self._given = (controller, batch_controller, telemetry, tasks, audit)
        self._given_fleet = fleet
        self.attached = False
        if not deferred:
            self.attach()

    def attach(self) -> None:
        """The pages, the services and the wiring between them. ``desktop/app.py`` calls it
        right after the window's first paint (``deferred=True``): Celery, kombu, pyqtgraph
        and the services' threads cost about a second here, and the window is already up."""
        if self.attached or self.closed:
            return
        self.attached = True
        from pooldesk.desktop.services.audit import AuditController
        from pooldesk.desktop.services.batches import BatchController
        from pooldesk.desktop.services.fleet import FleetController
        from pooldesk.desktop.services.tasks import TasksController
        from pooldesk.desktop.services.telemetry import TelemetryController
        from pooldesk.desktop.services.workers import WorkerController
        from pooldesk.desktop.shell.closing import CloseFlow
        from pooldesk.desktop.shell.operations import Operations
        from pooldesk.desktop.shell.tray import Tray
        from pooldesk.desktop.views.metrics_toggle import MetricsToggle
        from pooldesk.desktop.views.tasks_page import TasksPage

        hub = self.hub
        controller, batch_controller, telemetry, tasks, audit = self._given
        settings = hub.effective()  # each service is given the settings it runs with
        self.build_pages(TasksPage(tasks or TasksController(settings=settings)))
        self.controller = controller or WorkerController(settings)
        self.batch_controller = batch_controller or BatchController(settings)
        self.telemetry = telemetry or TelemetryController(settings)
        self.audit = audit or AuditController(settings)
        self.fleet = self._given_fleet or FleetController(settings)
        self.operations = Operations(self)
        self.tray = Tray(self)
        self.closing = CloseFlow(
            self,
            self.running_local_workers,
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
        self._wire()
        for message in take(paths.root_path()):  # files set aside (settings, history): once
            self.operations.finished("settings", "", False, message)
        services = (self.controller, self.batch_controller, self.telemetry, self.audit, self.fleet)
        for service in services:
            if not service.is_running():
                service.launch()

    def _set_aside(self, message: str) -> None:
        self.operations.finished("settings", "", False, message)

    def running_local_workers(self) -> list[str]:
        from pooldesk.desktop.shell.closing import running_local

        return running_local(self.workers_page.model.workers())

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
        self._connect(self.hub.settingsChanged, self.apply_settings)
        self.apply_settings(self.hub.effective())  # the services got theirs when built
        services = (
            self.controller,
            self.batch_controller,
            self.telemetry,
            self.tasks_page.controller,
            self.audit,
            self.fleet,
        )
        for service in services:  # queued into each service's thread
            self._connect(self.hub.settingsChanged, service.applySettings)

    def _wire(self) -> None:
        """Every service signal to the page slot that shows it, and every page request to the
        service slot that runs it (queued: each service lives in its own thread)."""
        c, b, t = self.controller, self.batch_controller, self.telemetry
        workers, batches, overview = self.workers_page, self.batches_page, self.overview_page
        from pooldesk.desktop.shell.fleet_wiring import FixRouter, WorkerMerge

        self.merge = WorkerMerge(self)
        self.fixes = FixRouter(self.merge, self)
        for request, forward, slot in (
            (workers.startRequested, self.startRequested, c.start),
            (workers.stopRequested, self.stopRequested, c.stop),
            (workers.stopNowRequested, self.stopNowRequested, c.stopNow),
            (workers.restartRequested, self.restartRequested, c.restart),
            (workers.forgetRequested, self.forgetRequested, c.forget),
        ):
            self._connect(request, forward)
            self._connect(forward, slot)
        # The charts read the telemetry's ring buffers on their own timers (no signal).
        workers.set_chart_sources(t.history_columns, overview.limits)
        batches.detail.set_timeline_source(t.timeline)
        overview.set_history_source(t.history_columns)
        overview.set_timeline_source(t.timeline)
        # Each signal with every slot it feeds; requests from a page run in the service's
        # thread (queued), everything else lands in the GUI thread.
        routes: list[tuple[Any, ...]] = [
            (c.workersChanged, self.merge.set_local),  # with the fleet's: _wire_fleet
            (
                self.merge.workersChanged,
                workers.set_workers,
                self.update_first_run,
                t.setWorkers,
                batches.set_workers,
            ),
            (c.brokerChanged, self.broker_line.show_status, overview.set_broker, t.setBroker),
            (c.projectBrokersChanged, self.broker_line.show_projects, overview.set_project_brokers),
            (c.operationStarted, self.operations.started),
            (c.operationFinished, self.operations.finished, overview.fix_finished, t.fixFinished),
            (c.logRead, workers.detail.set_log),
            # The one batch poller: the advisor gets the running batches from it too.
            (b.batchesChanged, batches.set_batches, overview.set_batches, t.setBatches),
            (b.childrenChanged, batches.set_children),
            (b.customersCounted, batches.set_customer_count),
            (b.problemChanged, batches.set_problem),
            (b.batchLaunched, batches.batch_launched),
            (b.operationStarted, self.operations.started),
            (b.operationFinished, self.operations.finished),
            (b.batchFinished, self.tray.notify_batch),
            (b.projectsListed, batches.set_projects),
            (b.projectPlanned, batches.set_project_plan),
            (t.adviceChanged, overview.set_advice, self.banner.set_advice),
            (t.adviceAppeared, self.tray.notify_advice),
            (t.fixMeasured, self.tray.notify),
            (t.fitChanged, overview.set_fit, workers.set_fit, batches.set_fit),
            (t.resourcesSampled, overview.set_resources, workers.set_resources),
            (t.eventsChanged, overview.set_events, workers.set_events),
            (self.tasks_page.controller.setAside, self._set_aside),
        ]
        worker_requests = [
            (workers.detail.logWanted, c.readLog),
            (workers.resizeRequested, c.resize),
            (workers.remoteResizeRequested, c.remoteResize),
            (workers.remoteStopRequested, c.remoteStop),
            (overview.fixRequested, self.fixes.route),  # here or on a fleet host
            (overview.fixRequested, t.noteFix),  # its before figures, for before/after
            (batches.fixRequested, self.fixes.route),  # Launch batch…'s "Fix the pool first…"
            (batches.fixRequested, t.noteFix),
            (self.fixes.localFix, c.applyFix),
        ]
        batch_requests = [
            (batches.launchInvoicesRequested, b.launchInvoices),
            (batches.launchMonitoringRequested, b.launchMonitoring),
            (batches.cancelRequested, b.cancel),
            (batches.retryRequested, b.retry),
            (batches.batchSelected, b.selectBatch),
            (batches.seedRequested, b.seedDemo),
            (batches.customersWanted, b.countCustomers),
            (batches.projectsWanted, b.listProjects),
            (batches.projectPlanRequested, b.planProject),
            (batches.launchProjectRequested, b.launchProject),
        ]
        for signal, *slots in [*routes, *worker_requests, *batch_requests]:
            for slot in slots:
                self._connect(signal, slot)
        self._wire_audit()
        self._wire_fleet()

    def _wire_fleet(self) -> None:
        """The fleet service: hosts to the Workers filter, the Start dialog, the presets' Host
        column, the project dialog's Host and the Overview's machine switch; other hosts'
        workers into the one list; their requests (and the host projects') to it."""
        f, workers, overview = self.fleet, self.workers_page, self.overview_page
        projects = self.settings_page.projects_section
        overview.set_host_source(f.history.source)
        self.telemetry.attach_events(f.registry.relayed)  # host projects' own brokers, relayed
        for signal, *slots in (
            (
                f.hostsChanged,
                workers.set_hosts,
                overview.set_hosts,
                self.settings_page.presets_section.set_hosts,  # a preset's Host choice
                projects.set_hosts,  # a project's Host choice
            ),
            (f.workersChanged, self.merge.set_fleet),
            (f.backlogChanged, self.broker_line.show_host_projects, overview.set_project_brokers),
            (f.commandBlock, workers.set_fleet_block, projects.set_fleet_block),
            (projects.hostRequested, f.project),  # add, check, remove by its host's agent
            (f.projectReplied, projects.host_replied),
            (f.operationStarted, self.operations.started),
            (
                f.operationFinished,
                self.operations.finished,
                self.overview_page.fix_finished,
                self.telemetry.fixFinished,
            ),
            (f.logRead, workers.detail.set_log),
            (workers.hostStartRequested, f.start),
            (workers.hostStopRequested, f.stop),
            (workers.hostStopNowRequested, f.stopNow),
            (workers.hostRestartRequested, f.restart),
            (workers.hostResizeRequested, f.resize),
            (workers.hostForgetRequested, f.forget),
            (workers.detail.hostLogWanted, f.readLog),
            (self.fixes.hostFix, f.applyFix),
        ):
            for slot in slots:
                self._connect(signal, slot)

    def _wire_audit(self) -> None:
        """The configuration audit: reports to the Audit page and the Overview's card; the
        telemetry's observations (memory growth) to the audit; Refresh to the service."""
        a = self.audit
        self._connect(a.reportsChanged, self.audit_page.show_reports)
        self._connect(a.reportsChanged, self.overview_page.audit_card.show_reports)
        self._connect(a.reportsChanged, self.telemetry.setAudit)  # the Prometheus gauge
        self._connect(self.audit_page.refreshRequested, a.refresh)
        self._connect(self.telemetry.observationsChanged, a.setObservations)

    # -- closing -----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        """The close flow's last step: no signal reaches the window any more, then each
        service finishes its current call and its thread is joined."""
        self._unwire()
        self.controller.shutdown()
        self.batch_controller.shutdown()
        self.telemetry.shutdown()
        self.audit.shutdown()
        self.fleet.shutdown()
        self.tasks_page.shutdown()
