"""The Workers page: the table, the selected worker's detail pane under it (charts, log; see
``worker_detail.py``), and the actions that apply to the selected worker.

The page owns its actions (the main window puts them in its menu and toolbar) and turns them
into request signals; it never calls the backend itself. Remote workers (other machines or
installations on the broker) can be stopped (Celery's broadcast shutdown, after a
confirmation) and resized (pool_grow/pool_shrink); restart and forget are for local ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedLayout,
    QTableView,
    QWidget,
)

from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers.defaults import last_project
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import presets as presets_mod
from pooldesk.desktop import resources
from pooldesk.desktop.charts import LimitHistory
from pooldesk.desktop.models.workers_model import COLUMNS, NAME, QUEUES, WorkersModel
from pooldesk.desktop.views.resize_dialog import ResizeDialog
from pooldesk.desktop.views.start_dialog import StartDialog
from pooldesk.desktop.views.worker_detail import WorkerDetail

History = Callable[[str, float], dict[str, list[float]]]
CONTROLLABLE = ("starting", "online")
FORGETTABLE = ("stopped", "crashed")
RESIZABLE = ("online", "online-remote")
TIPS = {
    "stop": "Warm stop: finish running tasks, then exit",
    "stop-remote": "Send Celery's shutdown through the broker (asks first): running tasks finish",
    "restart": "Stop (warm) and start again with the same settings",
    "restart-remote": "Remote worker: restart it on its own machine; Pooldesk can only stop or "
    "resize it through the broker",
    "forget": "Remove a stopped or crashed worker from the list",
    "forget-remote": "Remote worker: it leaves the list by itself once it stops answering",
    "resize": "Change the concurrency: live for prefork and gevent, a restart for threads/solo",
}
EMPTY_TEXT = (
    "No workers yet.\n\nStart one with Start… (Ctrl+N), or from a terminal:\n"
    "pooldesk worker start NAME --pool gevent -c 50 --queues default"
)


class WorkersPage(QWidget):
    title = "Workers"
    startRequested = Signal(object)  # WorkerSpec
    stopRequested = Signal(str)
    stopNowRequested = Signal(str)  # stop waiting for running tasks (they return to the queue)
    restartRequested = Signal(str, str, int)  # name, pool, concurrency
    forgetRequested = Signal(str)
    resizeRequested = Signal(str, int)  # local name, new concurrency
    remoteResizeRequested = Signal(str, int)  # hostname, new concurrency
    remoteStopRequested = Signal(str)  # hostname, confirmed by the user

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorkersModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(28)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(QUEUES, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(70)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = WorkerDetail()
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.detail)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty_label)
        self._stack.addWidget(self.splitter)

        self.start_action = self._action("start", "&Start…", "Start a new worker", "Ctrl+N")
        self.stop_action = self._action("stop", "S&top", TIPS["stop"])
        self.stop_now_action = self._action(
            "stop-now",
            "Stop &now",
            "Stop without waiting for running tasks: they go back to the queue (no task is lost)",
        )
        self.restart_action = self._action("restart", "&Restart", TIPS["restart"])
        self.resize_action = self._action("resize", "Resi&ze…", TIPS["resize"])
        self.forget_action = self._action("forget", "&Forget", TIPS["forget"])
        self.start_action.triggered.connect(self.open_start_dialog)
        self.stop_action.triggered.connect(self._stop)
        self.stop_now_action.triggered.connect(self._stop_now)
        self.restart_action.triggered.connect(self._restart)
        self.forget_action.triggered.connect(self._forget)
        self.resize_action.triggered.connect(self.open_resize_dialog)
        self.start_dialog: StartDialog | None = None
        self.fit_rows: list[Any] = []
        self.last_project: str | None = None  # the project of the last start asked for
        self.resize_dialog: ResizeDialog | None = None
        self.confirm_box: QMessageBox | None = None  # the remote stop question, while open
        self.confirm_stop_button: QAbstractButton | None = None
        self.presets_menu = QMenu("Start from &preset", self)
        self.preset_action = self._action(
            "start", "Start from &preset", "Start a worker from a preset in one click"
        )
        self.preset_action.setMenu(self.presets_menu)
        self.presets: list[dict[str, Any]] = []
        self._requested: set[str] = set()
        self.set_presets(presets_mod.default_presets())

        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.model.dataChanged.connect(self._update_actions)
        self.table.selectionModel().selectionChanged.connect(self._update_detail)
        self.model.dataChanged.connect(self._update_detail)
        self.model.rowsRemoved.connect(self._update_detail)
        self.model.rowsInserted.connect(self._rows_changed)
        self.model.rowsRemoved.connect(self._rows_changed)
        self._rows_changed()

    def actions_for_menu(self) -> list[QAction]:
        return [
            self.start_action,
            self.preset_action,
            self.stop_action,
            self.stop_now_action,
            self.restart_action,
            self.resize_action,
            self.forget_action,
        ]

    def set_presets(self, presets: list[dict[str, Any]]) -> None:
        """The presets offered by "Start from preset" (already defaulted when empty)."""
        self.presets = [dict(p) for p in presets]
        self.presets_menu.clear()
        for index, preset in enumerate(self.presets):
            action = self.presets_menu.addAction(presets_mod.label(preset))
            action.setData(index)
            action.triggered.connect(self._preset_triggered)
        self.preset_action.setEnabled(bool(self.presets))

    def _preset_triggered(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.start_preset(int(action.data()))

    def start_preset(self, index: int) -> WorkerSpec | None:
        """Start preset ``index`` under a free name (``invoices-1``, ``invoices-2``…)."""
        if not 0 <= index < len(self.presets):
            return None
        # Names asked for but not listed yet count too: two quick clicks get two names.
        taken = {w.name for w in self.model.workers() if not w.remote} | self._requested
        spec = presets_mod.spec_for(self.presets[index], taken)
        self._requested.add(spec.name)
        self.startRequested.emit(spec)
        return spec

    # -- data in -----------------------------------------------------------------------------
    def set_workers(self, workers: list[WorkerInfo]) -> None:
        # The columns size themselves (ResizeToContents, Queues stretches): an explicit
        # resizeColumnsToContents() here would fix Queues' width and leave the table narrow.
        self.model.update(workers)

    def start_for_queues(self, queues: list[str]) -> None:
        """Start, from the presets, workers for ``queues`` (a launch dialog found nobody on
        them): each preset consuming one of them, once."""
        wanted = set(queues)
        for index, preset in enumerate(self.presets):
            if wanted & set(presets_mod.queues_of(preset)):
                self.start_preset(index)
                wanted -= set(presets_mod.queues_of(preset))

    def set_fit(self, rows: list[Any]) -> None:
        """The Pool fit table: the Start dialog proposes queues and pool from it."""
        self.fit_rows = list(rows)

    def set_chart_sources(self, history: History, limits: LimitHistory) -> None:
        """The telemetry history and the window's LimitHistory, shared with the Overview."""
        self.detail.set_sources(history, limits)

    def set_resources(self, snapshot: Snapshot) -> None:
        self.detail.set_resources(snapshot)

    def set_events(self, snapshot: EventSnapshot) -> None:
        """Live active/processed counts per worker from the Celery event stream."""
        self.model.set_counts(
            {host: (w.active, w.processed) for host, w in snapshot.workers.items() if w.online}
        )

    def selected_worker(self) -> WorkerInfo | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.worker(rows[0].row()) if rows else None

    def select(self, name: str, remote: bool = False) -> bool:
        row = self.model.row_of(name, remote)
        if row < 0:
            return False
        self.table.selectionModel().select(
            self.model.index(row, NAME),
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.table.setCurrentIndex(self.model.index(row, NAME))
        return True

    # -- actions -----------------------------------------------------------------------------
    def open_start_dialog(self) -> None:
        """Window-modal and non-blocking (``open``, not ``exec``), so tests can drive it."""
        workers = self.model.workers()
        existing = {w.name: w.state for w in workers if not w.remote}
        project = self.last_project or last_project(workers)
        dialog = StartDialog(self, existing, fit_rows=self.fit_rows, project=project)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # A bound method, not a lambda holding the dialog: such a cycle crashes PySide when
        # the dialog is deleted by its parent.
        dialog.finished.connect(self._dialog_finished)
        self.start_dialog = dialog
        dialog.open()

    def _dialog_finished(self, result: int) -> None:
        dialog, self.start_dialog = self.start_dialog, None
        if dialog is not None and result == QDialog.DialogCode.Accepted:
            spec = dialog.spec()
            self.last_project = spec.project or DEMO
            self.startRequested.emit(spec)

    def open_resize_dialog(self) -> None:
        """Window-modal and non-blocking, like the start dialog."""
        info = self.selected_worker()
        if info is None or info.state not in RESIZABLE:
            return
        dialog = ResizeDialog(info, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._resize_finished)
        self.resize_dialog = dialog
        dialog.open()

    def _resize_finished(self, result: int) -> None:
        dialog, self.resize_dialog = self.resize_dialog, None
        if dialog is None or result != QDialog.DialogCode.Accepted:
            return
        if dialog.info.remote:
            self.remoteResizeRequested.emit(dialog.info.hostname, dialog.concurrency())
        else:
            self.resizeRequested.emit(dialog.info.name, dialog.concurrency())

    def _stop(self) -> None:
        info = self.selected_worker()
        if info is not None and info.remote:
            self._confirm_remote_stop(info)
        elif info is not None:
            self.stopRequested.emit(info.name)

    def _confirm_remote_stop(self, info: WorkerInfo) -> None:
        """A remote worker may be someone else's: ask (window-modal, non-blocking) first."""
        if self.confirm_box is not None:
            self.confirm_box.raise_()
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Stop remote worker",  # the title names the action, as every question's does
            f"Stop the remote worker {info.hostname}?",
            parent=self,
        )
        box.setInformativeText(
            "It runs on another machine or installation, perhaps someone else's. Pooldesk "
            "sends Celery's shutdown command through the broker: the worker finishes its "
            "running tasks and exits, and nothing here starts it again."
        )
        box.setObjectName("remoteStopQuestion")
        stop = box.addButton("&Stop remote worker", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setEscapeButton(QMessageBox.StandardButton.Cancel)
        box.setProperty("hostname", info.hostname)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._remote_stop_answered)
        self.confirm_box, self.confirm_stop_button = box, stop
        box.open()

    def _remote_stop_answered(self, _result: int) -> None:
        box, self.confirm_box = self.confirm_box, None
        if box is None:
            return
        if box.clickedButton() is self.confirm_stop_button:
            self.remoteStopRequested.emit(str(box.property("hostname")))

    def _stop_now(self) -> None:
        info = self.selected_worker()
        if info is not None and not info.remote and info.state == "stopping":
            self.stopNowRequested.emit(info.name)

    def _restart(self) -> None:
        info = self.selected_worker()
        if info is not None and not info.remote:
            self.restartRequested.emit(info.name, info.pool or "", info.concurrency or 0)

    def _forget(self) -> None:
        info = self.selected_worker()
        if info is not None and not info.remote:
            self.forgetRequested.emit(info.name)

    def _rows_changed(self) -> None:
        self._stack.setCurrentWidget(self.splitter if self.model.rowCount() else self.empty_label)
        self._update_actions()

    def _update_actions(self) -> None:
        info = self.selected_worker()
        local = info is not None and not info.remote
        remote = info is not None and info.remote
        running = local and info is not None and info.state in CONTROLLABLE
        remote_online = remote and info is not None and info.state == "online-remote"
        self.stop_action.setEnabled(running or remote_online)
        self.stop_now_action.setEnabled(local and info is not None and info.state == "stopping")
        self.restart_action.setEnabled(running)
        self.resize_action.setEnabled(info is not None and info.state in RESIZABLE)
        self.forget_action.setEnabled(local and info is not None and info.state in FORGETTABLE)
        for action, key in (
            (self.stop_action, "stop"),
            (self.restart_action, "restart"),
            (self.forget_action, "forget"),
        ):
            tip = TIPS[f"{key}-remote" if remote else key]
            action.setToolTip(tip)
            action.setStatusTip(tip)

    def _update_detail(self) -> None:
        self.detail.set_worker(self.selected_worker())

    def _action(
        self, icon: str | None, text: str, tip: str, shortcut: str | None = None
    ) -> QAction:
        action = QAction(resources.icon(icon), text, self) if icon else QAction(text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        return action
