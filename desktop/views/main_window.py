"""The main window: pages in a stack, their actions in the menu and toolbar, a status bar.

It wires the controller (backend, in its own thread) to the pages (models and widgets) with
queued signals, keeps the list of those connections, and undoes them before the controller's
thread is joined on close. Pages: Overview (warnings and charts, fed by the telemetry
controller), Workers and Batches, each with its own controller thread; more are added with
``add_page``. A warnings banner above the pages shows the advisor's worst warning everywhere.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtCore import QEvent, QSettings, QSize, Qt, Signal, SignalInstance
from PySide6.QtGui import QAction, QCloseEvent, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QSystemTrayIcon,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from backend import paths
from backend import settings as settings_mod
from backend.broker.status import BrokerStatus
from backend.projects.store import ProjectStore
from desktop import presets as presets_mod
from desktop import resources
from desktop.services.batches import BatchController
from desktop.services.workers import WorkerController
from desktop.formatting import broker_line, broker_tooltip
from desktop.models.batches_model import done_total, duration, unit_of
from desktop.services.telemetry import TelemetryController
from desktop.views.batches_page import BatchesPage
from desktop.views.metrics_toggle import MetricsToggle
from desktop.views.overview_page import OverviewPage
from desktop.views.settings_page import SettingsPage
from desktop.views.tasks_page import TasksPage
from desktop.views.warnings_panel import WarningsBanner
from desktop.views.workers_page import WorkersPage

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000
NAV_ICON = 20  # px, the sidebar's page icons
VERBS = {
    "start": "Starting",
    "stop": "Stopping",
    "stop now": "Not waiting for the running tasks of",
    "restart": "Restarting",
    "forget": "Forgetting",
    "resize": "Resizing",
    "fix": "Applying the fix to",
}
RUNNING = ("starting", "online", "stopping")
# How closing the window treats running workers: "ask" (a question, the default), "leave" or
# "stop". Tests set "leave" (tests/conftest.py) where nobody could answer.
CLOSE_ANSWER_ENV = "POOLDESK_CLOSE_ANSWER"


class MainWindow(QMainWindow):
    # Requests to the controller: emitted here (GUI thread), run there (its thread).
    startRequested = Signal(object)
    stopRequested = Signal(str)
    stopNowRequested = Signal(str)
    restartRequested = Signal(str, str, int)
    forgetRequested = Signal(str)
    notified = Signal(str, str)  # title, text: what the tray (or the status bar) just said

    def __init__(
        self,
        controller: WorkerController | None = None,
        batch_controller: BatchController | None = None,
        telemetry: TelemetryController | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("Pooldesk")
        self.setWindowIcon(resources.app_icon())
        self._connections: list[tuple[SignalInstance, Any]] = []
        self._closed = False
        self._quit_confirmed = False
        self._stopping_for_close: set[str] = set()
        self.close_box: QMessageBox | None = None
        self.close_progress: QProgressDialog | None = None
        self.close_answer = os.environ.get(CLOSE_ANSWER_ENV) or "ask"
        self.last_broker: BrokerStatus | None = None

        # The sidebar (styled in style.qss, QListWidget#navigation) runs the full height on
        # the left; the warnings banner sits above the pages, to its right.
        self.nav = QListWidget()
        self.nav.setObjectName("navigation")
        self.nav.setFrameShape(QFrame.Shape.NoFrame)
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setIconSize(QSize(NAV_ICON, NAV_ICON))
        self.nav.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        nav_font = self.nav.font()
        nav_font.setPointSizeF(nav_font.pointSizeF() * 1.1)  # relative: follows the system size
        self.nav.setFont(nav_font)
        self.pages = QStackedWidget()
        self.banner = WarningsBanner()
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.nav)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.pages, 1)
        row.addLayout(column, 1)
        self.setCentralWidget(central)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.currentRowChanged.connect(self._page_changed)

        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        # Shown only while the current page has actions (no empty band on Overview, Settings);
        # so not offered in the context menu either, where hiding it would be undone anyway.
        self.toolbar.toggleViewAction().setVisible(False)
        self.addToolBar(self.toolbar)

        self.broker_dot = QLabel()
        self.broker_label = QLabel("Broker: connecting…")
        self.broker_label.setObjectName("brokerStatus")
        self.broker_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.statusBar().addPermanentWidget(self.broker_dot)
        self.statusBar().addPermanentWidget(self.broker_label)

        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        quit_action.triggered.connect(self.close)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.settings_action.triggered.connect(self._show_settings)
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)

        self.overview_page = OverviewPage()
        self.add_page(self.overview_page, "&Overview")
        self.workers_page = WorkersPage()
        self.add_page(self.workers_page, "&Workers")
        self.batches_page = BatchesPage()
        self.add_page(self.batches_page, "&Batches")
        self.tasks_page = TasksPage()  # owns its TasksController thread (task history)
        self.add_page(self.tasks_page, "&Tasks")
        self.settings_page = SettingsPage()
        self.add_page(self.settings_page, "&Settings")
        self.settings_page.saved.connect(self._settings_saved)
        self._load_presets()
        about = QAction("&About Pooldesk", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)
        self.menuBar().addMenu("&Help").addAction(about)

        self._restore_geometry()
        self.controller = controller or WorkerController()
        self.batch_controller = batch_controller or BatchController()
        self.telemetry = telemetry or TelemetryController()
        self._wire()
        self._wire_batches()
        self._wire_overview()
        self.metrics_toggle = MetricsToggle(self, self.telemetry)
        file_menu.insertAction(quit_action, self.metrics_toggle.action)
        self._connect(self.metrics_toggle.message, self.statusBar().showMessage)
        self.tray = self._make_tray()
        self._connect(self.batch_controller.batchFinished, self._notify_batch)
        self._connect(self.telemetry.adviceAppeared, self._notify_advice)
        for worker in (self.controller, self.batch_controller, self.telemetry):
            if not worker.is_running():
                worker.launch()

    # -- structure ---------------------------------------------------------------------------
    def add_page(self, page: QWidget, menu_title: str) -> None:
        """A page with its own actions (``actions_for_menu``) gets a menu; the toolbar shows the
        current page's ``actions_for_toolbar`` (default: the menu's), so no page's buttons act
        while another page is on screen."""
        self.pages.addWidget(page)
        title = getattr(page, "title", menu_title.replace("&", ""))
        item = QListWidgetItem(title)
        item.setIcon(resources.page_icon(title.lower()))
        self.nav.addItem(item)
        self._fit_nav()
        self.nav.setVisible(self.nav.count() > 1)  # one page: no navigation to show
        if self.nav.currentRow() < 0:
            self.nav.setCurrentRow(0)
        actions = page.actions_for_menu() if hasattr(page, "actions_for_menu") else []
        if actions:
            menu = self.menuBar().addMenu(menu_title)
            menu.addActions(actions)

    def _page_changed(self, row: int) -> None:
        page = self.pages.widget(row)
        self.banner.set_suppressed(page is getattr(self, "overview_page", None))
        self.toolbar.clear()  # removes the buttons; the actions belong to their pages
        for name in ("actions_for_toolbar", "actions_for_menu"):
            if hasattr(page, name):
                actions = getattr(page, name)()
                self.toolbar.addActions(actions)
                for action in actions:  # "Start from preset ▾": one click opens the list
                    button = self.toolbar.widgetForAction(action)
                    if action.menu() is not None and isinstance(button, QToolButton):
                        # The arrow beside the label (style.qss: QToolButton[popupMode="2"]).
                        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
                        button.style().unpolish(button)  # re-match the [popupMode] rule
                        button.style().polish(button)
                break
        self._update_toolbar()

    def _update_toolbar(self) -> None:
        """No empty band: the toolbar shows only while the current page put actions on it."""
        self.toolbar.setVisible(bool(self.toolbar.actions()))

    def _fit_nav(self) -> None:
        """The sidebar as wide as its longest label (with icon and padding), never narrower
        than a comfortable minimum; it does not stretch with the window."""
        metrics = QFontMetrics(self.nav.font())
        longest = max(
            (metrics.horizontalAdvance(self.nav.item(r).text()) for r in range(self.nav.count())),
            default=0,
        )
        # icon + gap + the item's padding and margins in style.qss (12 + 12, 6 + 6) + slack
        self.nav.setFixedWidth(max(150, longest + NAV_ICON + 10 + 24 + 12 + 16))

    def _refresh_nav_icons(self) -> None:
        for row in range(self.nav.count()):
            item = self.nav.item(row)
            item.setIcon(resources.page_icon(item.text().lower()))

    def _connect(self, signal: SignalInstance, slot: Any) -> None:
        signal.connect(slot)
        self._connections.append((signal, slot))

    def _wire(self) -> None:
        c, page = self.controller, self.workers_page
        self._connect(c.workersChanged, page.set_workers)
        self._connect(c.brokerChanged, self._show_broker)
        self._connect(c.operationStarted, self._operation_started)
        self._connect(c.operationFinished, self._operation_finished)
        for request, forward, slot in (
            (page.startRequested, self.startRequested, c.start),
            (page.stopRequested, self.stopRequested, c.stop),
            (page.stopNowRequested, self.stopNowRequested, c.stopNow),
            (page.restartRequested, self.restartRequested, c.restart),
            (page.forgetRequested, self.forgetRequested, c.forget),
        ):
            self._connect(request, forward)
            self._connect(forward, slot)  # queued: the controller lives in its thread
        # The detail pane's charts read the same history and LimitHistory as the Overview.
        page.set_chart_sources(self.telemetry.history_columns, self.overview_page.limits)
        for signal, target in (
            (c.logRead, page.detail.set_log),
            (self.telemetry.resourcesSampled, page.set_resources),
            (self.telemetry.eventsChanged, page.set_events),
            # Queued into the controller's thread: log reads and broker commands run there.
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
            (c.operationStarted, self._batch_operation_started),
            (c.operationFinished, self._batch_operation_finished),
            # Requests: queued, the controller lives in its thread.
            (page.launchInvoicesRequested, c.launchInvoices),
            (page.launchMonitoringRequested, c.launchMonitoring),
            (page.cancelRequested, c.cancel),
            (page.retryRequested, c.retry),
            (page.batchSelected, c.selectBatch),
            (page.seedRequested, c.seedDemo),
            (page.customersWanted, c.countCustomers),
        ):
            self._connect(signal, slot)
        for action in (page.launch_invoices_action, page.launch_monitoring_action):
            self._connect(action.triggered, self._show_batches)
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
            (self.banner.showRequested, self._show_overview),
            (page.batchOpenRequested, self._open_batch),
            # Into the telemetry thread (queued): the worker list and broker status it needs,
            # so it does not ask the broker for them a second time.
            (c.workersChanged, t.setWorkers),
            (c.brokerChanged, t.setBroker),
            (page.fixRequested, c.applyFix),  # queued: runs in the controller's thread
            (c.workersChanged, self._update_first_run),
            (page.first_run.addProjectRequested, self._add_project),
            (page.first_run.demoRequested, self._try_demo),
            (self.settings_page.projects_section.changed, self._update_first_run),
        ):
            self._connect(signal, slot)

    # -- first run: no project, no worker ----------------------------------------------------
    def _update_first_run(self, workers: list[Any] | None = None) -> None:
        if workers is not None:
            self._any_worker = bool(workers)
        first = not getattr(self, "_any_worker", True) and not ProjectStore().names()
        self.overview_page.set_first_run(first)

    def _add_project(self) -> None:
        self._show_settings()
        self.settings_page.projects_section.open_add()

    def _try_demo(self) -> None:
        """The demo presets, each started once; then the Workers page shows them coming up."""
        for index in range(len(self.workers_page.presets)):
            self.workers_page.start_preset(index)
        self.nav.setCurrentRow(self.pages.indexOf(self.workers_page))

    def _show_overview(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.overview_page))

    def _show_batches(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.batches_page))

    def _open_batch(self, batch_id: str) -> None:
        self._show_batches()
        self.batches_page.select(batch_id)

    def _show_settings(self) -> None:
        self.nav.setCurrentRow(self.pages.indexOf(self.settings_page))

    # -- presets -----------------------------------------------------------------------------
    def _load_presets(self) -> None:
        """A small file read; a corrupt file is reported (and set aside) by the controller."""
        try:
            configured = settings_mod.load().settings.presets
        except Exception:
            log.exception("reading the presets failed")
            configured = []
        self.workers_page.set_presets(presets_mod.effective_presets(configured))

    def _settings_saved(self, settings: settings_mod.Settings) -> None:
        self.workers_page.set_presets(presets_mod.effective_presets(settings.presets))
        self.statusBar().showMessage("Settings saved.", MESSAGE_MS)

    # -- tray --------------------------------------------------------------------------------
    def _make_tray(self) -> QSystemTrayIcon | None:
        """A tray icon where the desktop has a tray (the offscreen platform has none)."""
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return None
        tray = QSystemTrayIcon(resources.app_icon(), self)
        tray.setToolTip("Pooldesk")
        tray.activated.connect(self._tray_activated)
        tray.show()
        return tray

    def _tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.showNormal()
            self.raise_()
            self.activateWindow()

    def _notify(self, title: str, text: str, warning: bool = False) -> None:
        """A tray balloon where the desktop has a tray; without one, the status bar says it
        (a batch that ends while the window is open is never silent)."""
        if self.tray is not None and QSystemTrayIcon.supportsMessages():
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if warning
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.tray.showMessage(title, text, icon, MESSAGE_MS)
        else:
            self.statusBar().showMessage(f"{title}: {text}", MESSAGE_MS)
        self.notified.emit(title, text)

    def _notify_batch(self, record: Any) -> None:
        """``Invoices batch 4fc19784 completed`` — ``12/12 chunks, 0 failed, in 46 s.``"""
        state = str(getattr(record, "state", "")).replace("_", " ")
        kind = str(getattr(record, "kind", "batch")).capitalize()
        counts = getattr(record, "counts", None) or {}
        detail = f"Batch {getattr(record, 'id', '')} is {state}."
        if counts.get("total"):
            done, total = done_total(record)
            began, ended = getattr(record, "started_at", None), getattr(record, "finished_at", None)
            took = f", in {duration(ended - began)}" if began and ended else ""
            failed = int(counts.get("failed", 0))
            detail = f"{done:,}/{total:,} {unit_of(record)}, {failed:,} failed{took}."
        self._notify(
            f"{kind} batch {str(getattr(record, 'id', ''))[:8]} {state}",
            detail,
            warning=state not in ("completed",),
        )

    def _notify_advice(self, appeared: list[Any]) -> None:
        serious = [a for a in appeared if getattr(a, "severity", "") in ("warning", "critical")]
        if serious:
            first = serious[0]
            more = f" (+{len(serious) - 1} more)" if len(serious) > 1 else ""
            self._notify(f"Pooldesk: {first.title}{more}", first.text, warning=True)

    def _unwire(self) -> None:
        for signal, slot in reversed(self._connections):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                log.debug("already disconnected: %s", signal)
        self._connections.clear()

    # -- controller → window -----------------------------------------------------------------
    def _show_broker(self, status: BrokerStatus) -> None:
        self.last_broker = status
        self.broker_label.setText(broker_line(status))
        self.broker_label.setToolTip(broker_tooltip(status))
        state = "up" if status.up else "down"
        colour = resources.state_color("online" if status.up else "crashed").name()
        self.broker_dot.setPixmap(resources.dot(colour).pixmap(10, 10))
        if self.broker_label.property("state") != state:
            self.broker_label.setProperty("state", state)
            self.broker_label.style().unpolish(self.broker_label)
            self.broker_label.style().polish(self.broker_label)

    def _operation_started(self, op: str, name: str) -> None:
        self.statusBar().showMessage(f"{VERBS.get(op, op.capitalize())} {name}…")

    def _operation_finished(self, op: str, name: str, ok: bool, message: str) -> None:
        summary = message.partition("\n\n")[0]
        self.statusBar().showMessage(summary, MESSAGE_MS)
        if not ok:
            log.warning("%s %s failed: %s", op, name, message)
            self.show_problem(f"Could not {op} {name}".strip() if name else summary, message)

    def _batch_operation_started(self, _op: str, doing: str) -> None:
        self.statusBar().showMessage(doing)

    def _batch_operation_finished(self, op: str, ok: bool, message: str) -> None:
        self.statusBar().showMessage(message.partition("\n\n")[0], MESSAGE_MS)
        if not ok:
            log.warning("batch %s failed: %s", op, message)
            title = {
                "launch": "Could not launch the batch",
                "seed": "Could not seed demo data",
                "history": "Batch history",
            }
            self.show_problem(title.get(op, f"Could not {op} the batch"), message)

    def show_problem(self, title: str, message: str) -> None:
        """A non-blocking warning box: the summary, and any detail (log lines) behind a button."""
        summary, _, detail = message.partition("\n\n")
        box = QMessageBox(QMessageBox.Icon.Warning, "Pooldesk", title, parent=self)
        box.setInformativeText(summary if summary != title else "")
        if detail:
            box.setDetailedText(detail)
            reason = _last_meaningful_line(detail)
            if reason:
                box.setInformativeText(f"{summary}\n\n{reason}")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)  # no Python reference kept
        box.open()

    def open_messages(self) -> list[QMessageBox]:
        return [box for box in self.findChildren(QMessageBox) if box.isVisible()]

    def _about(self) -> None:
        from desktop.views.about_dialog import AboutDialog

        dialog = AboutDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    # -- lifecycle ---------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            resources.follow_palette(QApplication.instance())
            self._refresh_nav_icons()  # drawn in the palette's text colours
        super().changeEvent(event)

    def running_local_workers(self) -> list[str]:
        return [
            w.name for w in self.workers_page.model.workers() if not w.remote and w.state in RUNNING
        ]

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and not self._quit_confirmed:
            if self._stopping_for_close:  # already stopping: wait for it
                event.ignore()
                return
            running = self.running_local_workers()
            answer = self.close_answer if running else "leave"
            if answer == "ask":
                event.ignore()
                self._ask_before_closing(running)
                return
            if answer == "stop":
                event.ignore()
                self._stop_then_close(running)
                return
        if not self._closed:
            self._closed = True
            self._save_geometry()
            self.statusBar().showMessage("Closing…")
            self._unwire()
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self.controller.shutdown()  # waits for the current call, then joins the thread
                self.batch_controller.shutdown()
                self.telemetry.shutdown()
                self.tasks_page.shutdown()
            finally:
                QApplication.restoreOverrideCursor()
        super().closeEvent(event)

    def _ask_before_closing(self, running: list[str]) -> None:
        """Window-modal and non-blocking (``open``): the event loop keeps running meanwhile."""
        if self.close_box is not None:
            self.close_box.raise_()
            return
        names = ", ".join(running[:5]) + (
            f" and {len(running) - 5} more" if len(running) > 5 else ""
        )
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Pooldesk",
            f"{len(running)} worker{'s' if len(running) != 1 else ''} still running: {names}.",
            parent=self,
        )
        box.setInformativeText(
            "Leave them running (Pooldesk adopts them the next time it starts), or stop them "
            "(warm: running tasks finish first) before quitting?"
        )
        box.setObjectName("closeQuestion")
        leave = box.addButton("&Leave running", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("&Stop workers", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(leave)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(self._close_answered)
        self.close_box = box
        box.open()

    def close_question_button(self, which: str) -> QPushButton | None:
        """The open close question's ``leave``, ``stop`` or ``cancel`` button (for tests)."""
        if self.close_box is None:
            return None
        texts = {"leave": "&Leave running", "stop": "&Stop workers"}
        for button in self.close_box.buttons():
            if which == "cancel" and self.close_box.standardButton(button) == (
                QMessageBox.StandardButton.Cancel
            ):
                return button if isinstance(button, QPushButton) else None
            if button.text() == texts.get(which) and isinstance(button, QPushButton):
                return button
        return None

    def _close_answered(self, _result: int) -> None:
        box, self.close_box = self.close_box, None
        if box is None:
            return
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is None or box.standardButton(clicked) == QMessageBox.StandardButton.Cancel:
            return
        if box.buttonRole(clicked) == QMessageBox.ButtonRole.DestructiveRole:
            self._stop_then_close(self.running_local_workers())
        else:
            self._quit_confirmed = True
            self.close()

    def _stop_then_close(self, names: list[str]) -> None:
        """Stop each worker through the controller (its thread), then close; the window stays
        responsive meanwhile and a progress dialog says what is happening."""
        if not names:
            self._quit_confirmed = True
            self.close()
            return
        self._stopping_for_close = set(names)
        progress = QProgressDialog(
            f"Stopping {len(names)} worker{'s' if len(names) != 1 else ''}…",
            "",
            0,
            len(names),
            self,
        )
        # "Stop now" instead of Cancel: closing was asked for; what can be cut short is the
        # wait for running tasks (they return to the queue). Qt's own canceled → cancel()
        # connection would hide the dialog, so it is replaced.
        progress.setCancelButtonText("Stop &now")
        progress.canceled.disconnect()
        progress.canceled.connect(self._stop_now_for_close)
        progress.setWindowTitle("Pooldesk")
        progress.setWindowModality(Qt.WindowModality.WindowModal)
        progress.setMinimumDuration(0)
        progress.setValue(0)
        self.close_progress = progress
        progress.show()
        self.controller.operationFinished.connect(self._stopped_for_close)
        for name in names:
            self.stopRequested.emit(name)

    def _stop_now_for_close(self) -> None:
        progress = self.close_progress
        if progress is not None:
            progress.setLabelText("Stopping now: running tasks go back to the queue…")
            button = progress.findChild(QPushButton)
            if button is not None:
                button.setEnabled(False)
        for name in sorted(self._stopping_for_close):
            self.stopNowRequested.emit(name)

    def _stopped_for_close(self, op: str, name: str, ok: bool, message: str) -> None:
        if op != "stop" or name not in self._stopping_for_close:
            return
        self._stopping_for_close.discard(name)
        if not ok:
            log.warning("stopping %s before closing failed: %s", name, message)
        progress = self.close_progress
        if progress is not None:
            progress.setValue(progress.maximum() - len(self._stopping_for_close))
            if self._stopping_for_close:
                left = ", ".join(sorted(self._stopping_for_close))
                progress.setLabelText(f"Stopping {left}…")
        if not self._stopping_for_close:
            self.controller.operationFinished.disconnect(self._stopped_for_close)
            if progress is not None:
                progress.close()
                progress.deleteLater()
            self.close_progress = None
            self._quit_confirmed = True
            self.close()

    def _settings(self) -> QSettings:
        """Window geometry only, under ``$POOLDESK_HOME`` (never the user's global config)."""
        return QSettings(str(paths.home() / "window.ini"), QSettings.Format.IniFormat)

    def _restore_geometry(self) -> None:
        settings = self._settings()
        geometry = settings.value("main/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1100, 620)
        state = settings.value("main/state")
        if state is not None:
            self.restoreState(state)
            self._update_toolbar()  # the saved state may carry another page's visibility
        titles = [self.nav.item(row).text() for row in range(self.nav.count())]
        page = settings.value("main/page")
        if isinstance(page, str) and page in titles:
            self.nav.setCurrentRow(titles.index(page))

    def _save_geometry(self) -> None:
        settings = self._settings()
        settings.setValue("main/geometry", self.saveGeometry())
        settings.setValue("main/state", self.saveState())
        item = self.nav.currentItem()
        if item is not None:
            settings.setValue("main/page", item.text())
        settings.sync()


def _last_meaningful_line(text: str) -> str | None:
    """The line most likely to say why, e.g. ``ModuleNotFoundError: …``: the last line that is
    not blank, not a traceback frame and not the supervisor's ``--- pooldesk: …`` marker."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith(("---", "File ", "^")) and line[:1] != " ":
            return stripped
    return None
