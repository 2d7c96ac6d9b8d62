"""Where fleet messages go on the broker Pooldesk already uses: kombu, no socket of our own.

* Commands: direct exchange ``pooldesk.fleet``, routing key ``cmd.<host>``, into the durable
  queue ``pooldesk.fleet.cmd.<host>``: a command sent while that host's agent restarts waits
  there (and is refused as expired if it waited longer than the signing window).
* Replies: the same exchange, routing key ``reply.<client>``, into the client's own queue
  ``pooldesk.fleet.reply.<client>`` (auto-delete, exclusive, expires after 2 min unused). A
  reply to a client that is gone matches no binding and is dropped: nothing piles up.
* Announces and samples: fanout exchange ``pooldesk.fleet.hosts``; each panel reads them
  through its own auto-delete exclusive queue with a 10-s message TTL (on Redis a fanout is
  PUBLISH/SUBSCRIBE: a panel that is not listening simply misses them).

Everything is JSON. TLS URLs (``rediss://``, ``amqps://``) are passed to kombu as they are.
"""

from __future__ import annotations

import logging
from ssl import CERT_REQUIRED
from typing import Any

from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from pooldesk.backend.broker.resolve import current_config

log = logging.getLogger(__name__)

COMMANDS = Exchange("pooldesk.fleet", type="direct", durable=True)
HOSTS = Exchange("pooldesk.fleet.hosts", type="fanout", durable=False)
PANEL_TTL_S = 10.0
REPLY_EXPIRES_S = 120.0
CONNECT_RETRY_MAX_S = 5.0


def errors(conn: Connection) -> tuple[type[BaseException], ...]:
    """What a lost or unreachable broker raises: the transport's errors, and kombu's
    ``OperationalError`` that ``ensure_connection`` raises once its retries are spent."""
    return (*conn.connection_errors, *conn.channel_errors, OperationalError, OSError)


def command_queue(host: str) -> Queue:
    return Queue(f"pooldesk.fleet.cmd.{host}", COMMANDS, routing_key=f"cmd.{host}", durable=True)


def reply_queue(client: str) -> Queue:
    return Queue(
        f"pooldesk.fleet.reply.{client}",
        COMMANDS,
        routing_key=f"reply.{client}",
        durable=False,
        auto_delete=True,
        exclusive=True,
        expires=REPLY_EXPIRES_S,
    )


def panel_queue(panel: str) -> Queue:
    return Queue(
        f"pooldesk.fleet.panel.{panel}",
        HOSTS,
        durable=False,
        auto_delete=True,
        exclusive=True,
        message_ttl=PANEL_TTL_S,
        expires=REPLY_EXPIRES_S,
    )


def broker_url(url: str | None = None) -> str:
    """The broker Pooldesk is configured with (``POOLDESK_BROKER_URL``, settings, managed)."""
    if url:
        return url
    config = current_config(start=True)
    if not config.broker_url:
        raise ConnectionError("no broker: the managed broker could not be started")
    return config.broker_url


def connect(url: str | None = None) -> Connection:
    """A kombu connection (not yet connected: ``ensure`` connects and reconnects).

    A ``rediss://`` URL without ``ssl_cert_reqs`` verifies the server's certificate (system
    CAs, or ``ssl_ca_certs=PATH`` in the URL): kombu alone would take such a URL as
    ``CERT_NONE`` — encrypted, but to whoever answers. ``ssl_cert_reqs=none`` says so
    explicitly. ``amqps://`` is passed as it is (kombu's AMQP client verifies by default)."""
    url = broker_url(url)
    extra: dict[str, Any] = {}
    if url.startswith("rediss://") and "ssl_cert_reqs" not in url:
        parsed = Connection(url).ssl
        extra["ssl"] = {
            **(parsed if isinstance(parsed, dict) else {}),
            "ssl_cert_reqs": CERT_REQUIRED,
        }
    return Connection(
        url,
        heartbeat=0,
        transport_options={"max_retries": 1, "socket_timeout": 5, "socket_connect_timeout": 5},
        **extra,
    )


def ensure(conn: Connection, retries: int | None = None) -> None:
    """Connect, retrying with a capped back-off (``None``: until it works)."""

    def errback(exc: Exception, interval: float) -> None:
        log.warning("broker unreachable (%s); retrying in %.1f s", type(exc).__name__, interval)

    conn.ensure_connection(
        errback=errback,
        max_retries=retries,
        interval_start=0.2,
        interval_step=0.5,
        interval_max=CONNECT_RETRY_MAX_S,
    )


def publish(
    producer: Producer, body: dict[str, Any], exchange: Exchange, routing_key: str = ""
) -> None:
    producer.publish(
        body,
        exchange=exchange,
        routing_key=routing_key,
        serializer="json",
        retry=False,
        declare=[exchange],
        delivery_mode=1 if exchange is HOSTS else 2,
    )
