"""Rows of the worker list: a local worker's facts turned into a :class:`WorkerInfo`, remote
workers found on the brokers added after them.

The manager gathers the facts (records, processes, a ping); this module only shapes them, so
what a row says about a worker — its state, why it crashed, how far its stop is — is decided
in one place for the CLI and the window alike. "stopping" has one owner: the state comes from
``states.derive`` (the stop request is in the record), the progress text from the manager's
:class:`~pooldesk.backend.workers.stopping.Stopper`, and a remote worker sent a shutdown is marked
by :class:`RemoteStops` until a scan no longer finds it; the window overlays nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.fsutil import tail_lines
from pooldesk.backend.projects.model import DEMO
from pooldesk.backend.redact import mask_url
from pooldesk.backend.workers.control import Control
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.records import ExitInfo, PidInfo, WorkerRecord
from pooldesk.backend.workers.resources import TreeSampler
from pooldesk.backend.workers.spec import DEFAULT_APP
from pooldesk.backend.workers.states import WorkerState, describe_exit

# After a remote shutdown: show the row as stopping until it is gone from the broker (or this
# long has passed: it may finish long tasks first).
REMOTE_STOP_WATCH_S = 120.0
REMOTE_STOP_PROGRESS = "shutdown sent"
CRASH_LOG_LINES = 15


def local_row(
    record: WorkerRecord,
    pid_info: PidInfo | None,
    exit_info: ExitInfo | None,
    state: WorkerState,
    *,
    alive: bool,
    progress: str | None,
    broker: str | None,
    restarts: int,
    restart_window: float,
    log_path: Path,
    sampler: TreeSampler,
) -> WorkerInfo:
    """One local worker as the list shows it; crashed ones carry their exit and last log."""
    spec = record.spec
    info = WorkerInfo(
        name=spec.name,
        hostname=record.hostname,
        pid=pid_info.celery_pid if pid_info and alive else None,
        pool=spec.pool,
        concurrency=spec.concurrency,
        queues=list(spec.queues),
        state=state.value,
        remote=False,
        started_at=record.started_at,
        ready_seconds=(record.ready_at - record.started_at)
        if record.ready_at and record.started_at
        else None,
        autoscale=list(spec.autoscale) if spec.autoscale else None,
        starts=list(record.starts),
        progress=progress if state == WorkerState.STOPPING else None,
        project=spec.project or (DEMO if spec.app == DEFAULT_APP else None),
        broker=broker,
    )
    if info.pid:
        sample = sampler.sample(info.pid)
        if sample:
            info.cpu_percent = round(sample.cpu_percent, 1)
            info.memory_bytes = sample.memory_bytes
            info.children = sample.children
    if exit_info is not None:
        info.crashes, info.gave_up = exit_info.crashes, exit_info.gave_up
    elif pid_info is not None:
        info.crashes = pid_info.crashes
    if state == WorkerState.CRASHED:
        info.exit = describe_exit(exit_info.returncode if exit_info else None)
        if exit_info is not None and exit_info.restarting:
            info.exit += f"; restarting automatically ({exit_info.crashes} of {restarts})"
        elif exit_info is not None and exit_info.gave_up:
            info.exit += (
                f"; gave up after {exit_info.crashes} crashes in {restart_window / 60:.0f} min"
            )
        info.last_log = tail_lines(log_path, CRASH_LOG_LINES)
    return info


def add_remote(
    out: list[WorkerInfo],
    by_host: dict[str, WorkerInfo],
    project: str | None,
    control: Control,
    timeout: float,
) -> None:
    """Workers answering on ``control``'s broker: counts for ours, new rows for the others."""
    for remote in control.remote_workers(timeout=timeout):
        mine = by_host.get(remote.hostname)
        if mine is not None:
            mine.active, mine.processed = remote.active, remote.processed
            continue
        by_host[remote.hostname] = info = WorkerInfo(
            name=remote.hostname.split("@", 1)[0],
            hostname=remote.hostname,
            pid=remote.pid,
            pool=remote.pool,
            concurrency=remote.concurrency,
            queues=remote.queues,
            state=WorkerState.REMOTE.value,
            remote=True,
            active=remote.active,
            processed=remote.processed,
            project=project,
            broker=control.config.masked_url,
        )
        out.append(info)


def broker_down(config: BrokerConfig, timeout: float = 0.5) -> str | None:
    """Why ``config``'s Redis broker does not answer (masked), or None if it does. Other
    transports are not checked here (None): the broker status owns that."""
    url = config.broker_url
    if not url or config.kind != "redis":
        return None
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
        return None
    except redis.RedisError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"{mask_url(url)} does not answer ({reason.replace(url, mask_url(url) or '')})"
    finally:
        client.close()


class RemoteStops:
    """Remote workers sent a shutdown: shown as stopping until a scan no longer finds them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}  # hostname → until when to show it so

    def sent(self, hostname: str) -> None:
        self._until[hostname] = self._clock() + REMOTE_STOP_WATCH_S

    def hosts(self) -> list[str]:
        """Hostnames still watched (a window scans for them sooner)."""
        return sorted(self._until)

    def mark(self, workers: list[WorkerInfo]) -> list[WorkerInfo]:
        """After a full scan: drop hosts gone or watched too long, mark the others stopping."""
        now, listed = self._clock(), {w.hostname for w in workers if w.remote}
        self._until = {h: t for h, t in self._until.items() if h in listed and t > now}
        for w in workers:
            if w.remote and w.hostname in self._until:
                w.state, w.progress = WorkerState.STOPPING.value, REMOTE_STOP_PROGRESS
        return workers
