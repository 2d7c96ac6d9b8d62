"""One event stream per broker in use: Pooldesk's own, and each project's own broker.

A project's workers send their events (and the probe's ``worker-loop`` reports) to *their*
broker, so the panel listens there too: one :class:`EventMonitor` per distinct broker URL,
started when a worker on it appears and stopped when none is left. Readers get one merged
snapshot (workers, queues and batches by key; a Celery node name is unique per broker, and two
brokers sharing a node name is a clash the user would see anyway).

A *source* (``attach``) is read like a monitor but fed elsewhere: the worker events a fleet
agent heard on its projects' own brokers and relayed (``backend/fleet/relayed.py``). It joins
the merge once it has heard something, so a one-machine panel reads exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Protocol

from pooldesk.backend.broker.resolve import BrokerConfig
from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.tally import merge_tallies
from pooldesk.backend.telemetry.views import EventSnapshot, Span


class Source(Protocol):
    """Anything read like an event monitor (``backend/fleet/relayed.RelayedEvents``)."""

    @property
    def heard(self) -> bool: ...

    def snapshot(self) -> EventSnapshot: ...

    def timeline(
        self, queue: str | None = None, prefix: str | None = None, limit: int = 2_000
    ) -> list[Span]: ...


class MonitorSet:
    def __init__(
        self,
        main: EventMonitor | None,
        factory: Callable[[BrokerConfig], EventMonitor] = EventMonitor,
    ) -> None:
        self.main = main
        self._factory = factory
        self._extra: dict[str, EventMonitor] = {}
        self._sources: list[Source] = []

    def attach(self, source: Source) -> None:
        """Merge ``source`` in from now on (it is started, fed and ended by its owner)."""
        self._sources.append(source)

    def start(self) -> None:
        if self.main is not None:
            self.main.start()

    def sync(self, configs: list[BrokerConfig]) -> None:
        """Listen on exactly these extra brokers (those of project workers)."""
        wanted = {c.broker_url: c for c in configs if c.broker_url}
        if self.main is not None:
            wanted.pop(self.main.config.broker_url or "", None)
        for url in list(self._extra):
            if url not in wanted:
                self._extra.pop(url).stop(timeout=0.5)
        for url, config in wanted.items():
            if url not in self._extra:
                monitor = self._extra[url] = self._factory(config)
                monitor.start()

    @property
    def brokers(self) -> int:
        return len(self._extra) + (self.main is not None)

    def snapshot(self) -> EventSnapshot:
        snaps = [m.snapshot() for m in self._readers()]
        if not snaps:
            return EventSnapshot(generation=0, timestamp=0.0, connected=False)
        if len(snaps) == 1:
            return snaps[0]
        first = snaps[0]
        return replace(
            first,
            generation=sum(s.generation for s in snaps) + 1_000_000 * len(snaps),
            connected=all(s.connected for s in snaps),
            workers=_merged(snaps, "workers"),
            queues=_merged(snaps, "queues"),
            batches=_merged(snaps, "batches"),
            tasks_kept=sum(s.tasks_kept for s in snaps),
            events=sum(s.events for s in snaps),
            lag_seconds=max(s.lag_seconds for s in snaps),
            reconnects=sum(s.reconnects for s in snaps),
            resyncs=sum(s.resyncs for s in snaps),
            last_error=next((s.last_error for s in snaps if s.last_error), None),
            fit=_merged(snaps, "fit"),
            tally=merge_tallies([s.tally for s in snaps if s.tally is not None]),
        )

    def timeline(
        self, queue: str | None = None, prefix: str | None = None, limit: int = 2_000
    ) -> list[Span]:
        """Every broker's spans, oldest first (a project's tasks run on its own broker)."""
        spans = [span for m in self._readers() for span in m.timeline(queue, prefix, limit)]
        spans.sort(key=lambda s: s.started)
        return spans[-limit:]

    def _readers(self) -> list[EventMonitor | Source]:
        return [
            *([self.main] if self.main else []),
            *self._extra.values(),
            *(s for s in self._sources if s.heard),
        ]

    def coalesced(self, since: int) -> EventSnapshot | None:
        snap = self.snapshot()
        return snap if snap.generation != since else None

    def stop(self, timeout: float = 3.0) -> bool:
        ok = True
        for monitor in [*self._extra.values(), *([self.main] if self.main else [])]:
            ok = monitor.stop(timeout=timeout) and ok
        self._extra.clear()
        return ok


def _merged(snaps: list[EventSnapshot], name: str) -> MappingProxyType[str, Any]:
    """One mapping of every snapshot's ``name``; on a clash the earlier reader wins (a broker
    the panel hears itself before an agent's relay of it)."""
    out: dict[str, Any] = {}
    for snap in reversed(snaps):
        out.update(getattr(snap, name))
    return MappingProxyType(out)
