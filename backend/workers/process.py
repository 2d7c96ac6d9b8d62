"""Spawning and stopping one worker's processes (supervisor → Celery main → pool children).

One way to stop: SIGTERM to Celery's *main process only* (warm: it finishes running tasks;
``killpg(SIGTERM)`` would also hit prefork children and fail their tasks), bounded by a
timeout; then SIGQUIT (cold: abandon tasks, which go back to the queue thanks to acks_late);
then SIGKILL to the whole process group so nothing is left behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import psutil

from backend import proc
from backend.broker.resolve import BrokerConfig
from backend.celery_app import MAX_CONNECTIONS_ENV, VISIBILITY_TIMEOUT_ENV
from backend.settings import load
from backend.workers import options
from backend.workers.priority import NICE_ENV
from backend.workers.spec import WorkerSpec

COLD_GRACE_S = 5.0
REAP_GRACE_S = 5.0
IO_PREFETCH_MULTIPLIER = 4


def celery_argv(spec: WorkerSpec) -> list[str]:
    """Arguments after ``celery``; an argument list, never a shell string."""
    argv = [
        "-A",
        spec.app,
        "worker",
        "-P",
        spec.pool,
        "-c",
        str(spec.concurrency),
        "-Q",
        ",".join(spec.queues),
        "-n",
        f"{spec.name}@%h",
        "-E",
        "--without-mingle",
        "--without-gossip",
    ]
    if spec.pool in ("gevent", "threads"):
        # Short I/O tasks: keep messages in hand so a freed slot never waits for the next broker
        # poll. Measured: gevent's consumer loop refilled only every ~1.75 s with a multiplier
        # of 1 (30 × 0.3-s tasks on -c 5 took 10.5 s instead of 1.9 s).
        argv += ["--prefetch-multiplier", str(IO_PREFETCH_MULTIPLIER)]
    if spec.autoscale:
        argv += [f"--autoscale={spec.autoscale[0]},{spec.autoscale[1]}"]
    return [*argv, *options.argv(spec)]


def worker_env(spec: WorkerSpec, config: BrokerConfig | None) -> dict[str, str]:
    """The broker URL travels in the environment (mode-0400 /proc entry), not in argv.

    ``config`` None: a project on its app's own broker — nothing here names a broker (the
    supervisor builds the project's environment from this one, see ``projects.runenv``)."""
    env = dict(os.environ)
    env.update(spec.extra_env)
    env["PYTHONUNBUFFERED"] = "1"
    env[MAX_CONNECTIONS_ENV] = str(spec.max_concurrency + 20)
    if VISIBILITY_TIMEOUT_ENV not in env or NICE_ENV not in env:
        settings = load().settings
        env.setdefault(VISIBILITY_TIMEOUT_ENV, str(settings.visibility_timeout))
        env.setdefault(NICE_ENV, str(settings.worker_nice))
    if config is not None and config.broker_url:
        env["POOLDESK_BROKER_URL"] = config.broker_url
        env["CELERY_BROKER_URL"] = config.broker_url
    if config is not None and config.result_backend:
        env["POOLDESK_RESULT_BACKEND"] = config.result_backend
        env["CELERY_RESULT_BACKEND"] = config.result_backend
    if spec.pool == "gevent":
        # gevent's own monitor thread measures event-loop blocking (see the advisor); without
        # the last setting every block prints a ~175-line report into the log.
        env.setdefault("GEVENT_MONITOR_THREAD_ENABLE", "true")
        env.setdefault("GEVENT_MAX_BLOCKING_TIME", "0.1")
        env.setdefault("GEVENT_MONITOR_PRINT_BLOCKING_REPORTS", "false")
    return env


def spawn(
    spec: WorkerSpec, config: BrokerConfig | None, restarts: int = 3, window: float = 600.0
) -> subprocess.Popen[bytes]:
    """Start the supervisor in its own session: it survives the window, and its pgid is ours."""
    supervisor = [
        "-m",
        "backend.workers.supervise",
        spec.name,
        "--restarts",
        str(restarts),
        "--window",
        str(window),
    ]
    if spec.project:  # the supervisor runs the project's interpreter in its workdir and env
        supervisor += ["--project", spec.project]
    return subprocess.Popen(
        [sys.executable, *supervisor, "--", *celery_argv(spec)],
        env=worker_env(spec, config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def kill_group(pgid: int | None) -> None:
    if pgid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class StopSequence:
    """Warm → cold → kill as a small state machine that the caller steps.

    The CLI steps it in a loop (:meth:`wait`); the window's controller steps it from its
    refresh timer, so a warm stop that waits a minute for running tasks blocks nothing, shows
    how long it has waited, and can be hurried (:meth:`hurry`: cold now) from the window.
    """

    def __init__(
        self,
        celery_pid: int | None,
        create_time: float | None,
        supervisor_pid: int | None,
        timeout: float,
        cold: bool = False,
    ) -> None:
        self.celery_pid, self.create_time = celery_pid, create_time
        self.supervisor_pid = supervisor_pid
        self.timeout = timeout
        self.how = "gone"  # warm, cold, killed or gone: how it ended (so far)
        self.phase = "new"  # new → warm → cold → reap → done
        self.began = time.monotonic()
        self._deadline = 0.0
        self._cold_requested = cold

    # -- driving -----------------------------------------------------------------------------
    def begin(self) -> StopSequence:
        if self.celery_pid and proc.alive(self.celery_pid, self.create_time):
            self.how = "warm"
            if self._cold_requested:
                self._go_cold()
            else:
                _signal(self.celery_pid, signal.SIGTERM)
                self.phase, self._deadline = "warm", time.monotonic() + self.timeout
        else:
            self._go_reap()
        return self

    def step(self) -> bool:
        """Advance without blocking; True once everything is gone."""
        now = time.monotonic()
        if self.phase in ("warm", "cold"):
            if not proc.alive(self.celery_pid, self.create_time):
                self._go_reap()
            elif now >= self._deadline:
                if self.phase == "warm":
                    self._go_cold()
                else:
                    self.how = "killed"
                    kill_group(self.supervisor_pid)
                    self._go_reap()
        if self.phase == "reap":
            # The supervisor writes the exit record and leaves by itself; orphaned pool children
            # of a killed main process (still in the group) are swept up here.
            gone = not self.supervisor_pid or not proc.alive(self.supervisor_pid)
            if gone or now >= self._deadline:
                if not gone:
                    kill_group(self.supervisor_pid)
                _sweep_group(self.supervisor_pid)
                self.phase = "done"
        return self.phase == "done"

    def hurry(self) -> None:
        """Stop waiting for running tasks: cold now (they go back to the queue, acks_late)."""
        if self.phase == "warm":
            self._go_cold()
        elif self.phase == "new":
            self._cold_requested = True

    def wait(self, poll: float = 0.05) -> str:
        while not self.step():
            time.sleep(poll)
        return self.how

    # -- what the window shows ---------------------------------------------------------------
    @property
    def waited(self) -> float:
        return time.monotonic() - self.began

    def describe(self) -> str:
        """``waiting for tasks, 12 of 60 s`` — the progress of a stop, short enough for a cell."""
        if self.phase == "warm":
            return f"waiting for tasks, {self.waited:.0f} of {self.timeout:.0f} s"
        if self.phase == "cold":
            return "abandoning tasks (back to the queue)"
        return "cleaning up"

    # -- transitions -------------------------------------------------------------------------
    def _go_cold(self) -> None:
        self.how = "cold"
        if self.celery_pid:
            _signal(self.celery_pid, signal.SIGQUIT)
        self.phase, self._deadline = "cold", time.monotonic() + COLD_GRACE_S

    def _go_reap(self) -> None:
        if self.celery_pid is None and self.supervisor_pid and proc.alive(self.supervisor_pid):
            kill_group(self.supervisor_pid)  # no pid record at all: nothing to ask nicely
        self.phase, self._deadline = "reap", time.monotonic() + REAP_GRACE_S


def stop(
    celery_pid: int | None,
    create_time: float | None,
    supervisor_pid: int | None,
    timeout: float,
    cold: bool = False,
) -> str:
    """Stop and wait; returns how it ended: ``warm``, ``cold``, ``killed`` or ``gone``."""
    return StopSequence(celery_pid, create_time, supervisor_pid, timeout, cold).begin().wait()


def _sweep_group(pgid: int | None) -> None:
    if not pgid:
        return
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid:
                kill_group(pgid)
                return
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
