"""Task counters and runtime histograms per task name, worker and queue, for Prometheus.

Why here: the event state already knows which task id has which name, queue and worker (a
``task-succeeded`` event carries none of them), so counting there keeps one owner for that map
instead of a second LRU in the exporter. Counters only grow (Prometheus computes rates), and
the number of series is capped: past :data:`MAX_SERIES`, new label sets fold into
``name="(other)"`` so a stream of generated task names cannot grow memory without bound.
Touched by the monitor's thread only; readers get an immutable :class:`TallyView`.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Event kind → the celery-exporter counter it increments (``celery_task_<kind>_total``).
KINDS = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected")
# Seconds; celery-exporter's default buckets, so dashboards built for it read ours.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
MAX_SERIES = 10_000
OTHER = "(other)"

CountKey = tuple[str, str, str, str]  # kind, task name, hostname, queue
HistKey = tuple[str, str]  # task name, queue


@dataclass
class Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))  # last: +Inf
    total: float = 0.0
    count: int = 0

    def add(self, value: float) -> None:
        self.buckets[bisect.bisect_left(BUCKETS, value)] += 1
        self.total += value
        self.count += 1


@dataclass(frozen=True)
class TallyView:
    counts: Mapping[CountKey, int]
    # (name, queue) → (per-bucket counts, not cumulative; last is +Inf), sum, count
    runtimes: Mapping[HistKey, tuple[tuple[int, ...], float, int]]


class TaskTally:
    def __init__(self, max_series: int = MAX_SERIES) -> None:
        self.max_series = max_series
        self._counts: dict[CountKey, int] = {}
        self._runtimes: dict[HistKey, Histogram] = {}
        self._view: TallyView | None = None

    def count(self, kind: str, name: str | None, hostname: str | None, queue: str) -> None:
        key = (kind, name or "(unknown)", hostname or "", queue)
        if key not in self._counts and len(self._counts) >= self.max_series:
            key = (kind, OTHER, "", OTHER)
        self._counts[key] = self._counts.get(key, 0) + 1
        self._view = None

    def runtime(self, name: str | None, queue: str, seconds: float) -> None:
        key = (name or "(unknown)", queue)
        histogram = self._runtimes.get(key)
        if histogram is None:
            if len(self._runtimes) >= self.max_series:
                key = (OTHER, OTHER)
            histogram = self._runtimes.setdefault(key, Histogram())
        histogram.add(max(0.0, seconds))
        self._view = None

    def view(self) -> TallyView:
        """Rebuilt only after a change: the 5 Hz snapshots of a quiet stream copy nothing."""
        if self._view is None:
            self._view = TallyView(
                MappingProxyType(dict(self._counts)),
                MappingProxyType(
                    {k: (tuple(h.buckets), h.total, h.count) for k, h in self._runtimes.items()}
                ),
            )
        return self._view


def merge_tallies(views: list[TallyView]) -> TallyView | None:
    """One view over several brokers' tallies (the same label set on two brokers adds up)."""
    if len(views) <= 1:
        return views[0] if views else None
    counts: dict[CountKey, int] = {}
    runtimes: dict[HistKey, tuple[tuple[int, ...], float, int]] = {}
    for view in views:
        for key, value in view.counts.items():
            counts[key] = counts.get(key, 0) + value
        for hkey, (buckets, total, count) in view.runtimes.items():
            if hkey in runtimes:
                old_buckets, old_total, old_count = runtimes[hkey]
                buckets = tuple(a + b for a, b in zip(old_buckets, buckets, strict=True))
                total, count = total + old_total, count + old_count
            runtimes[hkey] = (buckets, total, count)
    return TallyView(MappingProxyType(counts), MappingProxyType(runtimes))
