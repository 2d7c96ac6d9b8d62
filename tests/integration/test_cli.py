"""The ``pooldesk`` entry point as a user types it: real processes, real broker."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from pooldesk.backend import proc
from tests.clirun import pooldesk


@pytest.mark.slow
def test_done_when_scenario_gevent_worker(home: Path) -> None:
    start = pooldesk(
        "worker",
        "start",
        "g1",
        "--pool",
        "gevent",
        "--concurrency",
        "50",
        "--queues",
        "monitoring",
        "--wait",
    )
    assert start.returncode == 0, start.stderr
    assert "g1: online" in start.stdout
    listed = pooldesk("worker", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    workers = json.loads(listed.stdout)
    g1 = next(w for w in workers if w["name"] == "g1")
    assert g1["host"] == socket.gethostname()  # this machine, for a local worker
    assert g1["state"] == "online" and g1["pool"] == "gevent" and g1["concurrency"] == 50
    assert g1["queues"] == ["monitoring"] and g1["remote"] is False
    assert isinstance(g1["pid"], int) and g1["memory_bytes"] > 0
    assert isinstance(g1["cpu_percent"], float)
    stop = pooldesk("worker", "stop", "g1")
    assert stop.returncode == 0 and "g1: stopped" in stop.stdout
    assert not proc.alive(g1["pid"])
    logs = pooldesk("worker", "logs", "g1", "--lines", "200")
    assert "g1@" in logs.stdout and "ready" in logs.stdout
    # Nothing in logs or JSON gives the broker password away.
    from pooldesk.backend.broker.managed import ManagedBroker

    state = ManagedBroker().state()
    assert state is not None
    status = pooldesk("broker", "status", "--json")
    assert status.returncode == 0 and json.loads(status.stdout)["up"] is True
    for text in (listed.stdout, status.stdout, logs.stdout, (home / "logs" / "g1.log").read_text()):
        assert state.password not in text
    # The same for scripts: --json on logs and forget.
    last = json.loads(pooldesk("worker", "logs", "g1", "--lines", "3", "--json").stdout)
    assert last["name"] == "g1" and last["lines"] == logs.stdout.splitlines()[-3:]
    gone = pooldesk("worker", "forget", "g1", "--json")
    assert gone.returncode == 0 and json.loads(gone.stdout) == {"name": "g1", "forgotten": True}
    after = json.loads(pooldesk("worker", "list", "--local", "--json").stdout)
    assert all(w["name"] != "g1" for w in after)


@pytest.mark.slow
def test_broker_start_status_stop(home: Path) -> None:
    assert pooldesk("broker", "status").returncode == 1  # never started: down, one line
    started = pooldesk("broker", "start", "--json")
    assert started.returncode == 0
    data = json.loads(started.stdout)
    assert data["up"] and data["managed"] and data["pid"] and "****" in data["url"]
    assert set(data["queues"]) == {"invoices", "monitoring", "orchestration", "default"}
    stopped = pooldesk("broker", "stop")
    assert stopped.returncode == 0 and not proc.alive(data["pid"])


@pytest.mark.slow
def test_restart_and_resize_from_the_cli(home: Path) -> None:
    assert pooldesk("worker", "start", "w", "-P", "threads", "-c", "2", "--wait").returncode == 0
    resized = pooldesk("worker", "resize", "w", "3")
    assert resized.returncode == 0 and "by restarting the worker" in resized.stdout
    restarted = pooldesk("worker", "restart", "w", "--pool", "prefork", "-c", "1", "--json")
    assert restarted.returncode == 0, restarted.stderr
    info = json.loads(restarted.stdout)
    assert info["state"] == "online" and info["pool"] == "prefork"
    live = pooldesk("worker", "resize", "w", "2")
    assert live.returncode == 0 and "live (pool_grow/pool_shrink)" in live.stdout
    assert pooldesk("worker", "stop", "w").returncode == 0


@pytest.mark.slow
def test_queues_change_live_for_local_and_remote_workers(home: Path, tmp_path: Path) -> None:
    from pooldesk.backend.broker import ensure_broker
    from pooldesk.backend.workers.manager import WorkerManager
    from pooldesk.backend.workers.records import RecordStore
    from pooldesk.backend.workers.spec import WorkerSpec

    assert pooldesk("worker", "start", "w", "-P", "gevent", "-c", "5", "--wait").returncode == 0
    changed = pooldesk("worker", "queues", "w", "default,invoices")
    assert changed.returncode == 0 and "now consuming default, invoices" in changed.stdout
    again = pooldesk("worker", "queues", "w", "invoices,default", "--json")  # same set: no-op
    assert json.loads(again.stdout) == {
        "name": "w",
        "queues": ["invoices", "default"],
        "method": "live",
    }
    (tmp_path / "other").mkdir()
    other = WorkerManager(config=ensure_broker(), store=RecordStore(tmp_path / "other"))
    try:
        far = other.start(WorkerSpec("far", "gevent", 5, ("monitoring",)))
        out = pooldesk("worker", "queues", far.hostname, "monitoring,default")
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + 15  # gevent shows a new consumer after 1-2 s

        def listing() -> dict[str, dict]:  # type: ignore[type-arg]
            out = json.loads(pooldesk("worker", "list", "--json").stdout)
            return {w["hostname"]: w for w in out}

        listed = listing()
        while len(listed[far.hostname]["queues"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            listed = listing()
        assert listed[far.hostname]["remote"] is True
        assert sorted(listed[far.hostname]["queues"]) == ["default", "monitoring"]
        assert sorted(listed["w@" + far.hostname.split("@", 1)[1]]["queues"]) == [
            "default",
            "invoices",
        ]
        bad = pooldesk("worker", "queues", "nobody@nowhere", "default")
        assert bad.returncode == 1 and "not a worker on this broker" in bad.stderr
    finally:
        other.stop("far", timeout=10)
        other.close()
    assert pooldesk("worker", "stop", "w").returncode == 0
