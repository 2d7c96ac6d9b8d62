"""An external RabbitMQ broker works too (runs where one is reachable, as on CI's machine)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pooldesk.backend.broker import current_config
from pooldesk.backend.broker.status import broker_status
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def _reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


pytestmark = [
    pytest.mark.amqp,
    pytest.mark.slow,
    pytest.mark.skipif(not _reachable(), reason="no RabbitMQ on 127.0.0.1:5672"),
]


def test_worker_on_rabbitmq(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLDESK_BROKER_URL", AMQP_URL)
    config = current_config()
    assert not config.managed and config.result_backend == "rpc://"
    status = broker_status(config)
    assert status.up and status.url == "amqp://guest:****@127.0.0.1:5672//"
    manager = WorkerManager(config=config)
    try:
        info = manager.start(WorkerSpec("rmq", "gevent", 5, ("default",)))
        assert info.state == "online"
        assert manager.stop("rmq", timeout=20).state == "stopped"
    finally:
        manager.close()
    assert not (home / "broker" / "broker.json").exists()  # no managed broker was started
