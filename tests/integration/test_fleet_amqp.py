"""The fleet over RabbitMQ: announces, a signed command and its signed reply (the exchanges'
and queues' arguments — exclusive, auto-delete, TTL, expiry — are accepted by a real server)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import pytest

from pooldesk.backend.broker import current_config
from pooldesk.backend.fleet import transport
from pooldesk.backend.fleet.agent import Agent
from pooldesk.backend.fleet.client import FleetClient
from pooldesk.backend.fleet.key import init_key, read_key
from pooldesk.backend.fleet.watch import HostWatcher
from pooldesk.backend.operations import Operations
from pooldesk.backend.workers.manager import WorkerManager
from tests.integration.test_amqp import AMQP_URL, _reachable

pytestmark = [
    pytest.mark.amqp,
    pytest.mark.slow,
    pytest.mark.skipif(not _reachable(), reason="no RabbitMQ on 127.0.0.1:5672"),
]


def test_an_agent_on_rabbitmq_is_seen_and_answers(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POOLDESK_BROKER_URL", AMQP_URL)
    key = read_key(init_key(tmp_path / "fleet.key"))
    host = f"amqp-{uuid.uuid4().hex[:8]}"
    manager = WorkerManager(config=current_config())
    agent = Agent(host, key, lambda: Operations(manager), url=AMQP_URL, sample_s=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,), daemon=True)
    thread.start()
    watcher = HostWatcher(url=AMQP_URL)
    client = FleetClient(key, url=AMQP_URL)
    try:
        deadline = time.monotonic() + 15
        while not watcher.registry.online(host):
            assert time.monotonic() < deadline, "the agent was never heard"
            watcher.poll(0.2)
        rid = client.send(host, "worker", {"op": "forget", "name": "nobody", "params": {}})
        result = client.wait(rid, timeout=10)
        assert result is not None and result["host"] == host
        assert not result["ok"] and result["data"]["reason"] == "refused"
    finally:
        stop.set()
        thread.join(timeout=10)
        watcher.close()
        client.close()
        manager.close()
        conn = transport.connect(AMQP_URL)
        with conn:
            transport.command_queue(host)(conn.default_channel).delete()
    assert not thread.is_alive()
