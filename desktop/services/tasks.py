"""The Tasks page's door to the backend: a QObject in its own QThread, like BatchController.

Every read of ``tasks.db`` (a page of rows, a count, failure groups, one task's detail) and every
action (retry, revoke — they reach the broker) runs here, never on the GUI thread. Requests carry
a number; the page drops answers to requests it has since replaced (a filter typed faster than
the answers come back). Every ``POLL_MS`` it asks SQLite whether anyone wrote
(``PRAGMA data_version``) and says so, so the page stays live without re-reading for nothing.
While the window is open it keeps its broker's recorder running (``ensure_recorder``, lease).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from backend.broker.resolve import current_config
from backend.taskhistory import service
from backend.taskhistory.actions import TaskActions
from backend.taskhistory.query import Filter, TaskQuery
from backend.taskhistory.retry import RetryError, rebuild
from backend.taskhistory.store import TaskStore

log = logging.getLogger(__name__)

POLL_MS = 1000
RECORDER_EVERY_S = 30.0


class TasksController(QObject):
    pageReady = Signal(int, list, bool)  # request, list[TaskRow], more rows after these
    countReady = Signal(int, int)  # request, rows matching
    failuresReady = Signal(list, dict, list)  # list[FailureGroup], {name: (done, failed)}, gaps
    detailReady = Signal(object)  # dict: TaskRow.to_dict(full=True) + "retry"
    choicesReady = Signal(list, list)  # queues, workers seen in the history (filter boxes)
    storeChanged = Signal()
    actionFinished = Signal(bool, str)  # ok, what was sent (or why nothing was)
    _shutdownRequested = Signal()

    def __init__(self, path: Path | None = None, manage_recorder: bool = True) -> None:
        super().__init__()
        self._path = path
        self._manage_recorder = manage_recorder
        self._query: TaskQuery | None = None
        self._actions: TaskActions | None = None
        self._timer: QTimer | None = None
        self._version: int | None = None
        self._next_recorder = 0.0
        self._home_thread = self.thread()
        self._thread = QThread()
        self._thread.setObjectName("pooldesk-tasks")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._on_started)
        self._shutdownRequested.connect(self._teardown)

    # -- GUI thread ---------------------------------------------------------------------------
    def launch(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        if self._thread.isRunning():
            self._shutdownRequested.emit()
            self._thread.wait()

    # -- controller thread --------------------------------------------------------------------
    @Slot()
    def _on_started(self) -> None:
        try:
            store = TaskStore(self._path)  # creates or repairs the file before readers open it
            if store.message:
                self.actionFinished.emit(False, store.message)
            store.close()
        except Exception as exc:
            log.exception("opening the task history failed")
            self.actionFinished.emit(False, f"Task history unavailable: {exc}")
        self._query = TaskQuery(self._path)
        self._actions = TaskActions(TaskQuery(self._path))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)
        self._timer.start(POLL_MS)
        self._poll()

    @Slot()
    def _teardown(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        for closable in (self._query, self._actions):
            if closable is not None:
                closable.close()
        self.moveToThread(self._home_thread)
        self._thread.quit()

    def _poll(self) -> None:
        if self._manage_recorder and time.monotonic() >= self._next_recorder:
            self._next_recorder = time.monotonic() + RECORDER_EVERY_S
            try:
                config = current_config()
                if config.broker_url:
                    service.touch_lease(service.broker_key(config.broker_url))
                    service.ensure_recorder(config)
            except Exception:
                log.exception("ensuring the task recorder failed")
        if self._query is None or not self._query.exists:
            return
        try:
            version = int(self._query.conn().execute("PRAGMA data_version").fetchone()[0])
            # data_version changes when *another* connection commits: the recorder wrote
        except Exception:
            log.exception("polling the task history failed")
            return
        if self._version is not None and version != self._version:
            self.storeChanged.emit()
        self._version = version

    @Slot(int, object, object, int)
    def fetchPage(self, request: int, flt: Filter, after: Any, limit: int) -> None:
        assert self._query is not None
        try:
            rows = self._query.page(flt, limit=limit + 1, after=after)
        except Exception as exc:
            log.exception("task query failed")
            self.actionFinished.emit(False, f"Reading the task history failed: {exc}")
            rows = []
        self.pageReady.emit(request, rows[:limit], len(rows) > limit)

    @Slot(int, object)
    def fetchCount(self, request: int, flt: Filter) -> None:
        assert self._query is not None
        try:
            self.countReady.emit(request, self._query.count(flt))
        except Exception:
            log.exception("task count failed")

    @Slot(object)
    def fetchFailures(self, since: Any) -> None:
        assert self._query is not None
        try:
            self.failuresReady.emit(
                self._query.failures(since),
                self._query.failure_rates(since),
                self._query.gaps(since if since is not None else time.time() - 86400),
            )
        except Exception:
            log.exception("failure groups failed")

    @Slot()
    def fetchChoices(self) -> None:
        assert self._query is not None
        try:
            self.choicesReady.emit(self._query.distinct("queue"), self._query.distinct("worker"))
        except Exception:
            log.exception("filter choices failed")

    @Slot(str)
    def fetchDetail(self, task_id: str) -> None:
        assert self._query is not None
        rows = self._query.get(task_id)
        if not rows:
            return
        data = rows[0].to_dict(full=True)
        rebuilt = rebuild(rows[0])
        data["retry"] = {"as_recorded": rebuilt.exact, "reason": rebuilt.reason}
        self.detailReady.emit(data)

    @Slot(str, object, object)
    def retry(self, task_id: str, args_json: Any, kwargs_json: Any) -> None:
        assert self._actions is not None
        try:
            sent = self._actions.retry(task_id, args_json, kwargs_json)
        except RetryError as exc:
            self.actionFinished.emit(False, f"Nothing sent: {exc}")
            return
        except Exception as exc:
            self.actionFinished.emit(False, f"Could not send: {type(exc).__name__}: {exc}")
            return
        self.actionFinished.emit(True, f"Sent {sent.plan.describe()} as task {sent.id}.")

    @Slot(str)
    def retryGroup(self, group: str) -> None:
        assert self._actions is not None
        try:
            plans, skipped = self._actions.plan_group(group)
            sent = self._actions.retry_plans(plans)
        except Exception as exc:
            self.actionFinished.emit(False, f"Could not send: {type(exc).__name__}: {exc}")
            return
        message = f"Sent {len(sent):,} task{'s' if len(sent) != 1 else ''} again"
        if skipped:
            message += (
                f"; {len(skipped):,} left out (arguments cannot be rebuilt: "
                f"{skipped[0][1]}) — retry those one by one with edited arguments"
            )
        self.actionFinished.emit(bool(sent) or not skipped, message + ".")

    @Slot(str, bool)
    def revoke(self, task_id: str, terminate: bool) -> None:
        assert self._actions is not None
        try:
            row = self._actions.revoke(task_id, terminate)
        except RetryError as exc:
            self.actionFinished.emit(False, f"Nothing sent: {exc}")
            return
        except Exception as exc:
            self.actionFinished.emit(False, f"Could not send: {type(exc).__name__}: {exc}")
            return
        verb = "terminate (SIGTERM)" if terminate else "revoke"
        self.actionFinished.emit(True, f"Sent {verb} for {row['name'] or ''} {row.id}.")
