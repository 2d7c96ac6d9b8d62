"""The window's telemetry and advisor service (a
:class:`~pooldesk.desktop.services.base.ServiceThread`).

It owns the resource sampler (a ``SamplerThread``), the Celery event monitor (its own receiver
thread) and the observation step (``backend/telemetry/step.py``, the very step ``pooldesk
advise``/``fit``/``metrics serve`` run), all created and used in this thread: it schedules the
step each second and forwards its result, nothing more. It polls nothing the
other services already poll: the worker service lists workers and reads the broker's status
every 1.5 s, the batch service is the only batch poller; their ``workersChanged``,
``brokerChanged`` and ``batchesChanged`` are connected to :meth:`setWorkers`, :meth:`setBroker`
and :meth:`setBatches`, so neither the broker nor ``history.db`` is asked twice. Its settings
(advisor thresholds, sampling interval, metrics port) come at construction and through
:meth:`applySettings`, never from the file.

Signals out:

- ``resourcesSampled(Snapshot)`` once per sample (emitted from the sampler thread: Qt queues it);
- ``eventsChanged(EventSnapshot)`` when the monitor published something new, at most 5 Hz;
- ``fitChanged(list[QueueFit])``: the Pool fit table (``pooldesk.backend.fit.table``) when it
  changed;
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

from PySide6.QtCore import QTimer, Signal, Slot

from pooldesk.backend.advisor.model import Advice, Fix
from pooldesk.backend.audit.model import Finding
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.broker.status import BrokerStatus
from pooldesk.backend.fit import fixloop
from pooldesk.backend.fit.table import QueueFit
from pooldesk.backend.metrics.collector import MetricsInput
from pooldesk.backend.metrics.server import MetricsFeed, MetricsServer
from pooldesk.backend.projects.brokers import brokers_in_use
from pooldesk.backend.settings import Settings
from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.multi import MonitorSet, Source
from pooldesk.backend.telemetry.sampler import ResourceSampler, SamplerThread
from pooldesk.backend.telemetry.step import Inputs, ObservationStep, Outcome
from pooldesk.backend.telemetry.views import Span
from pooldesk.backend.workers.info import WorkerInfo
from pooldesk.backend.workers.records import RecordStore
from pooldesk.desktop.services.base import ServiceThread

log = logging.getLogger(__name__)

ADVISE_MS = 1000
EVENTS_MS = 200  # ≤ 5 Hz to the window, however fast events arrive
MONITOR_RETRY_S = 10.0


class TelemetryController(ServiceThread):
    adviceChanged = Signal(list)  # list[Advice], current, most severe first
    adviceAppeared = Signal(list)  # list[Advice] that just appeared (a tray notice, later)
    resourcesSampled = Signal(object)  # Snapshot
    eventsChanged = Signal(object)  # EventSnapshot
    fitChanged = Signal(list)  # list[QueueFit]: the Pool fit table, when it changed
    observationsChanged = Signal(object)  # Observations of each advisor run (the audit's input)
    metricsServing = Signal(str, str)  # url ("" when off), error ("" when fine)
    metricsPortRequested = Signal(int)  # from the GUI thread: 0 stops the endpoint
    fixMeasured = Signal(str, str)  # title, "was 0.99 cores on gevent × 20, now …: 1.8× faster"

    def __init__(
        self, settings: Settings, advise_ms: int = ADVISE_MS, events_ms: int = EVENTS_MS
    ) -> None:
        super().__init__("pooldesk-telemetry", settings)
        self._advise_ms = advise_ms
        self._events_ms = events_ms
        self._sampler: ResourceSampler | None = None
        self._sampler_thread: SamplerThread | None = None
        self._monitor: MonitorSet | None = None
        self._sources: list[Source] = []  # fed elsewhere: the fleet agents' relayed events
        self.step = ObservationStep(settings)  # the CLI's step too (backend/telemetry/step.py)
        self._workers: list[WorkerInfo] = []
        self._broker: BrokerStatus | None = None
        self._running_batches: list[BatchRecord] = []  # from the batch service
        self._audit: tuple[Finding, ...] = ()  # from the audit service, for the exporter
        self._next_monitor_try = 0.0
        self._events_generation = -1
        self._advice: list[Advice] = []
        self._fit: list[QueueFit] = []
        self._told_after: set[tuple[str, float]] = set()  # (queue, fix time) already notified
        self._advise_timer: QTimer | None = None
        self._events_timer: QTimer | None = None
        self._metrics_feed = MetricsFeed()
        self._metrics: MetricsServer | None = None
        self.metricsPortRequested.connect(self._serve_metrics)

    # -- called from the GUI thread ----------------------------------------------------------
    def history_columns(self, series: str, seconds: float) -> dict[str, list[float]]:
        """The sampler's ring buffers, ``{"t": [...], field: [...]}``; safe from any thread."""
        sampler = self._sampler
        return sampler.history_columns(series, seconds) if sampler is not None else {}

    def timeline(self, prefix: str | None = None, queue: str | None = None) -> list[Span]:
        """Task runs whose id starts with ``prefix`` (a batch's children) and/or of one queue;
        safe from any thread (the event monitor copies what it reads)."""
        monitor = self._monitor
        return monitor.timeline(queue=queue, prefix=prefix) if monitor is not None else []

    def attach_events(self, source: Source) -> None:
        """Worker events heard elsewhere and merged into the monitors' (the fleet service's
        relay of its agents' project brokers). Call before ``start``; the source must be safe
        to read from this service's thread."""
        self._sources.append(source)
        if self._monitor is not None:
            self._monitor.attach(source)

    # -- inputs (queued from the worker and batch services' signals) -------------------------
    @Slot(list)
    def setWorkers(self, workers: list[WorkerInfo]) -> None:
        self._workers = list(workers)

    @Slot(object)
    def setBroker(self, status: BrokerStatus) -> None:
        self._broker = status

    @Slot(object)
    def noteFix(self, fix: Fix) -> None:
        """Fix… was confirmed: the step keeps the before figures (backend/fit/fixloop.py)."""
        try:
            self.step.note_fix(fix)
        except OSError:
            log.exception("could not note the fix; its before/after will be missing")

    @Slot(str, str, bool, str)
    def fixFinished(self, op: str, _subject: str, ok: bool, _message: str) -> None:
        """A fix that failed changed nothing: its row goes back to what it measures."""
        if op == "fix" and not ok:
            try:
                fixloop.forget_last()
            except OSError:
                log.exception("could not forget the failed fix")

    def running_batches(self) -> list[str]:
        """Ids of the running batches the advisor sees (for tests; safe from any thread)."""
        return [r.id for r in self._running_batches]

    @Slot(list)
    def setBatches(self, records: list[BatchRecord]) -> None:
        """The batch service's list; the advisor and the exporter look at the running ones."""
        self._running_batches = [r for r in records if not r.final]

    @Slot(list)
    def setAudit(self, reports: list[dict[str, Any]]) -> None:
        """The audit service's reports: their findings go out as ``pooldesk_audit_finding``."""
        self._audit = tuple(Finding(**f) for r in reports for f in r.get("findings") or [])

    # -- in the telemetry thread -------------------------------------------------------------
    def _on_start(self) -> None:
        settings = self.settings
        self.step = ObservationStep(settings)
        self._sampler = ResourceSampler(store=RecordStore())
        self._sampler_thread = SamplerThread(
            self._sampler, self.resourcesSampled.emit, settings.sampling_interval
        )
        self._sampler_thread.start()
        self._start_monitor()
        self._events_timer = self._timer(self._poll_events, single_shot=False)
        self._events_timer.start(self._events_ms)
        self._advise_timer = self._timer(self.advise)  # re-armed after each run: no pile-up
        self._advise_timer.start(self._advise_ms)
        if settings.metrics_port:
            self._serve_metrics(settings.metrics_port)

    def _on_settings(self, settings: Settings) -> None:
        """New thresholds and sampling interval apply at once; the rules' short histories
        (hysteresis) are kept. The metrics port follows ``metricsPortRequested``."""
        self.step.apply_settings(settings)
        if self._sampler_thread is not None and settings.sampling_interval > 0:
            self._sampler_thread.interval = settings.sampling_interval

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
            config = ensure_broker(self.settings)
        except Exception as exc:
            log.warning("event monitor not started: %s", exc)
            return
        self._monitor = MonitorSet(EventMonitor(config))  # + one per project broker in use
        for source in self._sources:
            self._monitor.attach(source)
        self._monitor.start()

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
            self.forward(self.step.run(self.inputs()))
        except Exception:
            log.exception("advisor run failed; trying again")
        finally:
            if self._advise_timer is not None and not self._closing:
                self._advise_timer.start(self._advise_ms)

    def inputs(self) -> Inputs:
        """The latest of everything, as the other services and the sampler left it."""
        return Inputs(
            tuple(self._workers),
            self._sampler_thread.latest if self._sampler_thread else None,
            self._monitor.snapshot() if self._monitor else None,
            self._broker,
            tuple(self._running_batches),
        )

    def forward(self, outcome: Outcome) -> None:
        """The step's result out: the exporter's input, and signals for what changed."""
        inputs = outcome.inputs
        fit, advice = list(outcome.fit), list(outcome.advice)
        self._metrics_feed.update(
            MetricsInput(
                inputs.events, inputs.samples, inputs.workers, inputs.broker, advice,
                list(inputs.batches), tuple(fit), self._audit,
            )
        )  # fmt: skip
        self.observationsChanged.emit(outcome.obs)
        if fit != self._fit:
            self._fit = fit
            self.fitChanged.emit(list(fit))
        for row in fit:
            text = fixloop.summary(row)
            key = (row.queue, float((row.before or {}).get("runs", 0)))
            if text and key not in self._told_after:
                self._told_after.add(key)
                self.fixMeasured.emit(f"Queue {row.queue} after the fix", text)
        if outcome.appeared:
            self.adviceAppeared.emit(list(outcome.appeared))
        if advice != self._advice:
            self._advice = advice
            self.adviceChanged.emit(list(advice))

    def _on_close(self) -> None:
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        if self._monitor is not None and not self._monitor.stop(timeout=5.0):
            log.warning("event monitor did not stop in time")
        if self._sampler_thread is not None:
            self._sampler_thread.stop(timeout=5.0)
