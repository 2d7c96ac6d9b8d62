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
    QDialog,
    QLabel,
    QMessageBox,
    QSplitter,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers import presets as presets_mod
from pooldesk.backend.workers.defaults import last_project
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.desktop import resources
from pooldesk.desktop.charts import LimitHistory
from pooldesk.desktop.models.workers_model import (
    HOST,
    NAME,
    WorkersModel,
    host_label,
    host_of,
)
from pooldesk.desktop.views.host_filter import HostFilterBar
from pooldesk.desktop.views.presets_menu import PresetsMenu
from pooldesk.desktop.views.remote_stop import RemoteStopQuestion
from pooldesk.desktop.views.resize_dialog import ResizeDialog
from pooldesk.desktop.views.start_dialog import StartDialog
from pooldesk.desktop.views.worker_actions import RESIZABLE, TIPS, action_states
from pooldesk.desktop.views.worker_detail import WorkerDetail
from pooldesk.desktop.views.workers_table import fit_capped_columns, workers_table

History = Callable[[str, float], dict[str, list[float]]]
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
    # The same requests for a worker on a fleet host (its agent runs them): host first.
    hostStartRequested = Signal(str, object)  # host, WorkerSpec
    hostStopRequested = Signal(str, str)  # host, name
    hostStopNowRequested = Signal(str, str)
    hostRestartRequested = Signal(str, str, str, int)  # host, name, pool, concurrency
    hostResizeRequested = Signal(str, str, int)  # host, name, concurrency
    hostForgetRequested = Signal(str, str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = WorkersModel(self)
        self.table = workers_table(self.model)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = WorkerDetail()
        self.filter_bar = HostFilterBar()  # shown once a fleet host is heard
        self.filter_bar.changed.connect(self._apply_filter)
        self.host_filter, self.fleet_note = self.filter_bar.combo, self.filter_bar.note
        self.hosts: list[dict[str, Any]] = []  # the fleet's host rows (host list --json)
        self.fleet_block = ""  # why fleet commands cannot be sent ("" when they can)
        self.all_workers: list[WorkerInfo] = []
        table_box = QWidget()
        table_column = QVBoxLayout(table_box)
        table_column.setContentsMargins(0, 0, 0, 0)
        table_column.setSpacing(0)
        table_column.addWidget(self.filter_bar)
        table_column.addWidget(self.table, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(table_box)
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
        self.remote_stop = RemoteStopQuestion(self)
        self.remote_stop.confirmed.connect(self.remoteStopRequested)
        self.presets_menu = PresetsMenu(self)
        self.presets_menu.startWanted.connect(self.start_preset)
        self.preset_action = self._action(
            "start", "Start from &preset", "Start a worker from a preset in one click"
        )
        self.preset_action.setMenu(self.presets_menu)
        self._requested: set[str] = set()
        self.set_presets(presets_mod.default_presets())

        self.table.selectionModel().selectionChanged.connect(self._update_actions)
        self.model.dataChanged.connect(self._update_actions)
        self.table.selectionModel().selectionChanged.connect(self._update_detail)
        self.model.dataChanged.connect(self._update_detail)
        self.model.rowsRemoved.connect(self._update_detail)
        self.model.rowsInserted.connect(self._rows_changed)
        self.model.rowsRemoved.connect(self._rows_changed)
        self.model.rowsInserted.connect(self._apply_filter)
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

    @property
    def presets(self) -> list[dict[str, Any]]:
        return self.presets_menu.presets

    def set_presets(self, presets: list[dict[str, Any]]) -> None:
        """The presets offered by "Start from preset" (already defaulted when empty)."""
        self.presets_menu.set_presets(presets)
        self.preset_action.setEnabled(bool(self.presets))

    def start_preset(self, index: int, host: str | None = None) -> WorkerSpec | None:
        """Start preset ``index`` under a free name (``invoices-1``, ``invoices-2``…) on
        ``host``: None for the preset's own host (its ``host``, else this machine), "" for this
        machine, else that fleet host."""
        if not 0 <= index < len(self.presets):
            return None
        # Names asked for but not listed yet count too: two quick clicks get two names.
        taken = {w.name for w in self.model.workers() if not w.remote} | self._requested
        preset = self.presets[index]
        host = presets_mod.host_of(preset) if host is None else host
        if host:  # a preset for a fleet host: a free name among that host's workers
            taken = {w.name for w in self.all_workers if host_of(w) == host} | self._requested
        spec = presets_mod.spec_for(preset, taken)
        self._requested.add(spec.name)
        if host:
            self.hostStartRequested.emit(host, spec)
        else:
            self.startRequested.emit(spec)
        return spec

    # -- data in -----------------------------------------------------------------------------
    def set_workers(self, workers: list[WorkerInfo]) -> None:
        # The columns size themselves (ResizeToContents, Queues stretches): an explicit
        # resizeColumnsToContents() here would fix Queues' width and leave the table narrow.
        self.all_workers = list(workers)
        self.model.update(workers)
        self._apply_filter()
        self._fit_capped_columns()

    def _fit_capped_columns(self) -> None:
        fit_capped_columns(self.table)

    # -- the fleet ---------------------------------------------------------------------------
    def set_hosts(self, rows: list[dict[str, Any]]) -> None:
        """The fleet's hosts (the fleet service's ``hostsChanged``): the filter lists each."""
        self.hosts = [dict(r) for r in rows]
        self.filter_bar.set_hosts(self.hosts)
        self.table.setColumnHidden(HOST, not self.hosts)
        self._fit_capped_columns()
        self.presets_menu.set_fleet(self.hosts, self.fleet_block)

    def set_fleet_block(self, why: str) -> None:
        """Why commands to fleet hosts are off ("" when the fleet key is there)."""
        self.fleet_block = why
        self.filter_bar.set_block(why)
        self._update_actions()
        self.presets_menu.set_fleet(self.hosts, self.fleet_block)

    def host_filter_value(self) -> str | None:
        """None (all hosts), ``THIS_MACHINE`` ("local"), or a fleet host's name."""
        return self.filter_bar.value()

    def set_host_filter(self, value: str | None) -> bool:
        return self.filter_bar.set_value(value)

    def _apply_filter(self, *_args: Any) -> None:
        wanted = self.host_filter_value()
        for row, info in enumerate(self.model.workers()):
            shown = wanted is None or host_label(info) == wanted
            self.table.setRowHidden(row, not shown)

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
        by_host: dict[str, dict[str, str]] = {}
        for w in self.all_workers:
            if host_of(w):
                by_host.setdefault(host_of(w), {})[w.name] = w.state
        dialog.set_hosts(self.hosts, self.fleet_block, by_host)
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
            host = dialog.host()
            if host:
                self.hostStartRequested.emit(host, spec)
            else:
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
        if host_of(dialog.info):
            self.hostResizeRequested.emit(
                host_of(dialog.info), dialog.info.name, dialog.concurrency()
            )
        elif dialog.info.remote:
            self.remoteResizeRequested.emit(dialog.info.hostname, dialog.concurrency())
        else:
            self.resizeRequested.emit(dialog.info.name, dialog.concurrency())

    def _stop(self) -> None:
        info = self.selected_worker()
        if info is not None and host_of(info):
            self.hostStopRequested.emit(host_of(info), info.name)
        elif info is not None and info.remote:
            self.remote_stop.ask(info.hostname)
        elif info is not None:
            self.stopRequested.emit(info.name)

    @property
    def confirm_box(self) -> QMessageBox | None:
        """The remote stop question, while open."""
        return self.remote_stop.box

    @property
    def confirm_stop_button(self) -> QAbstractButton | None:
        return self.remote_stop.stop_button

    def _stop_now(self) -> None:
        info = self.selected_worker()
        if info is None or info.state != "stopping":
            return
        if host_of(info):
            self.hostStopNowRequested.emit(host_of(info), info.name)
        elif not info.remote:
            self.stopNowRequested.emit(info.name)

    def _restart(self) -> None:
        info = self.selected_worker()
        if info is not None and host_of(info):
            self.hostRestartRequested.emit(
                host_of(info), info.name, info.pool or "", info.concurrency or 0
            )
        elif info is not None and not info.remote:
            self.restartRequested.emit(info.name, info.pool or "", info.concurrency or 0)

    def _forget(self) -> None:
        info = self.selected_worker()
        if info is not None and host_of(info):
            self.hostForgetRequested.emit(host_of(info), info.name)
        elif info is not None and not info.remote:
            self.forgetRequested.emit(info.name)

    def _rows_changed(self) -> None:
        self._stack.setCurrentWidget(self.splitter if self.model.rowCount() else self.empty_label)
        self._update_actions()

    def _update_actions(self) -> None:
        states = action_states(self.selected_worker(), self.fleet_block)
        self.stop_now_action.setEnabled(states.stop_now)
        for action, key in (
            (self.stop_action, "stop"),
            (self.restart_action, "restart"),
            (self.forget_action, "forget"),
            (self.resize_action, "resize"),
        ):
            action.setEnabled(getattr(states, key))
            action.setToolTip(states.tips[key])
            action.setStatusTip(states.tips[key])

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
