"""Pooldesk's figures as Prometheus metric families, built at scrape time from one input.

Names follow what Celery users already chart: celery-exporter's ``celery_task_<kind>_total``
(labels ``name``, ``hostname``, ``queue_name``), ``celery_task_runtime`` (histogram, seconds),
``celery_worker_up``, ``celery_worker_tasks_active``, ``celery_queue_length``; plus Pooldesk's
own, which neither celery-exporter nor Flower has: cores used per worker against its
concurrency, gevent loop lag, the advisor's warnings, batch progress.

One collector, one input (:class:`MetricsInput`, replaced whole by whoever measures: the
window's telemetry thread or ``pooldesk metrics serve``): a scrape never calls the broker, so
it is cheap and cannot stall on a slow broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pooldesk.backend.telemetry.tally import BUCKETS, KINDS

if TYPE_CHECKING:
    from pooldesk.backend.advisor.model import Advice
    from pooldesk.backend.audit.model import Finding
    from pooldesk.backend.batches.history import BatchRecord
    from pooldesk.backend.broker.status import BrokerStatus
    from pooldesk.backend.fit.table import QueueFit
    from pooldesk.backend.telemetry.samples import Snapshot
    from pooldesk.backend.telemetry.views import EventSnapshot
    from pooldesk.backend.workers.manager import WorkerInfo

BATCH_STATES = ("pending", "started", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class MetricsInput:
    events: EventSnapshot | None = None
    samples: Snapshot | None = None
    workers: Sequence[WorkerInfo] = ()
    broker: BrokerStatus | None = None
    advice: Sequence[Advice] = ()
    batches: Sequence[BatchRecord] = ()
    fit: Sequence[QueueFit] = ()  # the Pool fit table (backend/fit/table.py)
    audit: Sequence[Finding] = ()  # the configuration audit (backend/audit)


class PooldeskCollector(Collector):
    def __init__(self, source: Callable[[], MetricsInput]) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        data = self.source()
        yield from _task_families(data.events)
        yield from _worker_families(data)
        yield from _queue_families(data.broker)
        yield from _advice_families(data.advice)
        yield from _batch_families(data.batches)
        yield from _fit_families(data.fit)
        yield from _audit_families(data.audit)


def _task_families(events: EventSnapshot | None) -> Iterator[Metric]:
    tally = events.tally if events is not None else None
    labels = ["name", "hostname", "queue_name"]
    counters = {
        kind: CounterMetricFamily(
            f"celery_task_{kind}", f"Tasks {kind}, from Celery's task events.", labels=labels
        )
        for kind in KINDS
    }
    runtime = HistogramMetricFamily(
        "celery_task_runtime",
        "Task runtime in seconds (started → finished), from Celery's task events.",
        labels=["name", "queue_name"],
    )
    if tally is not None:
        for (kind, name, hostname, queue), value in sorted(tally.counts.items()):
            counters[kind].add_metric([name, hostname, queue], value)
        for (name, queue), (buckets, total, _count) in sorted(tally.runtimes.items()):
            cumulative, pairs = 0, []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), buckets, strict=True):
                cumulative += count
                pairs.append((bound, float(cumulative)))
            runtime.add_metric([name, queue], pairs, total)
    yield from counters.values()
    yield runtime
    if events is not None:
        monitor = GaugeMetricFamily(
            "pooldesk_event_monitor_connected", "1 while Pooldesk receives Celery's events."
        )
        monitor.add_metric([], 1.0 if events.connected else 0.0)
        yield monitor


def _worker_families(data: MetricsInput) -> Iterator[Metric]:
    up = GaugeMetricFamily("celery_worker_up", "1 if the worker is online.", labels=["hostname"])
    active = GaugeMetricFamily(
        "celery_worker_tasks_active", "Tasks running on the worker.", labels=["hostname"]
    )
    concurrency = GaugeMetricFamily(
        "pooldesk_worker_concurrency",
        "Slots the worker was started with (pool processes, greenlets or threads).",
        labels=["hostname", "pool"],
    )
    cores = GaugeMetricFamily(
        "pooldesk_worker_cores_used",
        "CPU cores the worker's whole process tree used over the last sample (local workers).",
        labels=["hostname"],
    )
    memory = GaugeMetricFamily(
        "pooldesk_worker_memory_uss_bytes",
        "Unique memory (USS) of the worker's process tree (local workers).",
        labels=["hostname"],
    )
    lag = GaugeMetricFamily(
        "pooldesk_worker_loop_lag_seconds",
        "Worst gevent event-loop lag in the last second, measured in the worker.",
        labels=["hostname"],
    )
    views = data.events.workers if data.events is not None else {}
    for info in data.workers:
        up.add_metric([info.hostname], 1.0 if info.state in ("online", "online-remote") else 0.0)
        view = views.get(info.hostname)
        running = view.active if view is not None else info.active
        if running is not None:
            active.add_metric([info.hostname], float(running))
        if info.concurrency is not None:
            concurrency.add_metric([info.hostname, info.pool or ""], float(info.concurrency))
        if view is not None and view.loop_lag_ms_max is not None:
            lag.add_metric([info.hostname], view.loop_lag_ms_max / 1000.0)
    if data.samples is not None:
        for sample in data.samples.workers.values():
            host = sample.hostname or sample.name
            if sample.cores_used is not None:
                cores.add_metric([host], sample.cores_used)
            memory.add_metric([host], float(sample.memory_bytes))
    yield from (up, active, concurrency, cores, memory, lag)


def _queue_families(broker: BrokerStatus | None) -> Iterator[Metric]:
    length = GaugeMetricFamily(
        "celery_queue_length", "Messages waiting in the queue.", labels=["queue_name"]
    )
    broker_up = GaugeMetricFamily("pooldesk_broker_up", "1 if the broker answers.")
    if broker is not None:
        broker_up.add_metric([], 1.0 if broker.up else 0.0)
        for queue, waiting in sorted(broker.queues.items()):
            length.add_metric([queue], float(waiting))
    yield length
    yield broker_up


def _advice_families(advice: Sequence[Advice]) -> Iterator[Metric]:
    warnings = GaugeMetricFamily(
        "pooldesk_warnings",
        "The advisor's current warnings, by rule and severity.",
        labels=["rule", "severity"],
    )
    counts: dict[tuple[str, str], int] = {}
    for item in advice:
        counts[(item.rule, item.severity)] = counts.get((item.rule, item.severity), 0) + 1
    for (rule, severity), count in sorted(counts.items()):
        warnings.add_metric([rule, severity], float(count))
    yield warnings


def _batch_families(batches: Sequence[BatchRecord]) -> Iterator[Metric]:
    children = GaugeMetricFamily(
        "pooldesk_batch_children",
        "Children of the batches still running, by state.",
        labels=["batch", "kind", "state"],
    )
    progress = GaugeMetricFamily(
        "pooldesk_batch_progress_ratio",
        "Share of a running batch's children that have ended (0-1).",
        labels=["batch", "kind"],
    )
    for record in batches:
        if record.final:
            continue
        counts = record.counts or {}
        for state in BATCH_STATES:
            children.add_metric([record.id, record.kind, state], float(counts.get(state, 0)))
        total = counts.get("total", 0)
        ended = sum(counts.get(s, 0) for s in ("succeeded", "failed", "cancelled"))
        progress.add_metric([record.id, record.kind], ended / total if total else 0.0)
    yield children
    yield progress


def _fit_families(fit: Sequence[QueueFit]) -> Iterator[Metric]:
    """Pool fit, measured in the workers: what no other Celery exporter can say."""
    nature = GaugeMetricFamily(
        "pooldesk_queue_nature",
        "1 for the queue's measured nature (cpu, blocking, io, mixed, unknown).",
        labels=["queue_name", "nature"],
    )
    cpu = GaugeMetricFamily(
        "pooldesk_queue_cpu_share",
        "Share of the tasks' wall time spent on CPU.",
        labels=["queue_name"],
    )
    hold = GaugeMetricFamily(
        "pooldesk_queue_loop_hold_share",
        "gevent: share of the tasks' wall time they held the event loop without yielding.",
        labels=["queue_name"],
    )
    runs = CounterMetricFamily(
        "pooldesk_queue_measured_runs", "Task runs measured by the probe.", labels=["queue_name"]
    )
    misfit = GaugeMetricFamily(
        "pooldesk_queue_pool_misfit",
        "1 when the queue's pool does not fit its measured work (the gevent trap and others).",
        labels=["queue_name", "verdict"],
    )
    for row in fit:
        nature.add_metric([row.queue, row.nature], 1.0)
        if row.cpu_share is not None:
            cpu.add_metric([row.queue], row.cpu_share)
        if row.hold_share is not None:
            hold.add_metric([row.queue], row.hold_share)
        runs.add_metric([row.queue], float(row.runs))
        misfit.add_metric([row.queue, row.verdict], 1.0 if row.verdict == "trap" else 0.0)
    yield from (nature, cpu, hold, runs, misfit)


def _audit_families(findings: Sequence[Finding]) -> Iterator[Metric]:
    """One series per finding (its stable id): alert on ``severity="critical"``."""
    gauge = GaugeMetricFamily(
        "pooldesk_audit_finding",
        "1 per current configuration-audit finding (setting vs measured task behaviour).",
        labels=["project", "rule", "severity", "id"],
    )
    for item in findings:
        gauge.add_metric([item.project, item.rule, item.severity, item.id], 1.0)
    yield gauge
