"""Immutable snapshots of the event monitor's state: what readers (the GUI, the CLI) get.

Built in the monitor's thread and handed over whole; never mutated afterwards, so a reader can
keep one as long as it likes. Mappings are ``MappingProxyType`` (read-only) views of dicts
nobody else holds. ``to_dict()`` gives plain JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pooldesk.backend.telemetry.tally import TallyView

from pooldesk.backend.telemetry.fitstate import WorkerFit


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class WorkerView:
    hostname: str  # NAME@host, as Celery names it
    online: bool  # worker-online/heartbeat seen, no worker-offline, heartbeats not overdue
    active: int  # tasks started and not finished (from events; reset by a resync)
    processed: int  # tasks finished here (succeeded + failed), the worker's own count if higher
    succeeded: int
    failed: int
    last_heartbeat: float | None  # event timestamp of the last worker-* event
    freq: float  # heartbeat interval the worker announced (s)
    loadavg: tuple[float, ...] | None
    sw_ident: str | None  # "py-celery"
    sw_ver: str | None
    pid: int | None  # the worker's main pid as it reports it
    reported_active: int | None  # ``active`` in the last heartbeat, to compare
    # From the in-worker probe's ``worker-loop`` events (_pooldesk_probe); None elsewhere.
    loop_lag_ms_max: float | None = None  # how late a 100 ms greenlet sleep woke up, worst
    loop_lag_ms_p50: float | None = None
    loop_blocked_reports: int | None = None  # gevent's EventLoopBlocked reports, cumulative


@dataclass(frozen=True)
class QueueView:
    name: str  # "(unknown)" for tasks whose task-sent was never seen
    in_flight: int  # sent or received or started, not finished (tasks kept only)
    succeeded: int
    failed: int
    throughput_10s: float  # tasks finished per second
    throughput_60s: float
    wait_p50: float | None  # queued → started (s), over the last N tasks
    wait_p95: float | None
    run_p50: float | None  # started → finished (s), over the last N tasks
    run_p95: float | None
    samples: int  # how many run times the percentiles rest on


@dataclass(frozen=True)
class BatchView:
    batch_id: str
    seen: int  # children seen in events (the plan's total is the batch service's to tell)
    pending: int
    started: int
    succeeded: int
    failed: int
    cancelled: int
    unknown: int  # ended while the monitor was not listening and the backend could not say
    children: Mapping[str, str]  # child task id → Celery state (latest attempt per index)
    truncated: bool  # too many children to follow one by one


@dataclass(frozen=True)
class Span:
    """One task run on one pool slot (a worker's process, or its single gevent/threads loop),
    for the timeline: one after another under gevent, side by side under prefork."""

    task_id: str
    name: str | None
    queue: str
    hostname: str
    pid: int | None  # the process that ran it (task-started's pid)
    started: float
    ended: float | None  # None while running
    state: str | None
    # From the in-worker probe (None: from task events only, whose pid is the worker's main
    # process and whose start is when the pool accepted the task, not when it ran):
    hold_s: float | None = None  # gevent: time it held the loop in all
    hold_max_s: float | None = None  # its longest stretch without yielding
    hold_max_at: float | None = None  # when that stretch began (Unix s)


@dataclass(frozen=True)
class EventSnapshot:
    generation: int  # grows with every change; equal generation = same content
    timestamp: float  # when it was built (wall clock)
    connected: bool
    workers: Mapping[str, WorkerView] = field(default_factory=_empty)
    queues: Mapping[str, QueueView] = field(default_factory=_empty)
    batches: Mapping[str, BatchView] = field(default_factory=_empty)
    tasks_kept: int = 0  # ≤ the cap, whatever the load
    events: int = 0  # events applied since start
    lag_seconds: float = 0.0  # how far behind the newest event was when received
    reconnects: int = 0
    resyncs: int = 0
    last_resync_at: float | None = None
    last_resync_reason: str | None = None
    last_error: str | None = None
    fit: Mapping[str, WorkerFit] = field(default_factory=_empty)  # hostname → measured tasks
    tally: TallyView | None = None  # task counters for Prometheus (not in to_dict: tuple keys)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "tally":
                continue
            value = getattr(self, f.name)
            if isinstance(value, Mapping):
                value = {key: _plain(item) for key, item in value.items()}
            out[f.name] = value
        return out


def _plain(view: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(view):
        value = getattr(view, f.name)
        if isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = [_plain(v) if is_dataclass(v) else v for v in value]
        out[f.name] = value
    return out
