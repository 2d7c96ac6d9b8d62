"""Throughput per queue (tasks finished per second, 10 s average), one curve per queue.

The event monitor's snapshots carry only the current rates, so the window keeps their
history here: one sample per second per queue in a ring buffer, like the sampler's.
"""

from __future__ import annotations

import time

from pooldesk.backend.telemetry.ring import Ring
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.desktop.charts.base import COLOURS, TimeChart

HIDDEN_QUEUES = frozenset({"(unknown)"})


class QueueHistory:
    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._rings: dict[str, Ring] = {}
        self._latest: dict[str, float] = {}
        self._last_push = 0.0

    def observe(self, snapshot: EventSnapshot) -> None:
        for name, view in snapshot.queues.items():
            if name not in HIDDEN_QUEUES:
                self._latest[name] = view.throughput_10s

    def tick(self, now: float | None = None) -> None:
        """Record the latest rates (called by the chart timer; at most every ``every`` s)."""
        now = time.time() if now is None else now
        if now - self._last_push < self.every:
            return
        self._last_push = now
        for name, rate in self._latest.items():
            ring = self._rings.get(name)
            if ring is None:
                ring = self._rings[name] = Ring(("rate",))
            ring.push(now, rate)

    def queues(self) -> list[str]:
        return sorted(self._rings)

    def columns(self, name: str, seconds: float) -> dict[str, list[float]]:
        ring = self._rings.get(name)
        return ring.columns(seconds) if ring is not None else {}


class QueueThroughputChart(TimeChart):
    def __init__(self, history: QueueHistory) -> None:
        super().__init__("Queue throughput", "tasks/s")
        self.history = history

    def refresh(self, now: float) -> None:
        for name in self.history.queues():
            if not self.has_curve(name):  # a queue seen for the first time: its curve, once
                colour = COLOURS[len(self.curve_keys()) % len(COLOURS)]
                self.add_curve(name, name, colour)
            cols = self.history.columns(name, self.window_s)
            if cols:
                self.set_series(name, cols["t"], cols["rate"], now)
        self.finish_update(floor=1.0)


class BacklogHistory:
    """Messages waiting per queue, from the brokers' status (the managed one every 1.5 s and
    each project's own every 5 s): one ring per queue, so a project's backlog on its own
    broker is charted beside Pooldesk's queues."""

    def __init__(self) -> None:
        self._rings: dict[str, Ring] = {}
        self._seen: dict[str, float] = {}

    def record(self, queues: dict[str, int], now: float | None = None, broker: str = "") -> None:
        now = time.time() if now is None else now
        for name, waiting in queues.items():
            key = f"{name} ({broker})" if broker else name
            ring = self._rings.get(key)
            if ring is None:
                if not waiting:
                    continue  # an idle queue gets a curve once something waits on it
                ring = self._rings[key] = Ring(("waiting",))
            ring.push(now, float(waiting))

    def queues(self) -> list[str]:
        return sorted(self._rings)

    def columns(self, name: str, seconds: float) -> dict[str, list[float]]:
        ring = self._rings.get(name)
        return ring.columns(seconds) if ring is not None else {}


class QueueBacklogChart(TimeChart):
    def __init__(self, history: BacklogHistory) -> None:
        super().__init__("Queue backlog", "waiting")
        self.history = history

    def refresh(self, now: float) -> None:
        for name in self.history.queues():
            if not self.has_curve(name):
                colour = COLOURS[len(self.curve_keys()) % len(COLOURS)]
                self.add_curve(name, name, colour, step=True)
            cols = self.history.columns(name, self.window_s)
            if cols:
                self.set_series(name, cols["t"], cols["waiting"], now)
        self.finish_update(floor=10.0)
