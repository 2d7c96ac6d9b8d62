"""A panel's connection to the fleet: one kombu connection, one queue, reconnecting on poll.

Both panel-side readers use it: :class:`~pooldesk.backend.fleet.watch.HostWatcher` (the hosts
fanout) and :class:`~pooldesk.backend.fleet.client.FleetClient` (its reply queue). ``poll``
never blocks longer than asked; a lost broker is reconnected on the next poll, with a capped
back-off, so a caller's loop (a CLI wait, a window's timer thread) simply keeps polling.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Producer, Queue

from pooldesk.backend.fleet import transport

log = logging.getLogger(__name__)


class Link:
    def __init__(
        self, queue: Callable[[], Queue], on_message: Callable[[Any], object], url: str | None
    ) -> None:
        self._queue = queue
        self._on_message = on_message
        self.url = transport.broker_url(url)
        self.conn: Connection | None = None
        self.producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._retry_at = 0.0
        self._delay = 0.2
        self.connections = 0

    def open(self) -> bool:
        """Connected and consuming; False while the broker cannot be reached."""
        if self.conn is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        conn = transport.connect(self.url)
        try:
            transport.ensure(conn, retries=1)
            channel = conn.channel()
            queue = self._queue()(channel)
            queue.declare()
            # no_ack: a panel's messages are disposable (a missed sample is replaced in 1 s), and
            # kombu's Redis ack emulation costs two MULTI/EXEC round trips per message (half
            # the panel's CPU per host in bench/fleet_scale.py).
            consumer = Consumer(
                channel, [queue], callbacks=[self._deliver], accept=["json"], no_ack=True
            )
            consumer.on_decode_error = lambda message, exc: None  # type: ignore[assignment]
            consumer.consume()
        except transport.errors(conn) as exc:
            conn.release()
            self._retry_at = time.monotonic() + self._delay
            self._delay = min(self._delay * 2, transport.CONNECT_RETRY_MAX_S)
            log.debug("fleet link: broker unreachable (%s)", type(exc).__name__)
            return False
        self.conn, self._consumer, self.producer = conn, consumer, Producer(conn.channel())
        self._delay = 0.2
        self.connections += 1
        return True

    def _deliver(self, body: Any, message: Any) -> None:
        self._on_message(body)

    def poll(self, timeout: float) -> None:
        """Deliver what arrives within ``timeout`` seconds (reconnecting if needed)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if not self.open():
                time.sleep(max(0.0, min(left, 0.1)))
            else:
                assert self.conn is not None
                try:
                    self.conn.drain_events(timeout=max(0.01, left))
                except TimeoutError:
                    pass
                except transport.errors(self.conn):
                    self._drop()
            if time.monotonic() >= deadline:
                return

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release cleanly
                self.conn.release()
        self.conn = self.producer = self._consumer = None

    def close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.cancel()
        self._drop()
