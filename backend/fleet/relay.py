"""The agent's ears on its projects' own brokers: their workers' reports, relayed to the panel.

A user's project on another host often runs on a broker of its own (its app's
``broker_url``), one the panel may not even reach (``redis://localhost`` *there*). Its workers
send the reports pool fit rests on — the in-worker probe's ``worker-fit`` totals, its gevent
``worker-loop`` lag, Celery's heartbeats — to that broker only. So the agent listens there
(one :class:`~pooldesk.backend.telemetry.events.EventMonitor` per distinct broker of its
workers' projects, the fleet's own broker excluded: the panel hears that one itself) and
publishes what it heard on the hosts fanout, once a second:

``{"kind": "events", "host": H, "ts": T, "events": [worker event, ...]}``

Only ``worker-*`` events travel, never task events: their rate grows with processes, not with
tasks. Within a second they are folded to the newest per (type, node, pid): ``worker-fit``
carries *cumulative* totals, so the newest says everything the older ones did (their recent
runs, for the timeline, are carried over); a heartbeat or a loop report replaces the last. A
message holds at most ``MAX_EVENTS``; the panel feeds them to its telemetry as if it had heard
them (``relayed.py`` beside this). Like samples and worker rows they are not signed: they
are what a panel without the key may watch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.multi import MonitorSet

log = logging.getLogger("pooldesk.fleet.agent")

KIND = "events"
EVERY_S = 1.0
BROKERS_EVERY_S = 5.0  # re-read which brokers its workers use (records are small files)
MAX_EVENTS = 200  # per message: 200 worker processes reporting in one second
MAX_RUNS = 200  # recent runs carried over from folded worker-fit events
FIT = "worker-fit"
_DROPPED = ("local_received",)  # the panel stamps its own arrival time


def _key(event: Mapping[str, Any]) -> tuple[str, str, Any]:
    kind = str(event.get("type"))
    return kind, str(event.get("hostname")), event.get("pid") if kind == FIT else None


class EventRelay:
    """Folds worker events from the monitors' threads; ``due()`` (the agent's loop) takes them."""

    def __init__(
        self,
        host: str,
        fleet_url: str | None,
        brokers: Callable[[], list[BrokerConfig]],
        factory: Callable[..., EventMonitor] = EventMonitor,
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host, self.fleet_url, self.brokers = host, fleet_url, brokers
        self.every_s, self.clock = every_s, clock
        self.monitors = MonitorSet(None, lambda config: factory(config, tap=self.tap))
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, Any], dict[str, Any]] = {}
        self._next = self._next_brokers = 0.0
        self.relayed = self.dropped = 0

    def tap(self, event: Mapping[str, Any]) -> None:
        """One event heard on a project's broker (called in that monitor's thread)."""
        kind, node = event.get("type"), event.get("hostname")
        if not isinstance(kind, str) or not kind.startswith("worker-") or not isinstance(node, str):
            return
        body = {k: v for k, v in event.items() if k not in _DROPPED}
        key = _key(body)
        with self._lock:
            old = self._pending.pop(key, None)
            if old is not None and kind == FIT:
                runs = [*(old.get("runs") or []), *(body.get("runs") or [])]
                body["runs"] = runs[-MAX_RUNS:]
            if len(self._pending) >= MAX_EVENTS:
                self._pending.pop(next(iter(self._pending)))  # the oldest goes first
                self.dropped += 1
            self._pending[key] = body  # re-inserted: the newest come last, in order

    def due(self) -> dict[str, Any] | None:
        """The message to publish now (None: not yet, or nothing heard)."""
        now = self.clock()
        if now >= self._next_brokers:
            self._next_brokers = now + BROKERS_EVERY_S
            self._sync()
        if now < self._next:
            return None
        self._next = now + self.every_s
        with self._lock:
            events, self._pending = list(self._pending.values()), {}
        if not events:
            return None
        self.relayed += len(events)
        return {"kind": KIND, "host": self.host, "ts": time.time(), "events": events}

    def _sync(self) -> None:
        try:
            wanted = [c for c in self.brokers() if c.broker_url and c.broker_url != self.fleet_url]
        except Exception:  # an unreadable record must not stop the agent's loop
            log.exception("listing the brokers of this host's projects failed")
            return
        self.monitors.sync(wanted)

    def close(self) -> None:
        self.monitors.stop(timeout=1.0)
