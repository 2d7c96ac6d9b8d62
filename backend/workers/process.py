"""Spawning one worker's processes (supervisor → Celery main → pool children): argv and env.

Stopping them is ``pooldesk.backend.workers.stopping`` (warm → cold → kill, non-blocking).
"""

from __future__ import annotations

import os
import subprocess
import sys

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.celery_app import MAX_CONNECTIONS_ENV, VISIBILITY_TIMEOUT_ENV
from pooldesk.backend.settings import load
from pooldesk.backend.workers import options
from pooldesk.backend.workers.priority import NICE_ENV
from pooldesk.backend.workers.spec import WorkerSpec

__all__ = ["celery_argv", "spawn", "worker_env"]

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
    spec: WorkerSpec,
    config: BrokerConfig | None,
    restarts: int = 3,
    window: float = 600.0,
    adopt: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start the supervisor in its own session: it survives the window, and its pgid is ours.

    ``adopt``: the pid of this worker's Celery left running by a killed supervisor; the new
    supervisor retires it first (``supervise.retire_orphan``)."""
    supervisor = [
        "-m",
        "pooldesk.backend.workers.supervise",
        spec.name,
        "--restarts",
        str(restarts),
        "--window",
        str(window),
    ]
    if spec.project:  # the supervisor runs the project's interpreter in its workdir and env
        supervisor += ["--project", spec.project]
    if adopt:
        supervisor += ["--adopt", str(adopt)]
    return subprocess.Popen(
        [sys.executable, *supervisor, "--", *celery_argv(spec)],
        env=worker_env(spec, config),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
