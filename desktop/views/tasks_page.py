"""The Tasks page: what ran, what failed and why, from the recorded task history.

Filters (state, name, queue, worker, time range, text) become a :class:`Filter` sent to the
:class:`TasksController` thread; the table is a paged model (``fetchMore``) so 100,000 rows cost
what is on screen; a second tab groups failures by exception and normalised message. Actions
(retry, edited retry, retry a group, revoke, terminate) ask for confirmation, then say in the
status line what was sent. The page never reads the database or the broker itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pooldesk.backend.taskhistory.actions import with_queue
from pooldesk.backend.taskhistory.query import Filter, TaskRow
from pooldesk.backend.taskhistory.retry import RetryError, plan, rebuild
from pooldesk.backend.units import plural
from pooldesk.desktop.models.tasks_model import (
    EXCEPTION,
    NAME,
    QUEUE,
    WORKER,
    RowRole,
    TasksModel,
    when,
)
from pooldesk.desktop.services.tasks import TasksController
from pooldesk.desktop.views.failure_groups import FailureGroups
from pooldesk.desktop.views.tables import make_table
from pooldesk.desktop.views.task_detail import EditRetryDialog, TaskDetail
from pooldesk.desktop.views.task_filters import TaskFilters

PAGE = 200
GROUPS_EVERY_S = 5.0  # live refresh of failure groups and rates, at most this often
FINAL = ("SUCCESS", "FAILURE", "REVOKED", "REJECTED")


def _ask(parent: QWidget, title: str, text: str) -> bool:
    answer = QMessageBox.question(parent, title, text)
    return answer == QMessageBox.StandardButton.Yes


# Columns sized to their content after each new filter, at most this wide (px).
FIT_COLUMNS = {NAME: 460, QUEUE: 180, WORKER: 260}


class TasksPage(QWidget):
    title = "Tasks"
    pageWanted = Signal(int, object, object, int)  # request, Filter, after, limit
    countWanted = Signal(int, object)
    failuresWanted = Signal(object)  # since
    detailWanted = Signal(str)
    choicesWanted = Signal()
    retryRequested = Signal(str, object, object)  # id, args JSON or None, kwargs JSON or None
    retryGroupRequested = Signal(str)
    revokeRequested = Signal(str, bool)  # id, terminate

    def __init__(
        self, controller: TasksController | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller or TasksController()
        self.confirm: Callable[[str, str], bool] = lambda t, s: _ask(self, t, s)  # tests swap it
        self.dialog: EditRetryDialog | None = None
        self.last_message = ""
        self._request = 0
        self._current = 0  # the request whose answers the table shows
        self._kinds: dict[int, str] = {}
        self._filter = Filter()
        self._group: str | None = None  # "Show these tasks" of a failure group
        self._groups_at = 0.0
        self._stale = False  # the history changed while the page was hidden
        self.model = TasksModel(self)

        self.filters = TaskFilters()
        # The filter widgets by name, for tests and the failure-group jump.
        self.state_box, self.name_edit = self.filters.state_box, self.filters.name_edit
        self.queue_box, self.worker_box = self.filters.queue_box, self.filters.worker_box
        self.search_edit, self.debounce = self.filters.search_edit, self.filters.debounce
        self.count_label = QLabel("Loading…")
        self.count_label.setWordWrap(True)  # a long sentence must not widen the window
        self.message_label = QLabel()  # what the last action sent, or why nothing was
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setVisible(False)
        self.gap_label = QLabel()
        self.gap_label.setObjectName("warnings")
        self.gap_label.setWordWrap(True)
        self.gap_label.setVisible(False)

        self.table = make_table(self.model)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(EXCEPTION, QHeaderView.ResizeMode.Stretch)
        for col, width in enumerate((80, 220, 90, 150, 80, 70, 70, 55, 160, 70)):
            self.table.setColumnWidth(col, width)
        self.groups = FailureGroups()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Tasks")
        self.tabs.addTab(self.groups, "Failure groups")

        self.detail = TaskDetail()
        self.retry_button = QPushButton("Retry…")
        self.edit_button = QPushButton("Edit and retry…")
        self.edit_button.setToolTip("Retry with edited arguments (JSON, checked before sending)")
        self.revoke_button = QPushButton("Revoke…")
        self.terminate_button = QPushButton("Terminate…")
        buttons = QHBoxLayout()
        for button in (
            self.retry_button,
            self.edit_button,
            self.revoke_button,
            self.terminate_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addLayout(buttons)
        side_layout.addWidget(self.detail, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tabs)
        split.addWidget(side)
        split.setSizes([420, 260])
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.filters)
        layout.addWidget(self.count_label)
        layout.addWidget(split, 1)
        # Under the table: a message appearing after an action moves no row under the pointer.
        layout.addWidget(self.gap_label)
        layout.addWidget(self.message_label)

        self.filters.changed.connect(self.apply_filters)
        self.filters.stateChanged.connect(self._state_changed)
        self.model.moreWanted.connect(self._more)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.retry_button.clicked.connect(self.confirm_retry)
        self.edit_button.clicked.connect(self.open_edit_dialog)
        self.revoke_button.clicked.connect(lambda: self.confirm_revoke(False))
        self.terminate_button.clicked.connect(lambda: self.confirm_revoke(True))
        self.groups.show_button.clicked.connect(self.show_group)
        self.groups.retry_button.clicked.connect(self.confirm_retry_group)
        self._wire(self.controller)
        self._set_buttons(None)
        if not self.controller.is_running():
            self.controller.launch()
        self.apply_filters()

    def _wire(self, c: TasksController) -> None:
        self.pageWanted.connect(c.fetchPage)
        self.countWanted.connect(c.fetchCount)
        self.failuresWanted.connect(c.fetchFailures)
        self.detailWanted.connect(c.fetchDetail)
        self.choicesWanted.connect(c.fetchChoices)
        c.choicesReady.connect(self.filters.set_choices)
        self.retryRequested.connect(c.retry)
        self.retryGroupRequested.connect(c.retryGroup)
        self.revokeRequested.connect(c.revoke)
        c.pageReady.connect(self._page)
        c.countReady.connect(self._count)
        c.failuresReady.connect(self._failures)
        c.detailReady.connect(self._detail)
        c.storeChanged.connect(self._store_changed)
        c.operationFinished.connect(self._operation_finished)

    def shutdown(self) -> None:
        self.controller.shutdown()

    # -- queries ------------------------------------------------------------------------------
    def current_filter(self) -> Filter:
        return self.filters.current(self._group)

    def _ask(self, kind: str, after: Any = None) -> int:
        self._request += 1
        self._kinds[self._request] = kind
        self.pageWanted.emit(self._request, self._filter, after, PAGE)
        return self._request

    def apply_filters(self) -> None:
        self._filter = self.current_filter()
        self._current = self._ask("reset")
        self.countWanted.emit(self._current, self._filter)
        self.failuresWanted.emit(self._filter.since)
        self.choicesWanted.emit()

    def _more(self, after: Any) -> None:
        self._ask("append", after)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self._store_changed()

    def _store_changed(self) -> None:
        """Live: merge the fresh first page, recount, regroup (at most once per poll). A page
        nobody looks at only remembers to do it when it is shown."""
        self._stale = not self.isVisible()
        if self._stale:
            return
        request = self._ask("refresh")
        self.countWanted.emit(request, self._filter)
        if time.monotonic() - self._groups_at >= GROUPS_EVERY_S:  # a GROUP BY over everything
            self._groups_at = time.monotonic()
            self.failuresWanted.emit(self._filter.since)

    def _page(self, request: int, rows: list[Any], more: bool) -> None:
        kind = self._kinds.pop(request, "")
        if request < self._current or not kind:
            return  # an answer to a filter since replaced
        if kind == "reset":
            self.model.reset(rows, more)
            self._fit_columns()
        elif kind == "append":
            self.model.append(rows, more)
        else:
            self.model.refresh(rows, more)

    def _fit_columns(self) -> None:
        """Task names readable (issue 21: "proyecto.tasks.generar…" while the Exception column
        took half the width): the text columns as wide as their longest cell, capped; the
        exception takes what is left."""
        for column, cap in FIT_COLUMNS.items():
            wanted = max(self.table.sizeHintForColumn(column), self.table.columnWidth(column))
            self.table.setColumnWidth(column, min(wanted, cap))

    def _count(self, request: int, count: int) -> None:
        if request >= self._current:
            group = f" in failure group “{self._group}”" if self._group else ""
            self.count_label.setText(
                f"{count:,} recorded task{'s' if count != 1 else ''} match{group}"
                if count or self.model.rowCount()
                else "No recorded task matches. Tasks appear here as soon as a worker runs "
                "them; the history is kept while the window is closed."
            )

    def _failures(self, groups: list[Any], rates: dict[str, Any], gaps: list[Any]) -> None:
        self.model.set_rates(rates)
        self.groups.set_groups(groups)
        now = time.time()
        if gaps:
            last = gaps[-1]
            self.gap_label.setText(
                f"Not recorded: {plural(len(gaps), 'period')}; the last from "
                f"{when(last.start_ts, now)} to {when(last.end_ts, now)} ({last.reason}). "
                "Tasks that ran then may be missing."
            )
        self.gap_label.setVisible(bool(gaps))

    # -- selection and detail -----------------------------------------------------------------
    def selected_row(self) -> Any:
        rows = self.table.selectionModel().selectedRows()
        return self.model.data(rows[0], RowRole) if rows else None

    def _selected(self) -> None:
        row = self.selected_row()
        if row is None:
            self.detail.show_empty()
            self._set_buttons(None)
        else:
            self.detailWanted.emit(row.id)

    def _detail(self, data: dict[str, Any]) -> None:
        row = self.selected_row()
        if row is not None and row.id == data["id"]:
            self.detail.show_task(data)
            self._set_buttons(data)

    def _set_buttons(self, data: dict[str, Any] | None) -> None:
        state = (data or {}).get("state") or ""
        named = bool(data and data.get("name"))
        exact = bool(data and (data.get("retry") or {}).get("as_recorded"))
        self.retry_button.setEnabled(named and exact and state in FINAL)
        self.retry_button.setToolTip(
            "" if exact or not data else f"Not as recorded: {data['retry']['reason']}"
        )
        self.edit_button.setEnabled(named and state in FINAL)
        self.revoke_button.setEnabled(bool(data) and state not in FINAL)
        self.terminate_button.setEnabled(state == "STARTED")

    # -- actions ------------------------------------------------------------------------------
    def confirm_retry(self) -> None:
        data = self.detail.data
        if not data:
            return
        try:  # the queue it really goes to, as the retry itself will resolve it
            row = TaskRow(_row_data(data))
            what = with_queue(row, plan(row, asker="window"), asker="window").describe()
        except RetryError as exc:
            self._action_finished(False, f"Nothing sent: {exc}")
            return
        if self.confirm("Retry task", f"Send {what} again as a new task?"):
            self.retryRequested.emit(data["id"], None, None)

    def open_edit_dialog(self) -> None:
        data = self.detail.data
        if not data:
            return
        rebuilt = rebuild(TaskRow(_row_data(data)))
        self.dialog = EditRetryDialog(data, rebuilt.args, rebuilt.kwargs, self)
        self.dialog.accepted.connect(lambda: self._edited(data))
        self.dialog.open()

    def _edited(self, data: dict[str, Any]) -> None:
        assert self.dialog is not None
        args, kwargs = self.dialog.values()
        row = TaskRow(_row_data(data))
        try:
            edited = with_queue(row, plan(row, args, kwargs, asker="window"), asker="window")
        except RetryError as exc:
            self._action_finished(False, f"Nothing sent: {exc}")
            return
        if self.confirm("Retry with edited arguments", f"Send {edited.describe()}?"):
            self.retryRequested.emit(data["id"], args, kwargs)

    def confirm_revoke(self, terminate: bool) -> None:
        data = self.detail.data
        if not data:
            return
        verb = "Terminate" if terminate else "Revoke"
        effect = (
            "Its worker process gets SIGTERM: the task stops now."
            if terminate
            else "A task that has not started will not run."
        )
        if self.confirm(f"{verb} task", f"{verb} {data['name']} {data['id']}? {effect}"):
            self.revokeRequested.emit(data["id"], terminate)

    def show_group(self) -> None:
        group = self.groups.selected()
        if group is None:
            return
        self.filters.show_state("FAILURE")
        self._group = group
        self.apply_filters()
        self.tabs.setCurrentIndex(0)

    def _state_changed(self) -> None:
        self._group = None  # a state chosen by hand leaves the failure group
        self.apply_filters()

    def confirm_retry_group(self) -> None:
        group = self.groups.selected()
        if group is None:
            return
        count = self.groups.selected_count()
        tasks = "the failed task" if count == "1" else f"the {count} failed tasks"
        if self.confirm(
            "Retry failure group",
            f"Send {tasks} of “{group}” again, each with its recorded arguments to the queue "
            "it ran from? Tasks whose arguments cannot be rebuilt are left out and listed.",
        ):
            self.retryGroupRequested.emit(group)

    def _operation_finished(self, _op: str, _subject: str, ok: bool, message: str) -> None:
        self._action_finished(ok, message)

    def _action_finished(self, ok: bool, message: str) -> None:
        self.last_message = message
        window = self.window()
        status = getattr(window, "statusBar", None)
        if callable(status) and window is not self:
            status().showMessage(message, 15000)
        self.message_label.setText(message)
        self.message_label.setProperty("ok", ok)
        self.message_label.setObjectName("" if ok else "warnings")
        self.message_label.style().unpolish(self.message_label)
        self.message_label.style().polish(self.message_label)
        self.message_label.setVisible(bool(message))


def _row_data(data: dict[str, Any]) -> dict[str, Any]:
    """The detail dict (``to_dict`` names) back into store column names for the retry rules."""
    return {
        "id": data["id"],
        "name": data.get("name"),
        "queue": data.get("queue"),
        "args": data.get("args"),
        "kwargs": data.get("kwargs"),
        "args_hidden": 1 if data.get("args_hidden") else None,
        "worker": data.get("worker"),
    }
