"""Measuring without the window, for ``pooldesk metrics serve``: the same parts, one loop.

The window measures in its telemetry thread and feeds the exporter from there; a server with
no desktop (a jump host, a CI box) runs this instead: worker list, resource sampler, event
monitor, batch list and advisor, refreshed every ``sampling_interval``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from backend.advisor.model import Thresholds
from backend.advisor.service import AdvisorService
from backend.batches.service import BatchService
from backend.broker import BrokerConfig
from backend.broker.status import broker_status
from backend.fit.table import build as build_fit
from backend.metrics.collector import MetricsInput
from backend.projects.brokers import brokers_in_use
from backend.settings import Settings
from backend.telemetry.events import EventMonitor
from backend.telemetry.multi import MonitorSet
from backend.telemetry.sampler import ResourceSampler
from backend.workers.manager import WorkerManager

BATCHES_EVERY_S = 3.0


class LiveTelemetry:
    def __init__(self, config: BrokerConfig, settings: Settings) -> None:
        self.config = config
        advisor: dict[str, Any] = dict(settings.advisor or {})
        self.advisor = AdvisorService(
            Thresholds.from_settings(advisor), advisor.get("queue_nature")
        )
        self.manager = WorkerManager(config=config)
        self.sampler = ResourceSampler(self.manager.store)
        self.monitor = MonitorSet(EventMonitor(config))
        self.batches = BatchService(config)
        self._batch_records: list[Any] = []
        self._next_batches = 0.0

    def start(self) -> LiveTelemetry:
        self.monitor.start()
        self.sampler.sample()  # prime: cores used needs two readings
        return self

    def tick(self) -> MetricsInput:
        workers = self.manager.all(include_remote=True, remote_timeout=0.8)
        samples = self.sampler.sample()
        self.monitor.sync(brokers_in_use())  # a project's workers report on its own broker
        events = self.monitor.snapshot()
        broker = broker_status(self.config)
        if time.monotonic() >= self._next_batches:
            self._next_batches = time.monotonic() + BATCHES_EVERY_S
            # The broker may be down: pooldesk_broker_up says so; keep the last list.
            with contextlib.suppress(Exception):
                self._batch_records = self.batches.list(limit=50)
        obs = self.advisor.observe(workers, samples, events, broker, self._batch_records)
        update = self.advisor.update(obs)
        return MetricsInput(
            events=events,
            samples=samples,
            workers=tuple(workers),
            broker=broker,
            advice=tuple(update.current),
            batches=tuple(self._batch_records),
            fit=tuple(build_fit(obs, self.advisor.thresholds)),
        )

    def close(self) -> None:
        self.monitor.stop()
        self.manager.close()
        self.batches.close()
