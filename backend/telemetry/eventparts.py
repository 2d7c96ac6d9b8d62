"""The mutable records inside ``EventState``: one task, worker, queue, batch. ``__slots__``
keep 50,000 tasks at a few MB; each record turns itself into an immutable view."""

from __future__ import annotations

from types import MappingProxyType

from pooldesk.backend.batches.children import batch_of
from pooldesk.backend.telemetry.stats import RateWindow, RollingPercentiles
from pooldesk.backend.telemetry.views import BatchView, QueueView, WorkerView

UNKNOWN_QUEUE = "(unknown)"
LATENCY_SAMPLES = 1_000
# UNKNOWN: ended while we were not listening (a resync found it gone) and nobody could say how.
ENDED = frozenset({"SUCCESS", "FAILURE", "REVOKED", "REJECTED", "UNKNOWN"})
CATEGORY = {
    "PENDING": "pending",
    "RECEIVED": "pending",
    "STARTED": "started",
    "RETRY": "started",  # a child waiting to retry has started (as batch counts treat it)
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "REJECTED": "failed",
    "REVOKED": "cancelled",
    "UNKNOWN": "unknown",
}
CATEGORIES = ("pending", "started", "succeeded", "failed", "cancelled", "unknown")


def child_index(task_id: str) -> str:
    """``<batch>.<index>[.rN|.tN]`` → ``<index>``: the attempts of one child share it."""
    parts = task_id.split(".", 2)
    return parts[1] if len(parts) > 1 else ""


class Task:
    __slots__ = (
        "batch",
        "ended",
        "hostname",
        "id",
        "name",
        "pid",
        "queue",
        "sent",
        "started",
        "state",
    )

    def __init__(self, task_id: str) -> None:
        self.id = task_id
        self.batch: str | None = batch_of(task_id) if "." in task_id else None
        self.name: str | None = None
        self.queue = UNKNOWN_QUEUE  # until task-sent (or a resync) names it
        self.hostname: str | None = None
        self.state: str | None = None  # None: only just created
        self.sent: float | None = None
        self.started: float | None = None
        self.ended: float | None = None  # succeeded/failed, for the timeline
        self.pid: int | None = None  # the pool process that ran it (task-started)


class Worker:
    __slots__ = (
        "active",
        "counted",
        "enable_sent",
        "failed",
        "freq",
        "hostname",
        "last_heartbeat",
        "last_seen",
        "left",
        "loadavg",
        "loop",
        "online",
        "phantom",
        "pid",
        "processed_at_sight",
        "reported",
        "reported_active",
        "succeeded",
        "sw_ident",
        "sw_ver",
        "task_events",
    )

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self.online = False
        self.pid: int | None = None
        self.last_seen = 0.0  # local receive time of its last event, for the offline rule
        self.last_heartbeat: float | None = None
        self.freq = 2.0
        self.loadavg: tuple[float, ...] | None = None
        self.sw_ident: str | None = None
        self.sw_ver: str | None = None
        self.reported_active: int | None = None
        self.loop: dict[str, float] = {}  # the gevent probe's worker-loop event, latest
        self.phantom = 0
        self.new_life(0)

    def new_life(self, processed: int) -> None:
        """worker-online, or a new pid under the same name: its counters start again."""
        self.active = 0
        self.counted = 0  # finished tasks seen in events
        self.reported = processed  # the worker's own count (heartbeat, stats): lags ≤ 2 s
        self.processed_at_sight = processed
        self.succeeded = 0
        self.failed = 0
        self.task_events = False
        self.enable_sent = False
        self.left = False  # said worker-offline

    @property
    def processed(self) -> int:
        """Never the sum of both (a resync's count already holds events still on their way)."""
        return max(self.counted, self.reported)

    def count(self, ok: bool) -> None:
        self.counted += 1
        if ok:
            self.succeeded += 1
        else:
            self.failed += 1

    def view(self) -> WorkerView:
        return WorkerView(
            hostname=self.hostname,
            online=self.online,
            active=self.active,
            processed=self.processed,
            succeeded=self.succeeded,
            failed=self.failed,
            last_heartbeat=self.last_heartbeat,
            freq=self.freq,
            loadavg=self.loadavg,
            sw_ident=self.sw_ident,
            sw_ver=self.sw_ver,
            pid=self.pid,
            reported_active=self.reported_active,
            loop_lag_ms_max=self.loop.get("lag_ms_max"),
            loop_lag_ms_p50=self.loop.get("lag_ms_p50"),
            loop_blocked_reports=_int_or_none(self.loop.get("blocked_reports")),
        )


def _int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


class Queue:
    __slots__ = ("_cache", "failed", "in_flight", "name", "rate", "run", "succeeded", "wait")

    def __init__(self, name: str) -> None:
        self.name = name
        self.in_flight = 0
        self.succeeded = 0
        self.failed = 0
        self.rate = RateWindow(60)
        self.wait = RollingPercentiles(LATENCY_SAMPLES)  # queued → started
        self.run = RollingPercentiles(LATENCY_SAMPLES)  # started → finished
        self._cache: tuple[int, tuple[float | None, ...]] | None = None

    def _percentiles(self) -> tuple[float | None, ...]:
        key = self.wait.added + self.run.added
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.wait.percentiles(50, 95) + self.run.percentiles(50, 95))
        return self._cache[1]

    def view(self, now: float, elapsed: float) -> QueueView:
        wait50, wait95, run50, run95 = self._percentiles()
        return QueueView(
            name=self.name,
            in_flight=max(0, self.in_flight),
            succeeded=self.succeeded,
            failed=self.failed,
            throughput_10s=self.rate.rate(10, now, elapsed),
            throughput_60s=self.rate.rate(60, now, elapsed),
            wait_p50=wait50,
            wait_p95=wait95,
            run_p50=run50,
            run_p95=run95,
            samples=len(self.run),
        )


class Batch:
    __slots__ = ("batch_id", "by_index", "children", "counts", "truncated")

    def __init__(self, batch_id: str) -> None:
        self.batch_id = batch_id
        self.children: dict[str, str] = {}  # child id → state, latest attempt per index only
        self.by_index: dict[str, str] = {}  # index → latest attempt's child id
        self.counts = dict.fromkeys(CATEGORIES, 0)
        self.truncated = False

    def set_child(self, child: str, index: str, old: str | None, state: str, cap: int) -> bool:
        """Record a child's new state; False when nothing changed (superseded, over the cap)."""
        current = self.by_index.get(index)
        if current is not None and current != child:
            if old is not None:
                return False  # an event about an attempt a newer one replaced
            replaced = self.children.pop(current, None)  # a resend/retry: it supersedes
            if replaced is not None:
                self.counts[CATEGORY.get(replaced, "pending")] -= 1
        elif current is None and len(self.children) >= cap:
            self.truncated = True
            return False
        self.by_index[index] = child
        previous = self.children.get(child)
        if previous is not None:
            self.counts[CATEGORY.get(previous, "pending")] -= 1
        self.children[child] = state
        self.counts[CATEGORY.get(state, "pending")] += 1
        return True

    def view(self) -> BatchView:
        return BatchView(
            batch_id=self.batch_id,
            seen=len(self.children),
            children=MappingProxyType(dict(self.children)),
            truncated=self.truncated,
            **self.counts,
        )
