"""Broker URLs without a broker: an unreachable one is one clear line, passwords are masked.

(The managed broker itself, a real redis-server, is tested in tests/integration/test_broker.py.)
"""

from __future__ import annotations

import socket

from pooldesk.backend.broker import BrokerConfig
from pooldesk.backend.broker.status import broker_status
from pooldesk.backend.redact import mask_url


def test_unreachable_external_broker_is_one_clear_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once we leave: nobody listens there
    url = f"redis://:secret@127.0.0.1:{port}/0"
    status = broker_status(BrokerConfig(url, url, managed=False))
    assert not status.up
    assert status.error and status.error.startswith("broker unreachable at redis://:****@")
    assert "secret" not in status.error and "\n" not in status.error


def test_mask_url() -> None:
    assert mask_url("redis://:pw@h:1/0") == "redis://:****@h:1/0"
    assert mask_url("amqp://guest:guest@h:5672//") == "amqp://guest:****@h:5672//"
    assert mask_url("redis://h:1/0") == "redis://h:1/0"
