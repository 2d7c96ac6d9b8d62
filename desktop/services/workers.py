"""The worker service: the window's only door to workers and the broker's status.

A :class:`~pooldesk.desktop.services.base.ServiceThread`. Everything that touches the broker or a
process (``ensure_broker``, the periodic refresh, every operation on a worker) runs in its
thread, one call at a time, so the backend is used from a single thread and the GUI thread never
blocks on the network. Requests arrive as queued slot calls (connect a GUI-thread signal to
:meth:`start` and friends); results leave as signals.

This service only schedules: each slot builds a :class:`~pooldesk.backend.operations.Request`
and submits it to the operations API (the same one the CLI and the fleet agent use), and each
refresh ticks it (``Operations.tick``: the stop escalation, a restart's start, the watch of a
start until it is online, crashed or late) and forwards the outcomes as ``operationFinished``.
The project check, the live-or-restart decision of a resize and the free-name scheme are the
API's; this module never calls the worker manager (``tests/unit/test_window_operations.py``
and the ``desktop-through-operations`` import contract fail if it does). The rows carry the
backend's "stopping" state and progress ("waiting for tasks, 12 of 60 s").
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.advisor.model import Fix
from pooldesk.backend.broker import BrokerError, current_config, ensure_broker
from pooldesk.backend.broker.status import BrokerStatus, broker_status
from pooldesk.backend.operations import Operations, Outcome, Request, RequestError, doing
from pooldesk.backend.projects.brokers import project_brokers
from pooldesk.backend.projects.model import ProjectError
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers.info import WorkerError, WorkerInfo
from pooldesk.backend.workers.spec import SpecError, WorkerSpec
from pooldesk.desktop.services.base import ServiceThread, describe

log = logging.getLogger(__name__)

REFRESH_MS = 1500
PENDING_MS = 250
REMOTE_TIMEOUT_S = 0.8
# Discovering remote workers costs ~3 s per scan (three broadcasts, each waiting the whole
# timeout), during which requests wait; local state is cheap. So local workers refresh every
# tick and remote ones at most this often (set it to 0 to scan on every tick).
REMOTE_SCAN_S = 10.0
# After a remote shutdown: look for the worker this often until it is gone from the broker
# (the backend shows it as stopping meanwhile).
REMOTE_STOP_SCAN_S = 2.0
LOG_LINES_MAX = 5000
PROJECTS_EVERY_S = 5.0  # each project's own broker: state and backlog for the status bar
EXPECTED_ERRORS = (WorkerError, SpecError, BrokerError, OSError, ProjectError)
# The window's names for the API's ops (operationStarted/Finished and the status bar).
LABELS = {"stop_now": "stop now", "apply_fix": "fix"}


def label(op: str) -> str:
    return LABELS.get(op, op)


class WorkerController(ServiceThread):
    workersChanged = Signal(list)  # list[WorkerInfo], local first, then remote
    brokerChanged = Signal(object)  # BrokerStatus
    # (project, BrokerStatus) for each project's own broker in use, every PROJECTS_EVERY_S
    projectBrokersChanged = Signal(list)
    logRead = Signal(str, list)  # worker name, its last log lines (secrets masked)

    expected_errors = EXPECTED_ERRORS

    def __init__(self, settings: Settings, interval_ms: int = REFRESH_MS) -> None:
        super().__init__("pooldesk-controller", settings)
        self._next_projects = 0.0
        self._interval_ms = interval_ms
        self._ops: Operations | None = None
        self._refresh_timer: QTimer | None = None
        self._workers: list[WorkerInfo] = []
        self._remote: list[WorkerInfo] = []
        self._next_remote_scan = 0.0
        self._broker_password = ""  # masked in every message

    # -- in the service thread ---------------------------------------------------------------
    def _on_start(self) -> None:
        self._refresh_timer = self._timer(self.refresh)
        config = None
        try:
            config = ensure_broker(self.settings)
        except Exception as exc:
            log.exception("broker start-up failed")
            message = self._masked(describe(exc))
            self.operationFinished.emit(
                "broker", "", False, f"The broker could not be started.\n\n{message}"
            )
        self._ops = Operations.from_settings(self.settings, config)
        self._next_remote_scan = time.monotonic() + self._interval_ms / 1000  # local rows first
        self.refresh()

    def _on_settings(self, settings: Settings) -> None:
        """Timeouts and the crash-loop limits apply to the next start or stop."""
        if self._ops is not None:
            self._ops.configure(settings)

    def _on_close(self) -> None:
        if self._ops is not None:
            self._ops.close()

    def _after_operation(self) -> None:
        self.refresh()

    def _poll_project_brokers(self) -> None:
        """Each project's own broker (state, backlog of its workers' queues); less often than
        the managed one: an unreachable one costs a connect timeout."""
        now = time.monotonic()
        if now < self._next_projects or self._ops is None:
            return
        self._next_projects = now + PROJECTS_EVERY_S
        found = []
        try:
            for project, config, queues in project_brokers(self._ops.store):
                found.append((project, broker_status(config, queues)))
        except Exception:
            log.exception("project broker status failed")
            return
        self.projectBrokersChanged.emit(found)

    @Slot()
    def refresh(self) -> None:
        if self._ops is None or self._closing:
            return
        try:
            config = current_config(self.settings)  # the pushed settings: no file read
            self._broker_password = urlsplit(config.broker_url or "").password or ""
            status = broker_status(config)
        except Exception as exc:
            log.exception("broker status failed")
            status = BrokerStatus(url=None, managed=False, up=False, error=describe(exc))
        status.error = self._masked(status.error) if status.error else None
        self.brokerChanged.emit(status)
        self._poll_project_brokers()
        # Stops advance first, then the list is read, then pending starts are judged from it.
        self._forward(self._ops.tick(rows=self._list))
        self.workersChanged.emit(list(self._workers))
        if self._refresh_timer is not None and not self._closing:
            # Watching a start or a stop: look again soon, so "online" or "stopped" is not late.
            busy = self._ops.busy()
            delay = min(PENDING_MS, self._interval_ms) if busy else self._interval_ms
            self._refresh_timer.start(delay)

    def _list(self) -> list[WorkerInfo]:
        try:
            self._workers = self._list_workers()
        except Exception:
            log.exception("listing workers failed")  # keep showing the last list
        return self._workers

    def _list_workers(self) -> list[WorkerInfo]:
        assert self._ops is not None
        if time.monotonic() < self._next_remote_scan:
            workers = self._ops.workers(include_remote=False)
            local = {w.hostname for w in workers}
            return workers + [w for w in self._remote if w.hostname not in local]
        workers = self._ops.workers(include_remote=True, remote_timeout=REMOTE_TIMEOUT_S)
        self._remote = [w for w in workers if w.remote]
        # A remote worker sent a shutdown shows as stopping until a scan no longer finds it.
        every = REMOTE_STOP_SCAN_S if self._ops.remote_stopping() else REMOTE_SCAN_S
        self._next_remote_scan = time.monotonic() + every
        return workers

    def _forward(self, outcomes: list[Outcome]) -> None:
        """Final outcomes as ``operationFinished``; a request replaced by a later one (a stop
        asked while a restart waited) is not shown: the later one reports."""
        for outcome in outcomes:
            if not outcome.final or "superseded_by" in outcome.data:
                continue
            text = outcome.text if outcome.ok else outcome.text[:1].upper() + outcome.text[1:]
            op, ok = label(outcome.op), outcome.ok
            self.operationFinished.emit(op, outcome.name, ok, self._masked(text))

    # -- requests ----------------------------------------------------------------------------
    @Slot(object)
    def start(self, spec: WorkerSpec) -> None:
        params = {k: v for k, v in spec.to_dict().items() if k != "name"}
        self._submit("start", spec.name, params)

    @Slot(str)
    def stop(self, name: str) -> None:
        """Warm stop; reported when the worker is gone (each refresh ticks the stop). Asked
        again while stopping, a pending restart becomes a plain stop ("Stop now" hurries)."""
        self._submit("stop", name)

    @Slot(str)
    def stopNow(self, name: str) -> None:
        """Stop waiting for running tasks (cold); acks_late puts them back on the queue."""
        if self._ops is None or self._closing:
            return
        if self._outcome("stop_now", name, {}).ok:
            self.operationStarted.emit("stop now", name, doing("stop_now", name))
            self.refresh()

    def stopping(self) -> dict[str, str]:
        """Stops under way: name → progress (for tests and the close dialog)."""
        return self._ops.stopping() if self._ops is not None else {}

    @Slot(str, str, int)
    def restart(self, name: str, pool: str, concurrency: int) -> None:
        """Stop (warm) and start again; an empty pool or a concurrency of 0 keeps the current."""
        params: dict[str, Any] = {"pool": pool or None, "concurrency": concurrency or None}
        self._submit("restart", name, params)

    @Slot(object)
    def applyFix(self, fix: Fix) -> None:
        """An advisor's fix the user confirmed: the API's ``apply_fix`` (a restart fix is a
        restart, checked and watched like one)."""
        name = str(fix.params.get("name", "")) or "broker"
        params = {"kind": fix.kind, "params": dict(fix.params)}
        self._submit("apply_fix", name, params)

    @Slot(str)
    def forget(self, name: str) -> None:
        self._submit("forget", name)

    @Slot(str, int)
    def resize(self, name: str, concurrency: int) -> None:
        """Live where the pool allows it, else a restart watched like one (the API decides)."""
        self._submit("resize", name, {"concurrency": concurrency})

    @Slot(str, int)
    def remoteResize(self, hostname: str, concurrency: int) -> None:
        """A remote worker grows or shrinks through the broker (pool_grow/pool_shrink)."""
        current = next((w for w in self._remote if w.hostname == hostname), None)
        size = current.concurrency if current is not None else None
        params = {"concurrency": concurrency, "current": size}
        if self._submit("resize", hostname, params):
            # Show the new size now; the next remote scan confirms it.
            self._remote = [
                replace(w, concurrency=concurrency) if w.hostname == hostname else w
                for w in self._remote
            ]

    @Slot(str)
    def remoteStop(self, hostname: str) -> None:
        """Celery's broadcast ``shutdown`` to a remote worker (warm: its running tasks finish)."""
        if self._submit("stop", hostname):
            self._next_remote_scan = 0.0  # the refresh after this scans: the row shows stopping

    @Slot(str, int)
    def readLog(self, name: str, lines: int) -> None:
        """The last ``lines`` lines of a local worker's log, secrets masked, as ``logRead``.

        Not an operation: no status message, no refresh, a failure is shown in place."""
        if self._closing:
            return
        wanted = max(1, min(lines, LOG_LINES_MAX))
        outcome = self._outcome("logs", name, {"lines": wanted})
        if outcome.ok:
            tail = [str(line) for line in outcome.data.get("lines", [])]
        else:
            text = outcome.text
            tail = [f"(the log could not be read: {text[:1].upper() + text[1:]})"]
        masked = self._masked("\n".join(tail)).split("\n") if tail else []
        self.logRead.emit(name, masked)

    # -- helpers -----------------------------------------------------------------------------
    def _submit(self, op: str, subject: str, params: dict[str, Any] | None = None) -> bool:
        """One operation: ``operationStarted``, the API's outcome (a final one is reported now,
        a pending one by a later refresh), then a refresh. True unless it failed."""
        if self._closing:
            return False
        self.operationStarted.emit(label(op), subject, doing(op, subject))
        outcome = self._outcome(op, subject, params or {})
        self._forward([outcome])
        self._after_operation()
        return outcome.ok

    def _outcome(self, op: str, name: str, params: dict[str, Any]) -> Outcome:
        """Submit in this thread; a request that cannot be built is refused like any other."""
        if self._ops is None:
            return Outcome("", op, name, "failed", False, "the controller is not ready yet")
        try:
            request = Request(op, name, params)
        except RequestError as exc:
            return Outcome("", op, name, "failed", False, str(exc), {"reason": "invalid"})
        return self._ops.submit(request)

    def _secrets(self) -> list[str]:
        return [self._broker_password]
