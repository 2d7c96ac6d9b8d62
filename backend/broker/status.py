"""Broker health for the status bar and ``pooldesk broker status``: up/down, memory, queues."""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from kombu import Connection

from pooldesk.backend import proc
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.resolve import BrokerConfig

KNOWN_QUEUES = ("invoices", "monitoring", "orchestration", "default")
# kombu's Redis transport keeps priority levels 3, 6 and 9 in keys beside the plain one.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


@dataclass
class BrokerStatus:
    url: str | None  # always masked
    managed: bool
    up: bool
    pid: int | None = None
    memory_bytes: int | None = None
    version: str | None = None
    queues: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def broker_status(config: BrokerConfig, queues: tuple[str, ...] = KNOWN_QUEUES) -> BrokerStatus:
    status = BrokerStatus(url=config.masked_url, managed=config.managed, up=False)
    if config.managed:
        state = ManagedBroker().current()
        if state and proc.alive(state.pid, state.create_time):
            status.pid = state.pid
    if not config.broker_url:
        status.error = "managed broker has never been started"
        return status
    try:
        if config.kind == "redis":
            _redis_status(config.broker_url, queues, status)
        else:
            _amqp_status(config.broker_url, queues, status)
        status.up = True
    except Exception as exc:  # any failure here means "down", phrased for a person
        status.error = describe_unreachable(config, exc)
    return status


def describe_unreachable(config: BrokerConfig, exc: BaseException) -> str:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    for secret_holder in (config.broker_url or "",):
        if "@" in secret_holder:
            reason = reason.replace(secret_holder, config.masked_url or "")
    return f"broker unreachable at {config.masked_url}: {reason}"


def _redis_status(url: str, queues: tuple[str, ...], status: BrokerStatus) -> None:
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        info = client.info()
        status.memory_bytes = int(info.get("used_memory", 0))
        # Valkey also reports a Redis-compatible redis_version (7.2.4): show what really runs.
        valkey = info.get("valkey_version")
        status.version = f"valkey {valkey}" if valkey else str(info.get("redis_version"))
        pipe = client.pipeline()
        for queue in queues:
            for suffix in _PRIORITY_SUFFIXES:
                pipe.llen(queue + suffix)
        lengths = pipe.execute()
        for i, queue in enumerate(queues):
            chunk = lengths[i * len(_PRIORITY_SUFFIXES) : (i + 1) * len(_PRIORITY_SUFFIXES)]
            status.queues[queue] = int(sum(chunk))
    finally:
        client.close()


def _amqp_status(url: str, queues: tuple[str, ...], status: BrokerStatus) -> None:
    with Connection(url, connect_timeout=3) as conn:
        conn.ensure_connection(max_retries=1)
        status.version = str(conn.connection.server_properties.get("version", b""))
        for queue in queues:
            channel = conn.channel()
            try:
                status.queues[queue] = int(channel.queue_declare(queue, passive=True).message_count)
            except Exception:  # passive declare of an absent queue closes the channel
                status.queues[queue] = 0
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
