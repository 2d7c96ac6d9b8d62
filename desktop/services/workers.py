"""The window's only door to the backend: a QObject living in its own QThread.

Everything that touches the broker or a process (``ensure_broker``, the periodic refresh, start,
stop, restart, forget) runs in that thread, one call at a time, so the manager is used from a
single thread and the GUI thread never blocks on the network. Requests arrive as queued slot
calls (connect a GUI-thread signal to :meth:`start` and friends); results leave as signals.

Nothing long blocks the thread. A start spawns the worker, then the refresh watches it until
it answers ping, crashes or runs out of ``start_timeout``; only then is the operation reported.
A stop sends the warm-stop signal and the refresh steps its :class:`StopSequence` (warm → cold
→ kill), showing how long it has waited for running tasks; :meth:`stopNow` hurries it (cold:
running tasks return to the queue). A restart is a stop followed by a start.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from backend import settings as settings_mod
from backend.advisor.model import Fix
from backend.advisor.service import apply_fix
from backend.broker import BrokerError, current_config, ensure_broker
from backend.broker.status import BrokerStatus, broker_status
from backend.projects.brokers import prepare_start
from backend.projects.model import ProjectError
from backend.redact import mask_text
from backend.workers.manager import LIVE_RESIZE_POOLS, WorkerError, WorkerInfo, WorkerManager
from backend.workers.process import StopSequence
from backend.workers.spec import SpecError, WorkerSpec

log = logging.getLogger(__name__)

REFRESH_MS = 1500
PENDING_MS = 250
REMOTE_TIMEOUT_S = 0.8
# Discovering remote workers costs ~3 s per scan (three broadcasts, each waiting the whole
# timeout), during which requests wait; local state is cheap. So local workers refresh every
# tick and remote ones at most this often (set it to 0 to scan on every tick).
REMOTE_SCAN_S = 10.0
UNKNOWN_EXIT = "exit status unknown"  # backend.workers.states.describe_exit(None)
EXIT_GRACE_S = 2.0
LOG_LINES_MAX = 5000
# After a remote shutdown: show the row as stopping, and look for it this often, until it is
# gone from the broker (or this long has passed: it may finish long tasks first).
REMOTE_STOP_SCAN_S = 2.0
REMOTE_STOP_WATCH_S = 120.0
EXPECTED_ERRORS = (WorkerError, SpecError, BrokerError, OSError, ProjectError)
ENDINGS = {
    "warm": "after its running tasks finished",
    "cold": "without waiting; its running tasks went back to the queue",
    "killed": "killed: it did not exit on its own",
    "gone": "it had already exited",
}


@dataclass
class _Stopping:
    """A stop under way: what asked for it, its sequence, and what to start afterwards."""

    op: str  # "stop", "restart" or "fix"
    sequence: StopSequence
    then: WorkerSpec | None = None


class WorkerController(QObject):
    workersChanged = Signal(list)  # list[WorkerInfo], local first, then remote
    brokerChanged = Signal(object)  # BrokerStatus
    operationStarted = Signal(str, str)  # op, worker name
    # op, worker name, ok, message: first line a summary, after a blank line the detail
    operationFinished = Signal(str, str, bool, str)
    logRead = Signal(str, list)  # worker name, its last log lines (secrets masked)
    _shutdownRequested = Signal()

    def __init__(self, interval_ms: int = REFRESH_MS) -> None:
        super().__init__()  # no parent: it moves to its own thread
        self._interval_ms = interval_ms
        self._manager: WorkerManager | None = None
        self._timer: QTimer | None = None
        self._workers: list[WorkerInfo] = []
        self._remote: list[WorkerInfo] = []
        self._next_remote_scan = 0.0
        self._pending: dict[str, tuple[str, float]] = {}  # name → (op, monotonic deadline)
        self._graced: dict[str, float] = {}  # name → until when to wait for its exit status
        self._stopping: dict[str, _Stopping] = {}
        self._remote_stopping: dict[str, float] = {}  # hostname → until when to show it so
        self._closing = False
        self._home_thread = self.thread()
        self._thread = QThread()
        self._thread.setObjectName("pooldesk-controller")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._on_thread_started)
        self._shutdownRequested.connect(self._teardown)

    # -- called from the GUI thread ----------------------------------------------------------
    def launch(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Finish the current call, stop the timer, close broker connections, join the thread.

        Blocks for at most the current operation (every backend call is bounded: a stop by
        the stop timeout, a refresh by the broker timeouts).
        """
        if self._thread.isRunning():
            self._shutdownRequested.emit()
            self._thread.wait()

    # -- in the controller thread ------------------------------------------------------------
    @Slot()
    def _on_thread_started(self) -> None:
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)  # re-armed after each refresh: no pile-up when slow
        self._timer.timeout.connect(self.refresh)
        config = None
        cfg = settings_mod.Settings()
        try:
            loaded = settings_mod.load()
            if loaded.message:
                self.operationFinished.emit("settings", "", False, loaded.message)
            cfg = loaded.settings
            config = ensure_broker(loaded.settings)
        except Exception as exc:
            log.exception("broker start-up failed")
            message = self._masked(_describe(exc))
            self.operationFinished.emit(
                "broker", "", False, f"The broker could not be started.\n\n{message}"
            )
        self._manager = WorkerManager.from_settings(cfg, config)
        self._next_remote_scan = time.monotonic() + self._interval_ms / 1000  # local rows first
        self.refresh()

    @Slot()
    def _teardown(self) -> None:
        self._closing = True
        if self._timer is not None:
            self._timer.stop()
        if self._manager is not None:
            try:
                self._manager.close()
            except Exception:
                log.exception("closing the worker manager failed")
        self.moveToThread(self._home_thread)  # the timer (a child) goes too, stopped
        self._thread.quit()

    @Slot()
    def refresh(self) -> None:
        if self._manager is None or self._closing:
            return
        try:
            status = broker_status(current_config())
        except Exception as exc:
            log.exception("broker status failed")
            status = BrokerStatus(url=None, managed=False, up=False, error=_describe(exc))
        status.error = self._masked(status.error) if status.error else None
        self.brokerChanged.emit(status)
        self._step_stops()
        try:
            self._workers = self._list_workers()
        except Exception:
            log.exception("listing workers failed")  # keep showing the last list
        self._report_pending_starts()
        self.workersChanged.emit(self._with_progress(self._workers))
        if self._timer is not None and not self._closing:
            # Watching a start or a stop: look again soon, so "online" or "stopped" is not late.
            busy = self._pending or self._stopping
            self._timer.start(min(PENDING_MS, self._interval_ms) if busy else self._interval_ms)

    def _list_workers(self) -> list[WorkerInfo]:
        assert self._manager is not None
        if time.monotonic() < self._next_remote_scan:
            workers = self._manager.all(include_remote=False)
            local = {w.hostname for w in workers}
            return workers + [w for w in self._remote if w.hostname not in local]
        workers = self._manager.all(include_remote=True, remote_timeout=REMOTE_TIMEOUT_S)
        self._remote = [w for w in workers if w.remote]
        self._next_remote_scan = time.monotonic() + REMOTE_SCAN_S
        return workers

    @Slot(object)
    def start(self, spec: WorkerSpec) -> None:
        def op() -> str | None:
            if spec.project:  # the app imports, the pool runs there, its broker answers
                prepare_start(spec.project, spec.pool)
            self._manager_or_raise().start(spec, wait=False)
            self._watch("start", spec.name)
            return None

        self._run("start", spec.name, op)

    @Slot(str)
    def stop(self, name: str) -> None:
        """Warm stop; reported when the worker is gone (the refresh steps the sequence)."""

        def op() -> str | None:
            if name in self._stopping:  # already stopping: "Stop now" is the way to hurry it
                self._stopping[name].op, self._stopping[name].then = "stop", None  # no restart
                return None
            self._pending.pop(name, None)
            self._begin_stop("stop", name)
            return None

        self._run("stop", name, op)

    @Slot(str)
    def stopNow(self, name: str) -> None:
        """Stop waiting for running tasks (cold); acks_late puts them back on the queue."""
        stopping = self._stopping.get(name)
        if stopping is None:
            return
        stopping.sequence.hurry()
        self.operationStarted.emit("stop now", name)
        self.refresh()

    def stopping(self) -> dict[str, str]:
        """Stops under way: name → progress (for tests and the close dialog)."""
        return {name: s.sequence.describe() for name, s in self._stopping.items()}

    @Slot(str, str, int)
    def restart(self, name: str, pool: str, concurrency: int) -> None:
        """Stop (warm) and start again; an empty pool or a concurrency of 0 keeps the current."""

        def op() -> str | None:
            spec = self._manager_or_raise().restart_spec(
                name, pool=pool or None, concurrency=concurrency or None
            )
            self._begin_restart("restart", name, spec)
            return None

        self._run("restart", name, op)

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

        self._run("fix", name, op)

    @Slot(str)
    def forget(self, name: str) -> None:
        def op() -> str | None:
            self._manager_or_raise().forget(name)
            return f"{name} removed from the list."

        self._run("forget", name, op)

    @Slot(str, int)
    def resize(self, name: str, concurrency: int) -> None:
        """A local worker: live (pool_grow/pool_shrink) for an online prefork or gevent worker,
        else a restart with the new concurrency (a stop and a start, watched like a restart)."""

        def op() -> str | None:
            manager = self._manager_or_raise()
            if name in self._stopping:
                raise WorkerError(f"{name} is stopping; resize it once it has started again")
            spec = manager.restart_spec(name, concurrency=concurrency)  # refuses bad input
            info = next((w for w in self._workers if w.name == name and not w.remote), None)
            live = (
                info is not None
                and info.state == "online"
                and spec.pool in LIVE_RESIZE_POOLS
                and not spec.autoscale
            )
            if not live:
                self._begin_restart("resize", name, spec)
                return None  # reported when it is back online
            result = manager.resize(name, concurrency)
            how = "live" if result.method == "live" else "restarted"
            return f"{name} resized to {result.concurrency} ({how})."

        self._run("resize", name, op)

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

        self._run("resize", hostname, op)

    @Slot(str)
    def remoteStop(self, hostname: str) -> None:
        """Celery's broadcast ``shutdown`` to a remote worker (warm: its running tasks finish)."""

        def op() -> str | None:
            self._manager_or_raise().remote_shutdown(hostname)
            now = time.monotonic()
            self._remote_stopping[hostname] = now + REMOTE_STOP_WATCH_S
            self._next_remote_scan = min(self._next_remote_scan, now + REMOTE_STOP_SCAN_S)
            return f"Shutdown sent to {hostname}: it exits once its running tasks finish."

        self._run("stop", hostname, op)

    @Slot(str, int)
    def readLog(self, name: str, lines: int) -> None:
        """The last ``lines`` lines of a local worker's log, secrets masked, as ``logRead``.

        Not an operation: no status message, no refresh, a failure is shown in place."""
        if self._closing:
            return
        try:
            tail = self._manager_or_raise().logs(name, max(1, min(lines, LOG_LINES_MAX)))
        except EXPECTED_ERRORS as exc:
            tail = [f"(the log could not be read: {_describe(exc)})"]
        except Exception as exc:
            log.exception("reading the log of %s failed", name)
            tail = [f"(the log could not be read: {type(exc).__name__}: {exc})"]
        masked = self._masked("\n".join(tail)).split("\n") if tail else []
        self.logRead.emit(name, masked)

    # -- helpers -----------------------------------------------------------------------------
    def _run(self, op: str, name: str, call: Callable[[], str | None]) -> None:
        """Run one request; every failure becomes a message, none escapes the thread."""
        if self._closing:
            return
        self.operationStarted.emit(op, name)
        try:
            message = call()
        except Exception as exc:
            self._failed(op, name, exc)
        else:
            if message is not None:
                self.operationFinished.emit(op, name, True, message)
        self.refresh()

    def _failed(self, op: str, name: str, exc: Exception) -> None:
        """An operation's failure as a message: expected ones as they read, others with their
        type (and a traceback in the log)."""
        if isinstance(exc, EXPECTED_ERRORS):
            text = _describe(exc)
        else:
            log.exception("%s %s failed", op, name)
            text = f"Unexpected error: {type(exc).__name__}: {exc}"
        self.operationFinished.emit(op, name, False, self._masked(text))

    def _manager_or_raise(self) -> WorkerManager:
        if self._manager is None:
            raise WorkerError("the controller is not ready yet")
        return self._manager

    def _begin_stop(self, op: str, name: str, then: WorkerSpec | None = None) -> None:
        sequence = self._manager_or_raise().begin_stop(name)
        self._stopping[name] = _Stopping(op, sequence, then)
        self._show_state(name, "stopping", sequence.describe())

    def _begin_restart(self, op: str, name: str, spec: WorkerSpec) -> None:
        if name in self._stopping:
            raise WorkerError(f"{name} is already stopping; start it again once it has stopped")
        if self._manager_or_raise().is_running(name):
            self._begin_stop(op, name, then=spec)
        else:
            self._start_after_stop(op, spec)

    def _start_after_stop(self, op: str, spec: WorkerSpec) -> None:
        self._manager_or_raise().start(spec, wait=False)
        self._watch(op, spec.name)

    def _step_stops(self) -> None:
        """Advance every stop under way; report the finished ones, start what a restart wants."""
        for name, stopping in list(self._stopping.items()):
            try:
                if not stopping.sequence.step():
                    continue
                del self._stopping[name]
                info = self._manager_or_raise().finish_stop(name)
                if stopping.then is not None:
                    self._start_after_stop(stopping.op, stopping.then)
                elif info.state == "stopped":
                    ending = ENDINGS.get(stopping.sequence.how, stopping.sequence.how)
                    self.operationFinished.emit(
                        stopping.op, name, True, f"{name} stopped ({ending})."
                    )
                else:
                    raise WorkerError(f"{name} is {info.state} after the stop request")
            except Exception as exc:
                self._stopping.pop(name, None)
                self._failed(stopping.op, name, exc)

    def _with_progress(self, workers: list[WorkerInfo]) -> list[WorkerInfo]:
        return self._mark_remote_stopping(
            [
                replace(w, progress=self._stopping[w.name].sequence.describe())
                if w.name in self._stopping and not w.remote
                else w
                for w in workers
            ]
        )

    def _mark_remote_stopping(self, workers: list[WorkerInfo]) -> list[WorkerInfo]:
        """Remote workers sent a shutdown show as stopping until a scan no longer finds them."""
        if not self._remote_stopping:
            return workers
        now, listed = time.monotonic(), {w.hostname for w in workers if w.remote}
        self._remote_stopping = {
            host: until
            for host, until in self._remote_stopping.items()
            if host in listed and until > now
        }
        if self._remote_stopping:
            self._next_remote_scan = min(self._next_remote_scan, now + REMOTE_STOP_SCAN_S)
        return [
            replace(w, state="stopping", progress="shutdown sent")
            if w.remote and w.hostname in self._remote_stopping
            else w
            for w in workers
        ]

    def _watch(self, op: str, name: str) -> None:
        self._graced.pop(name, None)
        timeout = self._manager.start_timeout if self._manager else 30.0
        self._pending[name] = (op, time.monotonic() + timeout)

    def _show_state(self, name: str, state: str, progress: str | None = None) -> None:
        """Show a state at once, before the next refresh confirms it."""
        self.workersChanged.emit(
            [
                replace(w, state=state, progress=progress) if w.name == name and not w.remote else w
                for w in self._workers
            ]
        )

    def _report_pending_starts(self) -> None:
        by_name = {w.name: w for w in self._workers if not w.remote}
        for name, (op, deadline) in list(self._pending.items()):
            info = by_name.get(name)
            if info is None:
                del self._pending[name]
            elif info.state == "online":
                del self._pending[name]
                ready = f", ready in {info.ready_seconds:.1f} s" if info.ready_seconds else ""
                shape = f"{info.pool} × {info.concurrency}"
                done = (
                    f"{name} is online ({shape}{ready})."
                    if op == "start"
                    else f"{name} restarted as {shape}{ready}."
                )
                self.operationFinished.emit(op, name, True, done)
            elif self._exit_not_recorded_yet(info):
                continue
            elif info.state in ("crashed", "stopped"):
                del self._pending[name]
                self._graced.pop(name, None)
                if not info.last_log and self._manager is not None:
                    with contextlib.suppress(Exception):
                        info.last_log = self._manager.logs(name, 15)
                self.operationFinished.emit(op, name, False, self._masked(_start_failure(info)))
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

    def _masked(self, text: str) -> str:
        secrets: list[str] = []
        try:
            url = current_config().broker_url
            if url and urlsplit(url).password:
                secrets.append(urlsplit(url).password or "")
        except Exception:
            pass  # masking URLs below still applies
        return mask_text(text, secrets)


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text[:1].upper() + text[1:]


def _start_failure(info: WorkerInfo) -> str:
    how = info.exit or "exit status unknown"
    summary = f"{info.name} {'crashed' if info.state == 'crashed' else 'stopped'} while starting"
    lines = [line for line in info.last_log if line.strip()]
    detail = "\n".join(lines) if lines else "(its log is empty)"
    return f"{summary} ({how}).\n\nLast lines of its log:\n{detail}"
