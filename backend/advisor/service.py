"""From live telemetry to advice, and from a fix to the action that performs it.

The window's telemetry thread (or ``pooldesk advise``) feeds this with what it already has —
the worker list, the latest resource snapshot, the latest event snapshot, the broker status and
the running batches — and gets the current advice back. It keeps the short histories the rules
need (loop lag and gevent's blocked reports over the last window, memory growth over minutes).
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

from pooldesk.backend.advisor.ceiling import TaskRates
from pooldesk.backend.advisor.engine import Advisor, Update
from pooldesk.backend.advisor.model import (
    DEFAULT_NATURES,
    BatchObs,
    Fix,
    Observations,
    Thresholds,
    WorkerObs,
)
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.telemetry.samples import ProcessSample, Snapshot
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers.manager import WorkerError, WorkerInfo, WorkerManager
from pooldesk.backend.workers.spec import cores

WINDOW_S = 10.0


class AdvisorService:
    def __init__(
        self, thresholds: Thresholds | None = None, natures: dict[str, str] | None = None
    ) -> None:
        self.advisor = Advisor(thresholds)
        self.natures = {**DEFAULT_NATURES, **(natures or {})}
        self._lag: dict[str, deque[tuple[float, float]]] = defaultdict(deque)
        self._blocked: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._uss: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        self._rates = TaskRates()

    @property
    def thresholds(self) -> Thresholds:
        return self.advisor.thresholds

    def observe(
        self,
        workers: list[WorkerInfo],
        resources: Snapshot | None,
        events: EventSnapshot | None,
        broker: BrokerStatus | None,
        batches: list[BatchRecord],
        now: float | None = None,
    ) -> Observations:
        now = time.time() if now is None else now
        by_host = dict(events.workers) if events else {}
        samples = dict(resources.workers) if resources else {}
        obs = Observations(
            natures=dict(self.natures),
            cores=cores(),
            broker_up=broker.up if broker else True,
            broker_error=broker.error if broker else None,
            queue_waiting=dict(broker.queues) if broker else {},
        )
        if events is not None:
            obs.queue_rates = {q: v.throughput_60s for q, v in events.queues.items()}
        obs.fd_limit = _fd_limit()
        if resources is not None:
            obs.ram_available_bytes = resources.system.ram_available
            obs.ram_total_bytes = resources.system.ram_total
        for info in workers:
            view = by_host.get(info.hostname)
            sample = samples.get(info.name) if not info.remote else None
            w = WorkerObs(
                name=info.name,
                hostname=info.hostname,
                # A fleet host's worker (``host`` set) is run by its agent: fixable like ours.
                local=not info.remote or bool(getattr(info, "host", "")),
                pool=info.pool,
                concurrency=info.concurrency,
                queues=list(info.queues),
                state=info.state,
                active=(view.active if view else info.active) or 0,
                cores_used=_cores(sample),
                uss_bytes=sample.memory_bytes if sample else info.memory_bytes,
                exit=info.exit,
                starts_recent=info.crashes,
                gave_up=info.gave_up,
                off_broker=info.off_broker,
                host=str(getattr(info, "host", "") or ""),
            )
            if view is not None and view.loop_lag_ms_max is not None:
                w.loop_lag_ms_max = self._window_max(
                    self._lag[info.hostname], now, view.loop_lag_ms_max
                )
            if view is not None and view.loop_blocked_reports is not None:
                w.blocked_reports_recent = self._window_delta(
                    self._blocked[info.hostname], now, view.loop_blocked_reports
                )
            fit = events.fit.get(info.hostname) if events is not None else None
            if fit is not None:
                w.fit = list(fit.tasks)
            w.tasks_per_s = self._rates.rate(info.hostname, now, view.processed if view else None)
            if w.uss_bytes:
                w.uss_growth_bytes_per_min = self._growth(
                    self._uss[info.hostname], now, w.uss_bytes, self.thresholds.uss_growth_window_s
                )
            obs.workers.append(w)
        for record in batches:
            if record.final or record.state != "running":
                continue
            counts = record.counts
            obs.batches.append(
                BatchObs(
                    record.id,
                    record.kind,
                    str(record.params.get("queue", record.kind)),
                    int(counts.get("pending", 0)),
                    int(counts.get("started", 0)),
                )
            )
        return obs

    def update(self, obs: Observations) -> Update:
        return self.advisor.update(obs)

    @staticmethod
    def _window_max(history: deque[tuple[float, float]], now: float, value: float) -> float:
        history.append((now, value))
        while history and history[0][0] < now - WINDOW_S:
            history.popleft()
        return max(v for _, v in history)

    @staticmethod
    def _window_delta(history: deque[tuple[float, int]], now: float, value: int) -> int:
        history.append((now, value))
        while len(history) > 1 and history[0][0] < now - WINDOW_S:
            history.popleft()
        return max(0, value - history[0][1]) if len(history) > 1 else 0

    @staticmethod
    def _growth(
        history: deque[tuple[float, int]], now: float, value: int, window_s: float
    ) -> float | None:
        """Bytes per minute over the last ``2 × window_s``; None until ``window_s`` is seen
        (the threshold ``uss_growth_window_s``, five minutes by default)."""
        window_s = max(window_s, 1.0)
        history.append((now, value))
        while history and history[0][0] < now - 2 * window_s:
            history.popleft()
        first_t, first_v = history[0]
        if now - first_t < window_s:
            return None
        return (value - first_v) / ((now - first_t) / 60)


def _cores(sample: ProcessSample | None) -> float | None:
    if sample is None:
        return None
    return sample.cores_used_smooth if sample.cores_used_smooth is not None else sample.cores_used


def _fd_limit() -> int | None:
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return None
    return soft if soft > 0 else None


def apply_fix(manager: WorkerManager, fix: Fix, timeout: float | None = None) -> str:
    """Perform a fix and wait for its end (blocking); returns what was done, phrased for a
    person. The fix runs as the operations API's ``apply_fix`` request, the same path as the
    window's Fix… (project check included); a failure raises ``WorkerError`` with the reason."""
    from pooldesk.backend.operations import Operations, Request

    name = str(fix.params.get("name") or "broker")
    request = Request("apply_fix", name, {"kind": fix.kind, "params": dict(fix.params)})
    outcome = Operations(manager, wait_for_lock=True).run(request, timeout)
    if not outcome.ok:
        raise WorkerError(outcome.text)
    return outcome.text
