"""The task-history service: every read of ``tasks.db`` and every task action off the GUI thread.

A :class:`~pooldesk.desktop.services.base.ServiceThread`. Every read (a page of rows, a count,
failure groups, one task's detail) and every action (retry, revoke — they reach the broker) runs
here, never on the GUI thread. Requests carry a number; the page drops answers to requests it has
since replaced (a filter typed faster than the answers come back). Every ``POLL_MS`` it asks
SQLite whether anyone wrote (``PRAGMA data_version``) and says so, so the page stays live
without re-reading for nothing. While the window is open it keeps its broker's recorder running
(``ensure_recorder``, lease). Actions report through the services' one operation shape.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal, Slot

from pooldesk.backend import paths
from pooldesk.backend.broker.resolve import current_config
from pooldesk.backend.setaside import take
from pooldesk.backend.settings import Settings
from pooldesk.backend.taskhistory import service
from pooldesk.backend.taskhistory.actions import TaskActions
from pooldesk.backend.taskhistory.query import Filter, TaskQuery
from pooldesk.backend.taskhistory.retry import RetryError, rebuild
from pooldesk.backend.taskhistory.store import TaskStore
from pooldesk.backend.units import plural
from pooldesk.desktop.services.base import ServiceThread

log = logging.getLogger(__name__)

POLL_MS = 1000
RECORDER_EVERY_S = 30.0


class TasksController(ServiceThread):
    pageReady = Signal(int, list, bool)  # request, list[TaskRow], more rows after these
    countReady = Signal(int, int)  # request, rows matching
    failuresReady = Signal(list, dict, list)  # list[FailureGroup], {name: (done, failed)}, gaps
    detailReady = Signal(object)  # dict: TaskRow.to_dict(full=True) + "retry"
    choicesReady = Signal(list, list)  # queues, workers seen in the history (filter boxes)
    storeChanged = Signal()
    setAside = Signal(str)  # a file set aside by any Pooldesk process: said once, by the window

    expected_errors = (RetryError,)

    def __init__(
        self,
        path: Path | None = None,
        manage_recorder: bool = True,
        settings: Settings | None = None,
    ) -> None:
        """``settings``: whose broker's recorder to keep running. None (a page alone, tests):
        the defaults, i.e. the managed broker."""
        super().__init__("pooldesk-tasks", settings or Settings())
        self._path = path
        self._manage_recorder = manage_recorder
        self._query: TaskQuery | None = None
        self._actions: TaskActions | None = None
        self._version: int | None = None
        self._next_recorder = 0.0
        self._announcing = False  # the window says what was set aside before it opened

    # -- service thread -----------------------------------------------------------------------
    def _on_start(self) -> None:
        try:
            TaskStore(self._path).close()  # creates or repairs the file before readers open it
        except Exception as exc:
            log.exception("opening the task history failed")
            self.operationFinished.emit("history", "", False, f"Task history unavailable: {exc}")
        self._query = TaskQuery(self._path)
        self._actions = TaskActions(TaskQuery(self._path), asker="window")
        self._timer(self._poll, single_shot=False).start(POLL_MS)
        self._poll()

    def _on_settings(self, settings: Settings) -> None:
        self._next_recorder = 0.0  # the broker may have changed: see to its recorder now

    def _on_close(self) -> None:
        for closable in (self._query, self._actions):
            if closable is not None:
                closable.close()
        if self._manage_recorder:  # quitting: a recorder no worker needs stops with us
            self._release_recorder()

    def _release_recorder(self) -> None:
        try:
            config = current_config(self.settings)
            if config.broker_url:
                service.release(service.broker_key(config.broker_url))
        except Exception:
            log.exception("releasing the task recorder failed")

    def _poll(self) -> None:
        if self._announcing:  # from the second poll on: the window has wired us by then
            for message in take(paths.root_path()):  # a file set aside anywhere: said once
                self.setAside.emit(message)
        self._announcing = True
        if self._manage_recorder and time.monotonic() >= self._next_recorder:
            self._next_recorder = time.monotonic() + RECORDER_EVERY_S
            try:
                config = current_config(self.settings)
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
            self.operationFinished.emit(
                "read", "", False, f"Reading the task history failed: {exc}"
            )
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
        def op() -> str:
            assert self._actions is not None
            sent = self._actions.retry(task_id, args_json, kwargs_json)
            return f"Sent {sent.plan.describe()} as task {sent.id}."

        self._run("retry", task_id, f"Sending task {task_id[:8]} again…", op, "Nothing sent")

    @Slot(str)
    def retryGroup(self, group: str) -> None:
        def op() -> str:
            assert self._actions is not None
            plans, skipped = self._actions.plan_group(group)
            sent = self._actions.retry_plans(plans)
            left_out = (
                f"{plural(len(skipped), 'task')} left out (arguments cannot be rebuilt: "
                f"{skipped[0][1]}) — retry those one by one with edited arguments"
                if skipped
                else ""
            )
            if not sent and skipped:
                raise RetryError(left_out)
            message = f"Sent {plural(len(sent), 'task')} again"
            message += f"; {left_out}" if left_out else ""
            return message + "."

        self._run("retry group", group, "Sending the group's tasks again…", op, "Nothing sent")

    @Slot(str, bool)
    def revoke(self, task_id: str, terminate: bool) -> None:
        verb = "terminate (SIGTERM)" if terminate else "revoke"

        def op() -> str:
            assert self._actions is not None
            row = self._actions.revoke(task_id, terminate)
            return f"Sent {verb} for {row['name'] or ''} {row.id}."

        op_name = "terminate" if terminate else "revoke"
        self._run(op_name, task_id, f"Sending {verb} for {task_id[:8]}…", op, "Nothing sent")
