"""Worker events the fleet's agents heard on their projects' own brokers, as one more stream.

A project on another host may use a broker the panel never listens to (and may not reach): its
agent relays its workers' ``worker-*`` events over the fleet's hosts fanout
(``relay.py`` beside this). This is the panel's end: an :class:`EventState` fed from those
messages (by the fleet listener's thread) and read like an event monitor (by the telemetry's
thread; :class:`~pooldesk.backend.telemetry.multi.MonitorSet` merges it with the brokers it
hears itself). So the probe's measurements, the gevent loop lag and the heartbeats of a host's
worker reach pool fit, the advisor and the charts exactly as a local worker's do.

Arrival is stamped with the panel's clock (``local_received``): another host's clock may be
off, and "offline after three missed heartbeats" must be judged here. A malformed message or
event is counted and dropped; nothing in one is trusted beyond being a worker event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pooldesk.backend.fleet.sign import HOST_RE
from pooldesk.backend.telemetry.eventstate import EventState
from pooldesk.backend.telemetry.views import EventSnapshot, Span

KIND = "events"
MAX_EVENTS = 200  # per message, as the agent caps them


class RelayedEvents:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._state = EventState(clock=clock)
        self._state.connected = True  # nothing to connect: silence is judged per worker
        self._lock = threading.Lock()
        self.dropped = 0
        self.hosts: set[str] = set()  # agents that relayed something

    def feed(self, message: Mapping[str, Any]) -> bool:
        """One agent's ``events`` message; False (and counted) when it is not one."""
        host, events = message.get("host"), message.get("events")
        if not isinstance(host, str) or not HOST_RE.match(host) or not isinstance(events, list):
            self.dropped += 1
            return False
        now = self.clock()
        with self._lock:
            for event in events[:MAX_EVENTS]:
                if not _worker_event(event):
                    self.dropped += 1
                    continue
                self._state.apply({**event, "local_received": now})
            self._state.enable_wanted.clear()  # the agent's own monitor asks its workers
            self._state.resync_wanted = None
            self.hosts.add(host)
        return True

    @property
    def heard(self) -> bool:
        return bool(self.hosts)

    def snapshot(self) -> EventSnapshot:
        with self._lock:
            self._state.check_offline(self.clock())
            return self._state.snapshot()

    def timeline(
        self, queue: str | None = None, prefix: str | None = None, limit: int = 2_000
    ) -> list[Span]:
        with self._lock:
            return self._state.timeline(queue, prefix, limit)


def _worker_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and isinstance(event.get("type"), str)
        and event["type"].startswith("worker-")
        and isinstance(event.get("hostname"), str)
        and bool(event["hostname"])
    )
