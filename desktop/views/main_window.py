"""The main window: pages in a stack, their actions in the menu and toolbar, a status bar.

It wires the controller (backend, in its own thread) to the pages (models and widgets) with
queued signals, keeps the list of those connections, and undoes them before the controller's
thread is joined on close. Today there is one page, Workers; more are added with ``add_page``.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QSettings, Qt, Signal, SignalInstance
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QToolBar,
    QWidget,
)

from backend import __version__, paths
from backend.broker.status import BrokerStatus
from desktop import resources
from desktop.controller import WorkerController
from desktop.formatting import broker_line, broker_tooltip
from desktop.views.workers_page import WorkersPage

log = logging.getLogger(__name__)
MESSAGE_MS = 10_000
VERBS = {"start": "Starting", "stop": "Stopping", "restart": "Restarting", "forget": "Forgetting"}


class MainWindow(QMainWindow):
    # Requests to the controller: emitted here (GUI thread), run there (its thread).
    startRequested = Signal(object)
    stopRequested = Signal(str)
    restartRequested = Signal(str, str, int)
    forgetRequested = Signal(str)

    def __init__(self, controller: WorkerController | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Pooldesk")
        self.setWindowIcon(resources.app_icon())
        self._connections: list[tuple[SignalInstance, Any]] = []
        self._closed = False
        self.last_broker: BrokerStatus | None = None

        self.nav = QListWidget()
        self.nav.setMaximumWidth(180)
        self.pages = QStackedWidget()
        splitter = QSplitter()
        splitter.addWidget(self.nav)
        splitter.addWidget(self.pages)
        splitter.setStretchFactor(1, 1)
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)

        self.toolbar = QToolBar("Main")
        self.toolbar.setObjectName("mainToolbar")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
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
        self.menuBar().addMenu("&File").addAction(quit_action)

        self.workers_page = WorkersPage()
        self.add_page(self.workers_page, "&Workers")
        about = QAction("&About Pooldesk", self)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        about.triggered.connect(self._about)
        self.menuBar().addMenu("&Help").addAction(about)

        self._restore_geometry()
        self.controller = controller or WorkerController()
        self._wire()
        if not self.controller.is_running():
            self.controller.launch()

    # -- structure ---------------------------------------------------------------------------
    def add_page(self, page: QWidget, menu_title: str) -> None:
        """A page with its own actions (``actions_for_menu``) gets a menu and toolbar group."""
        self.pages.addWidget(page)
        self.nav.addItem(getattr(page, "title", menu_title.replace("&", "")))
        self.nav.setVisible(self.nav.count() > 1)  # one page: no navigation to show
        if self.nav.currentRow() < 0:
            self.nav.setCurrentRow(0)
        actions = page.actions_for_menu() if hasattr(page, "actions_for_menu") else []
        if actions:
            menu = self.menuBar().addMenu(menu_title)
            menu.addActions(actions)
            if not self.toolbar.actions():
                self.toolbar.addActions(actions)

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
            (page.restartRequested, self.restartRequested, c.restart),
            (page.forgetRequested, self.forgetRequested, c.forget),
        ):
            self._connect(request, forward)
            self._connect(forward, slot)  # queued: the controller lives in its thread

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
        QMessageBox.about(
            self,
            "About Pooldesk",
            f"<b>Pooldesk {__version__}</b><p>A control panel for the people who run Celery: "
            "start workers with the right pool, watch them, stop them cleanly.</p>",
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            resources.follow_palette(QApplication.instance())
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self._save_geometry()
            self.statusBar().showMessage("Closing…")
            self._unwire()
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self.controller.shutdown()  # waits for the current call, then joins the thread
            finally:
                QApplication.restoreOverrideCursor()
        super().closeEvent(event)

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

    def _save_geometry(self) -> None:
        settings = self._settings()
        settings.setValue("main/geometry", self.saveGeometry())
        settings.setValue("main/state", self.saveState())


def _last_meaningful_line(text: str) -> str | None:
    """The line most likely to say why, e.g. ``ModuleNotFoundError: …``: the last line that is
    not blank, not a traceback frame and not the supervisor's ``--- pooldesk: …`` marker."""
    for line in reversed(text.splitlines()):
        stripped = line.strip()
        if stripped and not stripped.startswith(("---", "File ", "^")) and line[:1] != " ":
            return stripped
    return None
