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
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStackedLayout,
    QTableView,
    QVBoxLayout,
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
from pooldesk.desktop.models.workers_model import (
    COLUMNS,
    HOST,
    NAME,
    PROJECT,
    QUEUES,
    THIS_MACHINE,
    WorkersModel,
    host_label,
    host_of,
)
from pooldesk.desktop.views.presets_menu import PresetsMenu
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
CAPPED = {PROJECT: 180, HOST: 96}  # px at most: Host and a long project name elide
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
        self.table.setColumnHidden(HOST, True)  # shown once a fleet host is heard (set_hosts)
        # Host and Project at most CAPPED px wide (a long name is elided, in full in its
        # tooltip): with the Host column the table still fits 1280 px without scrolling.
        for column in CAPPED:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)

        self.empty_label = QLabel(EMPTY_TEXT)
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail = WorkerDetail()
        # The host filter (All hosts / this machine / each host), shown once a fleet host is
        # heard: one machine has nothing to filter.
        self.host_filter = QComboBox()
        self.host_filter.setAccessibleName("Show the workers of")
        self.host_filter.addItem("All hosts", None)
        self.host_filter.addItem("This machine", THIS_MACHINE)
        self.host_filter.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.host_filter.currentIndexChanged.connect(self._apply_filter)
        filter_label = QLabel("&Host:")
        filter_label.setBuddy(self.host_filter)
        self.fleet_note = QLabel()  # why fleet commands are off (no key), when they are
        self.fleet_note.setObjectName("hint")
        self.filter_bar = QWidget()
        bar = QHBoxLayout(self.filter_bar)
        bar.setContentsMargins(0, 0, 0, 4)
        bar.addWidget(filter_label)
        bar.addWidget(self.host_filter)
        bar.addSpacing(12)
        bar.addWidget(self.fleet_note, 1)
        self.fleet_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filter_bar.setVisible(False)
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
        self.confirm_box: QMessageBox | None = None  # the remote stop question, while open
        self.confirm_stop_button: QAbstractButton | None = None
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
        header = self.table.horizontalHeader()
        for column, cap in CAPPED.items():
            if self.table.isColumnHidden(column):
                continue
            width = min(self.table.sizeHintForColumn(column), cap)
            width = max(width, header.sectionSizeHint(column), header.minimumSectionSize())
            if header.sectionSize(column) != width:
                header.resizeSection(column, width)

    # -- the fleet ---------------------------------------------------------------------------
    def set_hosts(self, rows: list[dict[str, Any]]) -> None:
        """The fleet's hosts (the fleet service's ``hostsChanged``): the filter lists each."""
        self.hosts = [dict(r) for r in rows]
        known = [self.host_filter.itemData(i) for i in range(self.host_filter.count())]
        for row in self.hosts:
            if row["name"] not in known:
                self.host_filter.addItem(row["name"], row["name"])
        for i in range(2, self.host_filter.count()):
            row = next((r for r in self.hosts if r["name"] == self.host_filter.itemData(i)), None)
            online = bool(row and row.get("online"))
            self.host_filter.setItemData(
                i, "agent online" if online else "agent offline", Qt.ItemDataRole.ToolTipRole
            )
        self.filter_bar.setVisible(bool(self.hosts))
        self.table.setColumnHidden(HOST, not self.hosts)
        self._fit_capped_columns()
        self.presets_menu.set_fleet(self.hosts, self.fleet_block)

    def set_fleet_block(self, why: str) -> None:
        """Why commands to fleet hosts are off ("" when the fleet key is there)."""
        self.fleet_block = why
        self.fleet_note.setText(f"Watch only: {why.split(':')[0]}" if why else "")
        self.fleet_note.setToolTip(why)
        self._update_actions()
        self.presets_menu.set_fleet(self.hosts, self.fleet_block)

    def host_filter_value(self) -> str | None:
        """None (all hosts), ``THIS_MACHINE`` ("local"), or a fleet host's name."""
        value = self.host_filter.currentData()
        return None if value is None else str(value)

    def set_host_filter(self, value: str | None) -> bool:
        index = self.host_filter.findData(value)
        if index >= 0:
            self.host_filter.setCurrentIndex(index)
        return index >= 0

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
        info = self.selected_worker()
        hosted = info is not None and bool(host_of(info))
        blocked = hosted and bool(self.fleet_block)  # a fleet host, and no key: watch only
        # A fleet host's worker is driven by its agent like a local one by this machine.
        local = info is not None and (not info.remote or hosted) and not blocked
        remote = info is not None and info.remote and not hosted
        running = local and info is not None and info.state in CONTROLLABLE
        remote_online = remote and info is not None and info.state == "online-remote"
        self.stop_action.setEnabled(running or remote_online)
        self.stop_now_action.setEnabled(local and info is not None and info.state == "stopping")
        self.restart_action.setEnabled(running)
        resizable = info is not None and info.state in RESIZABLE and not blocked
        self.resize_action.setEnabled(resizable)
        self.forget_action.setEnabled(local and info is not None and info.state in FORGETTABLE)
        for action, key in (
            (self.stop_action, "stop"),
            (self.restart_action, "restart"),
            (self.forget_action, "forget"),
            (self.resize_action, "resize"),
        ):
            if blocked:
                tip = f"Host {host_of(info)}: {self.fleet_block}"  # type: ignore[arg-type]
            else:
                tip = TIPS.get(f"{key}-remote" if remote else key, TIPS[key])
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
