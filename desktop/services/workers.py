"""The worker service: the window's only door to workers and the broker's status.

A :class:`~pooldesk.desktop.services.base.ServiceThread`. Everything that touches the broker or a
process (``ensure_broker``, the periodic refresh, start, stop, restart, resize, forget) runs in its
thread, one call at a time, so the manager is used from a single thread and the GUI thread
never blocks on the network. Requests arrive as queued slot calls (connect a GUI-thread signal
to :meth:`start` and friends); results leave as signals.

Nothing long blocks the thread. A start spawns the worker, then the refresh watches it until
it answers ping, crashes or runs out of ``start_timeout``; only then is the operation reported.
A stop is a request to the backend's stopper (``WorkerManager.request_stop``: warm → cold →
kill) and each refresh ticks it (``tick_stops``); the rows carry the backend's "stopping" state
and progress ("waiting for tasks, 12 of 60 s"), so this service adds nothing to them.
:meth:`stopNow` hurries a stop (cold: running tasks return to the queue). A restart is a stop
request whose stopper starts the new spec; the refresh then watches it come online.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import replace
from urllib.parse import urlsplit

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.advisor.model import Fix, Thresholds
from pooldesk.backend.advisor.service import apply_fix
from pooldesk.backend.broker import BrokerError, current_config, ensure_broker
from pooldesk.backend.broker.status import BrokerStatus, broker_status
from pooldesk.backend.projects.brokers import prepare_start, project_brokers
from pooldesk.backend.projects.model import ProjectError
from pooldesk.backend.settings import Settings
from pooldesk.backend.workers.manager import WorkerError, WorkerInfo, WorkerManager
from pooldesk.backend.workers.reports import UNKNOWN_EXIT, ready_text, start_failure
from pooldesk.backend.workers.spec import SpecError, WorkerSpec, can_resize_live
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
EXIT_GRACE_S = 2.0
LOG_LINES_MAX = 5000
PROJECTS_EVERY_S = 5.0  # each project's own broker: state and backlog for the status bar
EXPECTED_ERRORS = (WorkerError, SpecError, BrokerError, OSError, ProjectError)
# What the status bar says while an operation runs: "Stopping w1…".
VERBS = {
    "start": "Starting",
    "stop": "Stopping",
    "stop now": "Not waiting for the running tasks of",
    "restart": "Restarting",
    "forget": "Forgetting",
    "resize": "Resizing",
    "fix": "Applying the fix to",
}


def doing(op: str, name: str) -> str:
    return f"{VERBS.get(op, op.capitalize())} {name}…"


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
        self._manager: WorkerManager | None = None
        self._refresh_timer: QTimer | None = None
        self._workers: list[WorkerInfo] = []
        self._remote: list[WorkerInfo] = []
        self._next_remote_scan = 0.0
        self._pending: dict[str, tuple[str, float]] = {}  # name → (op, monotonic deadline)
        self._graced: dict[str, float] = {}  # name → until when to wait for its exit status
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
        self._manager = WorkerManager.from_settings(self.settings, config)
        self._next_remote_scan = time.monotonic() + self._interval_ms / 1000  # local rows first
        self.refresh()

    def _on_settings(self, settings: Settings) -> None:
        """Timeouts and the crash-loop limits apply to the next start or stop."""
        if self._manager is None:
            return
        limits = Thresholds.from_settings(settings.advisor)
        self._manager.start_timeout = settings.start_timeout
        self._manager.stop_timeout = settings.stop_timeout
        self._manager.restarts = limits.crash_loop_starts
        self._manager.restart_window = limits.crash_loop_minutes * 60

    def _on_close(self) -> None:
        if self._manager is not None:
            self._manager.close()

    def _after_operation(self) -> None:
        self.refresh()

    def _poll_project_brokers(self) -> None:
        """Each project's own broker (state, backlog of its workers' queues); less often than
        the managed one: an unreachable one costs a connect timeout."""
        now = time.monotonic()
        if now < self._next_projects or self._manager is None:
            return
        self._next_projects = now + PROJECTS_EVERY_S
        found = []
        try:
            for project, config, queues in project_brokers(self._manager.store):
                found.append((project, broker_status(config, queues)))
        except Exception:
            log.exception("project broker status failed")
            return
        self.projectBrokersChanged.emit(found)

    @Slot()
    def refresh(self) -> None:
        if self._manager is None or self._closing:
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
        self._tick_stops()
        try:
            self._workers = self._list_workers()
        except Exception:
            log.exception("listing workers failed")  # keep showing the last list
        self._report_pending_starts()
        self.workersChanged.emit(list(self._workers))
        if self._refresh_timer is not None and not self._closing:
            # Watching a start or a stop: look again soon, so "online" or "stopped" is not late.
            busy = self._pending or self._manager.stopper.stopping()
            delay = min(PENDING_MS, self._interval_ms) if busy else self._interval_ms
            self._refresh_timer.start(delay)

    def _list_workers(self) -> list[WorkerInfo]:
        assert self._manager is not None
        if time.monotonic() < self._next_remote_scan:
            workers = self._manager.all(include_remote=False)
            local = {w.hostname for w in workers}
            return workers + [w for w in self._remote if w.hostname not in local]
        workers = self._manager.all(include_remote=True, remote_timeout=REMOTE_TIMEOUT_S)
        self._remote = [w for w in workers if w.remote]
        # A remote worker sent a shutdown shows as stopping until a scan no longer finds it.
        every = REMOTE_STOP_SCAN_S if self._manager.remote_stopping() else REMOTE_SCAN_S
        self._next_remote_scan = time.monotonic() + every
        return workers

    def _tick_stops(self) -> None:
        """Advance the backend's stops; report the finished ones, watch a restart's start."""
        assert self._manager is not None
        for event in self._manager.tick_stops():
            if event.kind == "failed":
                self._failed(event.op, event.name, event.error or WorkerError(event.text))
            elif event.kind == "stopped" and event.then is not None:
                self._watch(event.op, event.name)  # started by the stopper: report when online
            elif event.kind == "stopped":
                self.operationFinished.emit(event.op, event.name, True, event.text)

    # -- requests ----------------------------------------------------------------------------
    @Slot(object)
    def start(self, spec: WorkerSpec) -> None:
        def op() -> str | None:
            if spec.project:  # the app imports, the pool runs there, its broker answers
                prepare_start(spec.project, spec.pool)
            self._manager_or_raise().start(spec, wait=False, block=False)
            self._watch("start", spec.name)
            return None

        self._run("start", spec.name, doing("start", spec.name), op)

    @Slot(str)
    def stop(self, name: str) -> None:
        """Warm stop; reported when the worker is gone (each refresh ticks the stop). Asked
        again while stopping, a pending restart becomes a plain stop ("Stop now" hurries)."""

        def op() -> str | None:
            self._pending.pop(name, None)
            self._manager_or_raise().request_stop(name, op="stop")
            return None

        self._run("stop", name, doing("stop", name), op)

    @Slot(str)
    def stopNow(self, name: str) -> None:
        """Stop waiting for running tasks (cold); acks_late puts them back on the queue."""
        if self._manager is None or not self._manager.stopper.hurry(name):
            return
        self.operationStarted.emit("stop now", name, doing("stop now", name))
        self.refresh()

    def stopping(self) -> dict[str, str]:
        """Stops under way: name → progress (for tests and the close dialog)."""
        return self._manager.stopper.stopping() if self._manager is not None else {}

    @Slot(str, str, int)
    def restart(self, name: str, pool: str, concurrency: int) -> None:
        """Stop (warm) and start again; an empty pool or a concurrency of 0 keeps the current."""

        def op() -> str | None:
            spec = self._manager_or_raise().restart_spec(
                name, pool=pool or None, concurrency=concurrency or None
            )
            self._begin_restart("restart", name, spec)
            return None

        self._run("restart", name, doing("restart", name), op)

    @Slot(object)
    def applyFix(self, fix: Fix) -> None:
        """An advisor's fix the user confirmed. A restart fix is a restart (not blocking);
        the others are single quick calls."""
        name = str(fix.params.get("name", ""))

        def op() -> str | None:
            manager = self._manager_or_raise()
            if fix.kind == "restart_worker":
                spec = manager.restart_spec(
                    name, pool=fix.params.get("pool"), concurrency=fix.params.get("concurrency")
                )
                self._begin_restart("fix", name, spec)
                return None
            return apply_fix(manager, fix)

        self._run("fix", name, doing("fix", name), op)

    @Slot(str)
    def forget(self, name: str) -> None:
        def op() -> str | None:
            self._manager_or_raise().forget(name)
            return f"{name} removed from the list."

        self._run("forget", name, doing("forget", name), op)

    @Slot(str, int)
    def resize(self, name: str, concurrency: int) -> None:
        """A local worker: live (pool_grow/pool_shrink) where the backend says it can be
        (``can_resize_live``), else a restart with the new concurrency, watched like one."""

        def op() -> str | None:
            manager = self._manager_or_raise()
            if name in manager.stopper:
                raise WorkerError(f"{name} is stopping; resize it once it has started again")
            spec = manager.restart_spec(name, concurrency=concurrency)  # refuses bad input
            info = next((w for w in self._workers if w.name == name and not w.remote), None)
            state = info.state if info is not None else "unknown"
            if not can_resize_live(spec.pool, spec.autoscale, state):
                self._begin_restart("resize", name, spec)
                return None  # reported when it is back online
            result = manager.resize(name, concurrency)
            how = "live" if result.method == "live" else "restarted"
            return f"{name} resized to {result.concurrency} ({how})."

        self._run("resize", name, doing("resize", name), op)

    @Slot(str, int)
    def remoteResize(self, hostname: str, concurrency: int) -> None:
        """A remote worker grows or shrinks through the broker (pool_grow/pool_shrink)."""

        def op() -> str | None:
            manager = self._manager_or_raise()
            if concurrency < 1:
                raise WorkerError(f"concurrency {concurrency}: must be 1 or more")
            current = next((w for w in self._remote if w.hostname == hostname), None)
            if current is None or not current.concurrency:
                raise WorkerError(f"{hostname} is not a worker on this broker (any more)")
            delta = concurrency - current.concurrency
            if delta:
                manager.remote_resize(hostname, delta)
            # Show the new size now; the next remote scan confirms it.
            self._remote = [
                replace(w, concurrency=concurrency) if w.hostname == hostname else w
                for w in self._remote
            ]
            return f"{hostname} resized to {concurrency} (live)."

        self._run("resize", hostname, doing("resize", hostname), op)

    @Slot(str)
    def remoteStop(self, hostname: str) -> None:
        """Celery's broadcast ``shutdown`` to a remote worker (warm: its running tasks finish)."""

        def op() -> str | None:
            self._manager_or_raise().remote_shutdown(hostname)
            self._next_remote_scan = 0.0  # the refresh after this scans: the row shows stopping
            return f"Shutdown sent to {hostname}: it exits once its running tasks finish."

        self._run("stop", hostname, doing("stop", hostname), op)

    @Slot(str, int)
    def readLog(self, name: str, lines: int) -> None:
        """The last ``lines`` lines of a local worker's log, secrets masked, as ``logRead``.

        Not an operation: no status message, no refresh, a failure is shown in place."""
        if self._closing:
            return
        try:
            tail = self._manager_or_raise().logs(name, max(1, min(lines, LOG_LINES_MAX)))
        except Exception as exc:
            if not isinstance(exc, EXPECTED_ERRORS):
                log.exception("reading the log of %s failed", name)
            tail = [f"(the log could not be read: {describe(exc, EXPECTED_ERRORS)})"]
        masked = self._masked("\n".join(tail)).split("\n") if tail else []
        self.logRead.emit(name, masked)

    # -- helpers -----------------------------------------------------------------------------
    def _manager_or_raise(self) -> WorkerManager:
        if self._manager is None:
            raise WorkerError("the controller is not ready yet")
        return self._manager

    def _begin_restart(self, op: str, name: str, spec: WorkerSpec) -> None:
        # The backend's check-and-start under the worker's lock (one worker per name, whoever
        # asks): a running worker is stopped and the stopper starts ``spec`` afterwards.
        if self._manager_or_raise().request_restart(name, spec, op=op):
            self._watch(op, spec.name)

    def _watch(self, op: str, name: str) -> None:
        self._graced.pop(name, None)
        timeout = self._manager.start_timeout if self._manager else 30.0
        self._pending[name] = (op, time.monotonic() + timeout)

    def _report_pending_starts(self) -> None:
        by_name = {w.name: w for w in self._workers if not w.remote}
        for name, (op, deadline) in list(self._pending.items()):
            info = by_name.get(name)
            if info is None:
                del self._pending[name]
            elif info.state == "online":
                del self._pending[name]
                self.operationFinished.emit(op, name, True, ready_text(op, info))
            elif self._exit_not_recorded_yet(info):
                continue
            elif info.state in ("crashed", "stopped"):
                del self._pending[name]
                self._graced.pop(name, None)
                if not info.last_log and self._manager is not None:
                    with contextlib.suppress(Exception):
                        info.last_log = self._manager.logs(name, 15)
                self.operationFinished.emit(op, name, False, self._masked(start_failure(info)))
            elif time.monotonic() > deadline:
                del self._pending[name]
                text = f"{name} did not answer ping in time; it is still {info.state}."
                self.operationFinished.emit(op, name, False, self._masked(text))

    def _exit_not_recorded_yet(self, info: WorkerInfo) -> bool:
        """A process is gone a moment before its supervisor records how; wait that long."""
        if info.state != "crashed" or info.exit != UNKNOWN_EXIT:
            return False
        until = self._graced.setdefault(info.name, time.monotonic() + EXIT_GRACE_S)
        return time.monotonic() < until

    def _secrets(self) -> list[str]:
        return [self._broker_password]
