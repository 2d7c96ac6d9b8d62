"""Celery's ``EventReceiver`` with a short poll and two hooks, for the window's event monitor
(``telemetry.events``) and the task-history recorder (``taskhistory.recorder``).

``capture()`` blocks in ``drain_events`` until an event comes; an idle broker would then keep
a stop request and periodic housekeeping (flushes, heartbeats, stall checks) waiting forever.
``safety_interval`` makes the drain time out every ``POLL_S`` so ``on_iteration`` runs and
``should_stop`` is noticed; ``on_connected`` runs once the consumer is ready (Celery then also
wakes the workers' event dispatchers), which is when a (re)connect is known to have worked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.events import EventReceiver

POLL_S = 0.25  # drain timeout: how often housekeeping runs (and stop is noticed) when idle


class PollingReceiver(EventReceiver):
    """``capture()`` with a short poll and the owner's hooks in the receiver loop."""

    def __init__(
        self,
        channel: Any,
        on_connected: Callable[[], None],
        on_iteration: Callable[[], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(channel, **kwargs)
        self._on_connected = on_connected
        self._on_iteration = on_iteration

    def consume(self, limit: int | None = None, timeout: float | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("safety_interval", POLL_S)
        return super().consume(limit=limit, timeout=timeout, **kwargs)

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        super().on_consume_ready(connection, channel, consumers, **kwargs)  # wakes workers
        self._on_connected()

    def on_iteration(self) -> None:
        self._on_iteration()
