"""The Pool fit table's pick for a task about to be launched, from that task's measurements.

The forecast's second row is the pool and concurrency the Pool fit page and its *Fix…* propose
(``fit.table``), built here from the same ``worker-fit`` totals the forecast uses, relabelled to
the batch's queue (the task may have been measured behind another route), with the queue's
consumers as the workers — so the forecast and the table never disagree on which pool fits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.fit.table import build as build_fit
from pooldesk.backend.telemetry.fitstate import TaskFit, WorkerFit


class Consumer(Protocol):  # forecast.Consumer, without importing it back
    @property
    def name(self) -> str: ...
    @property
    def pool(self) -> str: ...
    @property
    def concurrency(self) -> int: ...


def recommended(
    views: dict[str, WorkerFit],
    fits: list[tuple[str, TaskFit]],
    consumers: Sequence[Consumer],
    queue: str,
    cores: int,
    th: Thresholds,
) -> tuple[str, int] | None:
    """The Pool fit table's pick for this task's queue, built from this task's measurements."""
    workers: list[WorkerObs] = []
    claimed: set[str] = set()
    for c in consumers:
        hosts = [h for h in views if matches(h, c.name)]
        claimed.update(hosts)
        mine = [replace(f, queue=queue) for h, f in fits if h in hosts]
        heard = bool(hosts)
        workers.append(
            WorkerObs(
                name=c.name,
                hostname=hosts[0] if hosts else c.name,
                local=False,
                pool=c.pool,
                concurrency=c.concurrency,
                queues=[queue],
                state="online",
                fit=mine if heard else None,
            )
        )
    others: dict[str, list[TaskFit]] = {}
    for h, f in fits:
        if h not in claimed:
            others.setdefault(h, []).append(replace(f, queue=queue))
    for h, mine in others.items():
        workers.append(WorkerObs(h, h, False, mine[0].pool, None, [], "offline", fit=mine))
    obs = Observations(workers=workers, cores=cores, ram_available_bytes=ram_available())
    row = next((r for r in build_fit(obs, th) if r.queue == queue), None)
    if row is None or not row.recommended_pool or not row.recommended_concurrency:
        return None
    return row.recommended_pool, row.recommended_concurrency


def matches(host: str, name: str) -> bool:
    return host == name or host.split("@", 1)[0] == name.split("@", 1)[0]


def same(rec: tuple[str, int], consumers: Sequence[Consumer]) -> bool:
    return len(consumers) == 1 and (consumers[0].pool, consumers[0].concurrency) == rec


def ram_available() -> int | None:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:
        return None
