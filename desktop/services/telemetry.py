"""The window's telemetry and advisor: a QObject in its own QThread, like WorkerController.

It owns the resource sampler (a ``SamplerThread``), the Celery event monitor (its own receiver
thread), a ``BatchService`` and the ``AdvisorService``, all created and used in this thread.
It does not list workers or read the broker's status itself: the WorkerController already
does that every 1.5 s, and its ``workersChanged``/``brokerChanged`` are connected to
:meth:`setWorkers`/:meth:`setBroker`, so the broker is not asked twice.

Signals out:

- ``resourcesSampled(Snapshot)`` once per sample (emitted from the sampler thread: Qt queues it);
- ``eventsChanged(EventSnapshot)`` when the monitor published something new, at most 5 Hz;
- ``fitChanged(list[QueueFit])``: the Pool fit table (``backend.fit.table``) when it changed;
- ``adviceChanged(list[Advice])`` when the current advice changed, after each advisor run
  (every second); ``adviceAppeared(list[Advice])`` with the ones that just appeared;
- ``metricsServing(str, str)``: the Prometheus endpoint's URL (empty when off) and an error.

Each advisor run also hands its inputs to the Prometheus exporter (``backend/metrics``), which
serves them on 127.0.0.1 when ``settings.metrics_port`` is set: scrapes read what was measured
here, they never call the broker themselves.

Charts read history straight from the sampler's ring buffers (:meth:`history_columns`, safe from
any thread), so no sample series travels through signals.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot

from backend import settings as settings_mod
from backend.advisor.model import Advice, Thresholds
from backend.advisor.service import AdvisorService
from backend.batches.history import BatchRecord
from backend.batches.service import BatchService
from backend.broker import ensure_broker
from backend.broker.status import BrokerStatus
from backend.fit.table import QueueFit
from backend.fit.table import build as build_fit
from backend.metrics.collector import MetricsInput
from backend.metrics.server import MetricsFeed, MetricsServer
from backend.projects.brokers import brokers_in_use
from backend.telemetry.events import EventMonitor
from backend.telemetry.multi import MonitorSet
from backend.telemetry.sampler import ResourceSampler, SamplerThread
from backend.telemetry.views import Span
from backend.workers.manager import WorkerInfo
from backend.workers.records import RecordStore

log = logging.getLogger(__name__)

ADVISE_MS = 1000
EVENTS_MS = 200  # ≤ 5 Hz to the window, however fast events arrive
BATCHES_EVERY_S = 3.0
MONITOR_RETRY_S = 10.0


class TelemetryController(QObject):
    adviceChanged = Signal(list)  # list[Advice], current, most severe first
    adviceAppeared = Signal(list)  # list[Advice] that just appeared (a tray notice, later)
    resourcesSampled = Signal(object)  # Snapshot
    eventsChanged = Signal(object)  # EventSnapshot
    fitChanged = Signal(list)  # list[QueueFit]: the Pool fit table, when it changed
    metricsServing = Signal(str, str)  # url ("" when off), error ("" when fine)
    metricsPortRequested = Signal(int)  # from the GUI thread: 0 stops the endpoint
    _shutdownRequested = Signal()

    def __init__(self, advise_ms: int = ADVISE_MS, events_ms: int = EVENTS_MS) -> None:
        super().__init__()  # no parent: it moves to its own thread
        self._advise_ms = advise_ms
        self._events_ms = events_ms
        self._sampler: ResourceSampler | None = None
        self._sampler_thread: SamplerThread | None = None
        self._monitor: MonitorSet | None = None
        self._batches: BatchService | None = None
        self._advisor = AdvisorService()
        self._workers: list[WorkerInfo] = []
        self._broker: BrokerStatus | None = None
        self._batch_records: list[BatchRecord] = []
        self._next_batches = 0.0
        self._next_monitor_try = 0.0
        self._events_generation = -1
        self._advice: list[Advice] = []
        self._fit: list[QueueFit] = []
        self._advise_timer: QTimer | None = None
        self._events_timer: QTimer | None = None
        self._closing = False
        self._metrics_feed = MetricsFeed()
        self._metrics: MetricsServer | None = None
        self._home_thread = self.thread()
        self._thread = QThread()
        self._thread.setObjectName("pooldesk-telemetry")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._on_thread_started)
        self._shutdownRequested.connect(self._teardown)
        self.metricsPortRequested.connect(self._serve_metrics)

    # -- called from the GUI thread ----------------------------------------------------------
    def launch(self) -> None:
        self._thread.start()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self) -> None:
        """Stop the monitor and the sampler, then join the thread (a few seconds at most)."""
        if self._thread.isRunning():
            self._shutdownRequested.emit()
            self._thread.wait()

    def history_columns(self, series: str, seconds: float) -> dict[str, list[float]]:
        """The sampler's ring buffers, ``{"t": [...], field: [...]}``; safe from any thread."""
        sampler = self._sampler
        return sampler.history_columns(series, seconds) if sampler is not None else {}

    def timeline(self, prefix: str | None = None, queue: str | None = None) -> list[Span]:
        """Task runs whose id starts with ``prefix`` (a batch's children) and/or of one queue;
        safe from any thread (the event monitor copies what it reads)."""
        monitor = self._monitor
        return monitor.timeline(queue=queue, prefix=prefix) if monitor is not None else []

    # -- inputs (queued from the WorkerController's signals) ---------------------------------
    @Slot(list)
    def setWorkers(self, workers: list[WorkerInfo]) -> None:
        self._workers = list(workers)

    @Slot(object)
    def setBroker(self, status: BrokerStatus) -> None:
        self._broker = status

    # -- in the telemetry thread -------------------------------------------------------------
    @Slot()
    def _on_thread_started(self) -> None:
        loaded = settings_mod.load()
        settings = loaded.settings
        advisor_cfg: dict[str, Any] = dict(settings.advisor or {})
        self._advisor = AdvisorService(
            Thresholds.from_settings(advisor_cfg), advisor_cfg.get("queue_nature")
        )
        self._sampler = ResourceSampler(store=RecordStore())
        self._sampler_thread = SamplerThread(
            self._sampler, self.resourcesSampled.emit, settings.sampling_interval
        )
        self._sampler_thread.start()
        self._start_monitor()
        self._events_timer = QTimer(self)
        self._events_timer.timeout.connect(self._poll_events)
        self._events_timer.start(self._events_ms)
        self._advise_timer = QTimer(self)
        self._advise_timer.setSingleShot(True)  # re-armed after each run: no pile-up
        self._advise_timer.timeout.connect(self.advise)
        self._advise_timer.start(self._advise_ms)
        if settings.metrics_port:
            self._serve_metrics(settings.metrics_port)

    @Slot(int)
    def _serve_metrics(self, port: int) -> None:
        """Start, move or stop the /metrics endpoint (127.0.0.1 only)."""
        if self._metrics is not None and self._metrics.port == port:
            self.metricsServing.emit(self._metrics.url, "")
            return
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if not port or self._closing:
            self.metricsServing.emit("", "")
            return
        try:
            self._metrics = MetricsServer(self._metrics_feed, port).start()
        except OSError as exc:
            self.metricsServing.emit("", f"port {port}: {exc.strerror or exc}")
            return
        log.info("serving Prometheus metrics at %s", self._metrics.url)
        self.metricsServing.emit(self._metrics.url, "")

    def _start_monitor(self) -> None:
        """The event monitor needs a broker URL; without one, try again a little later."""
        self._next_monitor_try = time.monotonic() + MONITOR_RETRY_S
        try:
            config = ensure_broker()
        except Exception as exc:
            log.warning("event monitor not started: %s", exc)
            return
        self._monitor = MonitorSet(EventMonitor(config))  # + one per project broker in use
        self._monitor.start()
        self._batches = BatchService(config)

    @Slot()
    def _poll_events(self) -> None:
        if self._monitor is None or self._closing:
            return
        snapshot = self._monitor.coalesced(self._events_generation)
        if snapshot is not None:
            self._events_generation = snapshot.generation
            self.eventsChanged.emit(snapshot)

    @Slot()
    def advise(self) -> None:
        """One advisor run over the latest of everything; emits only what changed."""
        if self._closing:
            return
        try:
            if self._monitor is None and time.monotonic() >= self._next_monitor_try:
                self._start_monitor()
            if self._monitor is not None:
                self._monitor.sync(brokers_in_use())
            samples = self._sampler_thread.latest if self._sampler_thread else None
            events = self._monitor.snapshot() if self._monitor else None
            batches = self._running_batches()
            obs = self._advisor.observe(self._workers, samples, events, self._broker, batches)
            update = self._advisor.update(obs)
            fit = build_fit(obs, self._advisor.thresholds)
            self._metrics_feed.update(
                MetricsInput(
                    events,
                    samples,
                    tuple(self._workers),
                    self._broker,
                    update.current,
                    batches,
                    tuple(fit),
                )
            )
            if fit != self._fit:
                self._fit = fit
                self.fitChanged.emit(list(fit))
            if update.appeared:
                self.adviceAppeared.emit(list(update.appeared))
            if update.current != self._advice:
                self._advice = list(update.current)
                self.adviceChanged.emit(list(update.current))
        except Exception:
            log.exception("advisor run failed; trying again")
        finally:
            if self._advise_timer is not None and not self._closing:
                self._advise_timer.start(self._advise_ms)

    def _running_batches(self) -> list[BatchRecord]:
        if self._batches is None or time.monotonic() < self._next_batches:
            return self._batch_records
        self._next_batches = time.monotonic() + BATCHES_EVERY_S
        try:
            self._batch_records = self._batches.list(limit=50)
        except Exception as exc:  # the broker may be down: the advisor says so already
            log.debug("batch list failed: %s", exc)
        return self._batch_records

    @Slot()
    def _teardown(self) -> None:
        self._closing = True
        for timer in (self._advise_timer, self._events_timer):
            if timer is not None:
                timer.stop()
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._monitor is not None and not self._monitor.stop(timeout=5.0):
            log.warning("event monitor did not stop in time")
        if self._sampler_thread is not None:
            self._sampler_thread.stop(timeout=5.0)
        if self._batches is not None:
            try:
                self._batches.close()
            except Exception:
                log.exception("closing the batch service failed")
        self.moveToThread(self._home_thread)  # the timers (children) go too, stopped
        self._thread.quit()
