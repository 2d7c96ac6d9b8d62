"""Shared helpers for the Pool fit benches (not a bench itself).

A temporary ``POOLDESK_HOME`` with its own managed broker, workers started the way Pooldesk
starts them (the in-worker probe included) on the test app ``tests/fitapp.py`` — a user's app
with a CPU task, a C call that blocks without yielding (libc ``usleep``), a cooperative sleep
and a half-and-half task — and an ``Observer`` running the same event monitor, sampler and
advisor as the window.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from _common import ROOT, tree_cpu
from _common import bench_home as throwaway_home

__all__ = ["APP", "KIND_TASK", "Observer", "bench_home", "run_batch", "tree_cpu"]

APP = "tests.fitapp:app"
KIND_TASK = {"cpu": "fitapp.cpu", "block": "fitapp.block", "coop": "fitapp.coop",
             "mixed": "fitapp.mixed", "noop": "fitapp.noop"}  # fmt: skip


@contextmanager
def bench_home() -> Iterator[Any]:
    """(manager, celery client app) in a throwaway home; everything stopped at the end."""
    os.chdir(ROOT)  # workers import tests.fitapp from the working directory, as users' do
    with throwaway_home("pooldesk-fitbench-"):  # its broker stopped, deleted on the way out
        yield from _workers()


def _workers() -> Iterator[Any]:
    from celery import Celery

    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.workers.manager import WorkerManager

    config = ensure_broker()
    manager = WorkerManager(config=config, stop_timeout=15)
    app = Celery(broker=config.broker_url, backend=config.result_backend)
    app.conf.result_accept_content = ["json"]
    try:
        yield manager, app
    finally:
        for name in manager.store.names():
            try:
                manager.stop(name, timeout=15)
            except Exception as exc:  # best effort: the broker goes next anyway
                print(f"stopping {name}: {exc}", file=sys.stderr)
        manager.close()
        app.close()


def run_batch(app: Any, kind: str, queue: str, count: int, seconds: float, timeout: float = 120):
    """Send ``count`` tasks at once; (wall seconds until the last result, results)."""
    from celery.result import ResultSet

    args = [] if kind == "noop" else [seconds]
    start = time.perf_counter()
    results = ResultSet(
        [app.send_task(KIND_TASK[kind], args=args, queue=queue) for _ in range(count)]
    )
    results.join_native(timeout=timeout, propagate=True)
    return time.perf_counter() - start


class Observer:
    """The window's telemetry in one object: event monitor, sampler, advisor, fit table."""

    def __init__(self, manager: Any) -> None:
        from pooldesk.backend.advisor.service import AdvisorService
        from pooldesk.backend.telemetry.events import EventMonitor
        from pooldesk.backend.telemetry.sampler import ResourceSampler

        self.manager = manager
        self.service = AdvisorService()
        self.monitor = EventMonitor(manager.config)
        self.sampler = ResourceSampler(manager.store)
        self.monitor.start()
        self.sampler.sample()

    def observe(self) -> Any:
        from pooldesk.backend.broker.status import broker_status

        return self.service.observe(
            self.manager.all(include_remote=False),
            self.sampler.sample(),
            self.monitor.snapshot(),
            broker_status(self.manager.config),
            [],
        )

    def advice(self) -> list[Any]:
        """One advisor run, with the window's hysteresis (2 evaluations to raise)."""
        return self.service.update(self.observe()).current

    def rows(self) -> list[Any]:
        from pooldesk.backend.fit.table import build

        return build(self.observe(), self.service.thresholds)

    def close(self) -> None:
        self.monitor.stop()
