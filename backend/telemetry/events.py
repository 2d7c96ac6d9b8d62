"""One background receiver turning Celery's event stream into coalesced, bounded snapshots.

Threads: ``EventMonitor.start()`` runs ONE daemon thread. It owns the ``EventState`` (nothing
else touches it) and publishes an immutable ``EventSnapshot`` at most every
``publish_interval`` (0.2 s) while things change, at least every second while rates are
non-zero, never once per event: a burst of 50,000 events costs the reader nothing. Readers on
any thread call ``snapshot()`` / ``coalesced(generation)``; ``on_change`` (optional) is called
*in the monitor thread* after each publish: a Qt adapter should only emit a signal there.

Robustness: reconnect with a capped backoff (1 s → 30 s); a resync from ``inspect()`` after
every (re)connect and whenever the stream cannot be trusted: events arriving > 5 s late, a
monitor thread that was paused, no event at all for ``idle_timeout`` while workers are online,
or heartbeats contradicting our active counts. ``stop()`` returns within ~2 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import fetch_states
from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.telemetry.eventstate import EventState
from pooldesk.backend.telemetry.receiver import PollingReceiver
from pooldesk.backend.telemetry.resync import Fetch, resync
from pooldesk.backend.telemetry.views import EventSnapshot, Span

log = logging.getLogger(__name__)

BACKOFF_MIN_S, BACKOFF_MAX_S = 1.0, 30.0
STALL_COOLDOWN_S = 15.0  # a persistent lag re-triggers a reconnect at most this often
MAX_SKEW_HOSTS = 10_000


class _Stalled(Exception):
    """Raised inside the receiver to drop a connection whose events can no longer be trusted."""


class EventMonitor:
    def __init__(
        self,
        config: BrokerConfig,
        state: EventState | None = None,
        publish_interval: float = 0.2,
        stall_lag: float = 5.0,
        idle_timeout: float = 10.0,
        inspect_timeout: float = 1.0,
        on_change: Callable[[EventSnapshot], None] | None = None,
        tap: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.tap = tap  # sees every event as it arrives (a fleet agent relays worker events)
        self._state = state or EventState()  # the monitor thread's alone once started
        self.publish_interval = publish_interval
        self.stall_lag = stall_lag
        self.idle_timeout = idle_timeout
        self.inspect_timeout = inspect_timeout
        self.on_change = on_change
        self._lock = threading.Lock()
        self._published = self._state.snapshot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._receiver: PollingReceiver | None = None
        self._app: Celery | None = None
        self._backoff = BACKOFF_MIN_S
        self._skew: dict[str, float] = {}  # host → smallest lag seen (its clock offset)
        self._last_stall = -STALL_COOLDOWN_S
        self._last_iteration = self._last_tick = self._last_publish = time.monotonic()

    # -- readers (any thread) ----------------------------------------------------------------
    def snapshot(self) -> EventSnapshot:
        with self._lock:
            return self._published

    def coalesced(self, since: int) -> EventSnapshot | None:
        """The newest snapshot if it changed after generation ``since``, else ``None``.

        For a GUI timer (≤ 5 Hz): ``snap = monitor.coalesced(last); if snap: last = ...``.
        """
        snap = self.snapshot()
        return snap if snap.generation != since else None

    def timeline(
        self, queue: str | None = None, prefix: str | None = None, limit: int = 2_000
    ) -> list[Span]:
        """Task spans for the timeline (``EventState.timeline``); safe from any thread."""
        return self._state.timeline(queue, prefix, limit)

    @property
    def generation(self) -> int:
        return self.snapshot().generation

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("EventMonitor already started")
        self._thread = threading.Thread(target=self._run, name="pooldesk-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> bool:
        """Stop the receiver; True when its thread has ended within ``timeout``."""
        self._stop.set()
        receiver = self._receiver
        if receiver is not None:
            receiver.should_stop = True
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the monitor thread ------------------------------------------------------------------
    def _make_app(self) -> Celery:
        # Fail fast on a dead broker; the loop below retries.
        return panel_app("watch", self.config.broker_url, self.config.result_backend)

    def _run(self) -> None:
        self._app = app = self._make_app()
        reason = "start"
        try:
            while not self._stop.is_set():
                try:
                    self._capture(app, reason)
                    reason = "capture ended"
                except _Stalled as exc:
                    reason = str(exc)
                except TimeoutError:  # capture(timeout=...): silence
                    reason = f"no event for {self.idle_timeout:.0f} s"
                except Exception as exc:
                    self._on_error(exc)
                    if self._stop.wait(self._backoff):
                        break
                    self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
                    reason = "reconnected after an error"
                finally:
                    self._receiver = None
                    self._state.connected = False
                if not self._stop.is_set():
                    self._state.reconnects += 1
        finally:
            self._publish()
            app.close()

    def _capture(self, app: Celery, reason: str) -> None:
        with app.connection_for_read() as conn:
            receiver = PollingReceiver(
                conn,
                on_connected=lambda: self._on_connected(reason),
                on_iteration=self._housekeeping,
                handlers={"*": self._on_event},
                app=app,
            )
            receiver.connect_max_retries = 1
            self._receiver = receiver
            if self._stop.is_set():
                return
            receiver.capture(limit=None, timeout=self.idle_timeout, wakeup=True)

    def _on_error(self, exc: Exception) -> None:
        self._state.connected = False
        self._state.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("event receiver: %s; retrying in %.0f s", self._state.last_error, self._backoff)
        self._state.touch()
        self._publish()

    def _on_connected(self, reason: str) -> None:
        self._state.connected = True
        self._state.last_error = None
        self._backoff = BACKOFF_MIN_S
        self._skew.clear()  # clocks are re-learnt: old minimums may come from before a stall
        idle = reason.startswith("no event")
        if not idle or any(w.online for w in self._state.workers.values()):
            self._resync(reason)
        self._state.touch()
        self._publish()
        self._last_iteration = time.monotonic()  # connecting and resyncing is not a pause

    def _on_event(self, event: dict[str, Any]) -> None:
        try:
            lag = self._lag(event)
            self._state.apply(event)
            if self.tap is not None:
                self.tap(event)
        except Exception:  # one bad event must not end the capture
            log.exception("event monitor: could not apply %r", event.get("type"))
            return
        if lag > self.stall_lag and time.monotonic() - self._last_stall > STALL_COOLDOWN_S:
            self._last_stall = time.monotonic()
            raise _Stalled(f"events arrived {lag:.1f} s late")

    def _lag(self, event: Mapping[str, Any]) -> float:
        """How late this event arrived, less the sender's clock offset (its smallest lag)."""
        host, ts = event.get("hostname"), event.get("timestamp")
        if not host or not ts:
            return 0.0
        lag = float(event.get("local_received") or time.time()) - float(ts)
        base = self._skew.get(host)
        if base is None or lag < base:
            if len(self._skew) > MAX_SKEW_HOSTS:
                self._skew.clear()
            self._skew[host] = base = lag
        self._state.lag = lag - base
        return self._state.lag

    def _housekeeping(self) -> None:
        mono = time.monotonic()
        paused = mono - self._last_iteration
        self._last_iteration = mono
        if paused > self.stall_lag:  # this thread did not run (suspend, starvation)
            raise _Stalled(f"event monitor paused for {paused:.1f} s")
        state = self._state
        if mono - self._last_tick >= 1.0:
            self._last_tick = mono
            changed = state.check_offline(time.time())
            rates = any(q.throughput_60s > 0 for q in self._published.queues.values())
            if rates and not changed:
                state.touch()  # throughput decays with time: show it
            if state.enable_wanted:
                self._enable_events()
            if state.resync_wanted:
                self._resync(state.resync_wanted)
                self._last_iteration = time.monotonic()
        due = mono - self._last_publish >= self.publish_interval
        if due and state.generation != self._published.generation:
            self._publish()

    def _enable_events(self) -> None:
        """Ask workers that run tasks but send no task events to send them (as Flower does)."""
        assert self._app is not None
        wanted, self._state.enable_wanted = self._state.enable_wanted, []
        for host in wanted:
            try:
                self._app.control.enable_events(destination=[host])
                log.info("asked %s to send task events", host)
            except Exception as exc:  # best effort
                log.debug("enable_events %s: %s", host, exc)

    def _resync(self, reason: str) -> None:
        assert self._app is not None
        control = self._app.control
        online = sum(1 for w in self._state.workers.values() if w.online)
        try:
            stats = control.inspect(timeout=self.inspect_timeout, limit=online or None).stats()
            active = None
            if stats and not self._stop.is_set():
                active = control.inspect(timeout=self.inspect_timeout, limit=len(stats)).active()
        except Exception as exc:
            log.warning("resync (%s) failed: %s", reason, exc)
            self._state.resync_wanted = None
            return
        resync(self._state, stats, active, time.time(), reason, self._fetcher())
        log.info("event state re-synced from inspect(): %s", reason)
        self._publish()

    def _fetcher(self) -> Fetch | None:
        """Task outcomes from the result backend, where one lookup answers many (Redis)."""
        app = self._app
        if app is None or not str(self.config.result_backend or "").startswith("redis"):
            return None

        def fetch(ids: list[str]) -> dict[str, str]:
            try:
                return {k: v.state for k, v in fetch_states(app, ids).items()}
            except Exception as exc:
                log.debug("result backend lookup failed: %s", exc)
                return {}

        return fetch

    def _publish(self) -> None:
        snap = self._state.snapshot()
        with self._lock:
            self._published = snap
        self._last_publish = time.monotonic()
        if self.on_change is not None:
            try:
                self.on_change(snap)
            except Exception:
                log.exception("event monitor on_change callback failed")
