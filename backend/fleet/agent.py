"""``pooldesk agent serve``: one host's agent, speaking through the broker only.

One thread, one kombu connection: it consumes its host's command queue, publishes an announce
at start and every ``announce_s``, a sample every ``sample_s``, and ticks the operations API
every ``tick_s`` (each later Outcome goes back as a signed reply). It listens on no socket.

Losing the broker (a restart, a network cut) drops the connection; the loop reconnects with a
capped back-off (``transport.ensure``), declares its queue again and announces again, so the
panel sees the host come back within a second of the broker. Commands sent meanwhile wait in
the durable queue and are refused as expired if they waited longer than the signing window.

Workers are the agent's children under the usual supervisor, in sessions of their own: they
outlive the agent (systemd's ``KillMode=process`` stops only the agent), and an agent that
starts again adopts them (``WorkerManager.adopt_orphans``, for a supervisor that was killed
too; a live supervisor needs nothing: the worker records are the agent's memory).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection, Consumer, Producer

from pooldesk.backend import paths, proc
from pooldesk.backend.fleet import transport
from pooldesk.backend.fleet.handler import CommandHandler
from pooldesk.backend.fleet.probe import Sampler, announce
from pooldesk.backend.fleet.runner import Operations
from pooldesk.backend.fleet.sign import Verifier, seal
from pooldesk.backend.workers.records import RecordStore

log = logging.getLogger("pooldesk.fleet.agent")

REPLY_KEY_RE = re.compile(r"^reply\.[0-9a-f]{8,64}$")
WORKERS_EVERY_S = 5.0
RECONNECT_MAX_S = 5.0


class Agent:
    def __init__(
        self,
        host: str,
        key: bytes | None,
        operations: Callable[[], Operations],
        url: str | None = None,
        window: float = 30.0,
        sample_s: float = 1.0,
        announce_s: float = 30.0,
        tick_s: float = 0.25,
        adopt: Callable[[], list[str]] | None = None,
        feeds: tuple[Callable[[], dict[str, Any] | None], ...] = (),
    ) -> None:
        self.host = host
        self.key = key
        self.url = url
        self.sample_s, self.announce_s, self.tick_s = sample_s, announce_s, tick_s
        self.data_dir = paths.root_path()
        self.sampler = Sampler(host, self.data_dir)
        self.adopt = adopt
        # Messages for the panel, each when due: its workers' rows (``roster.Roster.due``), the
        # events of its projects' own brokers (``relay.EventRelay.due``).
        self.feeds = feeds
        verifier = Verifier(key, host, window) if key else None
        self.handler = CommandHandler(
            host, verifier, operations, self._reply, chores=self._adopt if adopt else None
        )
        self._producer: Producer | None = None
        self.connections = 0  # how many times it (re)connected: 1 + broker restarts survived
        self._workers: int | None = None
        self._workers_at = 0.0

    # -- the loop ----------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        delay = 0.2
        while not stop.is_set():
            conn = transport.connect(self.url)
            try:
                transport.ensure(conn, retries=3)
                delay = 0.2
                self._serve(conn, stop)
            except transport.errors(conn) as exc:
                log.warning("broker connection lost (%s); reconnecting", type(exc).__name__)
                stop.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
            finally:
                self._producer = None
                conn.release()
        self.handler.close()

    def _serve(self, conn: Connection, stop: threading.Event) -> None:
        channel = conn.channel()
        self._producer = Producer(channel)
        queue = transport.command_queue(self.host)(channel)
        queue.declare()
        consumer = Consumer(channel, [queue], callbacks=[self._on_message], accept=["json"])
        consumer.on_decode_error = self._on_decode_error  # type: ignore[assignment]
        self.connections += 1
        with consumer:
            self._publish(announce(self.host, self.data_dir))
            log.info("agent %s serving on %s", self.host, conn.as_uri())
            next_sample = next_announce = time.monotonic()
            next_announce += self.announce_s
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):  # nothing arrived this tick
                    conn.drain_events(timeout=self.tick_s)
                self.handler.tick()
                now = time.monotonic()
                if now >= next_sample:
                    next_sample = max(next_sample + self.sample_s, now)
                    self._publish(self.sampler.sample(self._count_workers()))
                    for feed in self.feeds:
                        body = feed()
                        if body is not None:
                            self._publish(body)
                if now >= next_announce:
                    next_announce = now + self.announce_s
                    self._publish(announce(self.host, self.data_dir))
            self._publish({"kind": "bye", "host": self.host, "ts": time.time()})

    # -- messages ----------------------------------------------------------------------
    def _on_message(self, body: Any, message: Any) -> None:
        message.ack()  # at most once: a redelivered command would be a replay anyway
        self.handler.handle(body)

    def _on_decode_error(self, message: Any, exc: Exception) -> None:
        message.ack()
        self.handler.refusals += 1
        log.warning("command refused (malformed): not JSON (%s)", type(exc).__name__)

    def _publish(self, body: dict[str, Any]) -> None:
        if self._producer is not None:
            transport.publish(self._producer, body, transport.HOSTS)

    def _reply(self, reply_to: str, sender: str, outcome: dict[str, Any]) -> None:
        if not REPLY_KEY_RE.match(reply_to) or self.key is None or self._producer is None:
            log.warning("reply to %r not sent (not a reply queue, or no connection)", reply_to)
            return
        body = seal(self.key, sender, self.host, "reply", outcome)
        transport.publish(self._producer, body, transport.COMMANDS, routing_key=reply_to)

    # -- workers -------------------------------------------------------------------------
    def _adopt(self) -> None:
        """Re-supervise workers whose supervisor died with a previous agent (on the
        operations thread: it shares the manager)."""
        assert self.adopt is not None
        for name in self.adopt():
            log.info("adopted worker %s (its supervisor was gone)", name)

    def _count_workers(self) -> int | None:
        """Workers alive on this host (re-read every few seconds; records are small files)."""
        now = time.monotonic()
        if now - self._workers_at >= WORKERS_EVERY_S:
            self._workers_at = now
            store = RecordStore()
            count = 0
            for name in store.names():
                try:
                    info = store.pid_info(name)
                except (OSError, ValueError):
                    continue
                if info is not None and proc.alive(info.celery_pid, info.create_time):
                    count += 1
            self._workers = count
        return self._workers
