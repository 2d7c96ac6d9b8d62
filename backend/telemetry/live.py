"""Measuring without the window: the same parts as its telemetry thread, in one loop.

``pooldesk advise``, ``pooldesk fit`` and ``pooldesk metrics serve`` (a jump host, a CI box)
need what the window's telemetry thread measures — the worker list, resource samples, the
event monitors of every broker in use (a project's own included), the batch list and the
advisor — without Qt. One class builds and steps them; the advising itself is the window's
own step (``telemetry/step.py``), so the three commands agree with each other and with it.

Like the window, it listens to the fleet (``backend/fleet/watch.py``): other hosts' workers, as
their agents publish them, join the list, and the events an agent relays from its projects'
own brokers join the event monitors'. So ``fit`` measures a worker on any host. ``wait`` is the
pause between ticks: it listens to the fleet meanwhile.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

from pooldesk.backend.advisor.model import Advice, Observations, Thresholds
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.service import BatchService
from pooldesk.backend.broker import BrokerConfig
from pooldesk.backend.broker.status import BrokerStatus, broker_status
from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.fleet.roster import FleetRegistry, merged
from pooldesk.backend.fleet.watch import HostWatcher
from pooldesk.backend.projects.brokers import brokers_in_use
from pooldesk.backend.settings import Settings
from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.multi import MonitorSet
from pooldesk.backend.telemetry.sampler import ResourceSampler
from pooldesk.backend.telemetry.samples import Snapshot
from pooldesk.backend.telemetry.step import Inputs, ObservationStep
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers.manager import WorkerInfo, WorkerManager

BATCHES_EVERY_S = 3.0


@dataclass(frozen=True)
class Reading:
    """One step's worth of everything measured, and what the advisor made of it."""

    workers: tuple[WorkerInfo, ...]
    samples: Snapshot
    events: EventSnapshot
    broker: BrokerStatus
    batches: tuple[BatchRecord, ...]
    obs: Observations
    advice: tuple[Advice, ...]
    fit: tuple[QueueFit, ...]


class LiveTelemetry:
    def __init__(
        self, config: BrokerConfig, settings: Settings, thresholds: Thresholds | None = None
    ) -> None:
        self.config = config
        self.step = ObservationStep(settings, thresholds)  # the window's step, too
        self.thresholds = self.step.thresholds
        self.advisor = self.step.advisor
        self.manager = WorkerManager(config=config)
        self.sampler = ResourceSampler(self.manager.store)
        self.monitor = MonitorSet(EventMonitor(config))
        self.hosts = FleetRegistry()  # other hosts' workers, and their relayed events
        self.fleet = HostWatcher(self.hosts, config.broker_url)
        self.monitor.attach(self.hosts.relayed)
        self.batches = BatchService(config)
        self._batch_records: list[BatchRecord] = []
        self._next_batches = 0.0

    def start(self) -> LiveTelemetry:
        self.monitor.start()
        self.sampler.sample()  # prime: cores used needs two readings
        return self

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass, listening to the fleet's hosts meanwhile."""
        try:
            self.fleet.poll(seconds)
        except Exception:  # no broker URL, or the fleet unreachable: measure what is here
            time.sleep(max(0.0, seconds))

    def tick(self) -> Reading:
        here = self.manager.all(include_remote=True, remote_timeout=0.8)
        workers = merged(here, list(self.hosts.workers()))
        samples = self.sampler.sample()
        self.monitor.sync(brokers_in_use(self.manager.store))  # a project's own brokers too
        events = self.monitor.snapshot()
        broker = broker_status(self.config)
        if time.monotonic() >= self._next_batches:
            self._next_batches = time.monotonic() + BATCHES_EVERY_S
            # The broker may be down: the advisor and pooldesk_broker_up say so; keep the list.
            with contextlib.suppress(Exception):
                self._batch_records = self.batches.list(limit=50)
        inputs = Inputs(tuple(workers), samples, events, broker, tuple(self._batch_records))
        outcome = self.step.run(inputs)
        return Reading(
            inputs.workers,
            samples,
            events,
            broker,
            inputs.batches,
            outcome.obs,
            outcome.advice,
            outcome.fit,
        )

    def close(self) -> None:
        self.fleet.close()
        self.monitor.stop()
        self.manager.close()
        self.batches.close()
