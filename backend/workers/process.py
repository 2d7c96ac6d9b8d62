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

import psutil

from backend import proc
from backend.broker.resolve import BrokerConfig
from backend.celery_app import MAX_CONNECTIONS_ENV, VISIBILITY_TIMEOUT_ENV
from backend.settings import load
from backend.workers.spec import WorkerSpec

COLD_GRACE_S = 5.0
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
        "--loglevel",
        "INFO",
    ]
    if spec.pool in ("gevent", "threads"):
        # Short I/O tasks: keep messages in hand so a freed slot never waits for the next broker
        # poll. Measured: gevent's consumer loop refilled only every ~1.75 s with a multiplier
        # of 1 (30 × 0.3-s tasks on -c 5 took 10.5 s instead of 1.9 s).
        argv += ["--prefetch-multiplier", str(IO_PREFETCH_MULTIPLIER)]
    if spec.autoscale:
        argv += [f"--autoscale={spec.autoscale[0]},{spec.autoscale[1]}"]
    return argv


def worker_env(spec: WorkerSpec, config: BrokerConfig) -> dict[str, str]:
    """The broker URL travels in the environment (mode-0400 /proc entry), not in argv."""
    env = dict(os.environ)
    env.update(spec.extra_env)
    env["PYTHONUNBUFFERED"] = "1"
    env[MAX_CONNECTIONS_ENV] = str(spec.max_concurrency + 20)
    if VISIBILITY_TIMEOUT_ENV not in env:
        env[VISIBILITY_TIMEOUT_ENV] = str(load().settings.visibility_timeout)
    if config.broker_url:
        env["POOLDESK_BROKER_URL"] = config.broker_url
        env["CELERY_BROKER_URL"] = config.broker_url
    if config.result_backend:
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
    spec: WorkerSpec, config: BrokerConfig, restarts: int = 3, window: float = 600.0
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


def stop(
    celery_pid: int | None,
    create_time: float | None,
    supervisor_pid: int | None,
    timeout: float,
    cold: bool = False,
) -> str:
    """Returns how it ended: ``warm``, ``cold`` or ``killed`` (or ``gone`` if already dead)."""
    how = "gone"
    if celery_pid and proc.alive(celery_pid, create_time):
        how = "warm"
        if not cold:
            _signal(celery_pid, signal.SIGTERM)
        if cold or not proc.wait_gone(celery_pid, create_time, timeout):
            how = "cold"
            _signal(celery_pid, signal.SIGQUIT)
            if not proc.wait_gone(celery_pid, create_time, COLD_GRACE_S):
                how = "killed"
    if how == "killed" or (celery_pid is None and supervisor_pid and proc.alive(supervisor_pid)):
        kill_group(supervisor_pid)
    # The supervisor writes the exit record and leaves by itself; orphaned pool children of a
    # killed main process (still in the group) are swept up here.
    if supervisor_pid and not proc.wait_gone(supervisor_pid, None, 5.0):
        kill_group(supervisor_pid)
    _sweep_group(supervisor_pid)
    return how


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
