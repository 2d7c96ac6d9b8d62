"""The Workers page: the table, and the actions that apply to the selected worker.

The page owns its actions (the main window puts them in its menu and toolbar) and turns them
into request signals; it never calls the backend itself.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHeaderView,
    QLabel,
    QMenu,
    QStackedLayout,
    QTableView,
    QWidget,
)

from backend.workers.manager import WorkerInfo
from backend.workers.spec import WorkerSpec
from desktop import presets as presets_mod
from desktop import resources
from desktop.models.workers_model import COLUMNS, NAME, QUEUES, WorkersModel
from desktop.views.start_dialog import StartDialog

CONTROLLABLE = ("starting", "online")
FORGETTABLE = ("stopped", "crashed")
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
        self._stack = QStackedLayout(self)
        self._stack.addWidget(self.empty_label)
        self._stack.addWidget(self.table)

        self.start_action = self._action("start", "&Start…", "Start a new worker", "Ctrl+N")
        self.stop_action = self._action(
            "stop", "S&top", "Warm stop: finish running tasks, then exit"
        )
        self.stop_now_action = self._action(
            "stop-now",
            "Stop &now",
            "Stop without waiting for running tasks: they go back to the queue (no task is lost)",
        )
        self.restart_action = self._action(
            "restart", "&Restart", "Stop (warm) and start again with the same settings"
        )
        self.forget_action = self._action(
            "forget", "&Forget", "Remove a stopped or crashed worker from the list"
        )
        self.start_action.triggered.connect(self.open_start_dialog)
        self.stop_action.triggered.connect(self._stop)
        self.stop_now_action.triggered.connect(self._stop_now)
        self.restart_action.triggered.connect(self._restart)
        self.forget_action.triggered.connect(self._forget)
        self.start_dialog: StartDialog | None = None
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
        first = self.model.rowCount() == 0
        self.model.update(workers)
        if first and self.model.rowCount():
            self.table.resizeColumnsToContents()

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
        existing = {w.name: w.state for w in self.model.workers() if not w.remote}
        dialog = StartDialog(self, existing)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        # A bound method, not a lambda holding the dialog: such a cycle crashes PySide when
        # the dialog is deleted by its parent.
        dialog.finished.connect(self._dialog_finished)
        self.start_dialog = dialog
        dialog.open()

    def _dialog_finished(self, result: int) -> None:
        dialog, self.start_dialog = self.start_dialog, None
        if dialog is not None and result == QDialog.DialogCode.Accepted:
            self.startRequested.emit(dialog.spec())

    def _stop(self) -> None:
        info = self.selected_worker()
        if info is not None and not info.remote:
            self.stopRequested.emit(info.name)

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
        self._stack.setCurrentWidget(self.table if self.model.rowCount() else self.empty_label)
        self._update_actions()

    def _update_actions(self) -> None:
        info = self.selected_worker()
        local = info is not None and not info.remote
        running = local and info is not None and info.state in CONTROLLABLE
        self.stop_action.setEnabled(running)
        self.stop_now_action.setEnabled(local and info is not None and info.state == "stopping")
        self.restart_action.setEnabled(running)
        self.forget_action.setEnabled(local and info is not None and info.state in FORGETTABLE)
        for action, default in (
            (self.stop_action, "Warm stop: finish running tasks, then exit"),
            (self.restart_action, "Stop (warm) and start again with the same settings"),
        ):
            action.setToolTip("Remote worker: use the CLI" if info and info.remote else default)

    def _action(self, icon: str, text: str, tip: str, shortcut: str | None = None) -> QAction:
        action = QAction(resources.icon(icon), text, self)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        return action
