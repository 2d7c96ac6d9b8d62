"""The fleet end to end: two agents (separate processes, own homes and host names) on the
managed broker, commanded by the real ``pooldesk`` CLI through the broker alone."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from pooldesk.backend import proc
from pooldesk.backend.fleet import transport
from pooldesk.backend.fleet.client import FleetClient
from pooldesk.backend.fleet.key import init_key, load_key
from pooldesk.backend.fleet.sign import seal
from pooldesk.backend.fleet.watch import HostWatcher
from tests.integration.fleet_agents import HOSTS, Fleet, fleet_fixture  # noqa: F401

pytestmark = pytest.mark.slow


def _hosts(fleet: Fleet, **env: str) -> dict[str, dict]:
    result = fleet.cli("host", "list", "--json", **env)
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)}


def test_host_list_shows_both_agents_with_samples(fleet: Fleet) -> None:
    rows = _hosts(fleet)
    assert set(HOSTS) <= set(rows)
    for host in HOSTS:
        row = rows[host]
        assert row["online"] and row["cores"] >= 1 and row["version"]
        assert row["memory_total_bytes"] > row["memory_used_bytes"] > 0
        assert row["cpu_percent"] is not None and row["workers"] == 0


def test_a_project_on_one_host_starts_logs_and_stops_there_only(fleet: Fleet, tmp_path) -> None:
    add = fleet.cli(
        "project", "add", "demo2", "--host", "host-a", "--python", sys.executable,
        "--workdir", str(tmp_path), "--app", "pooldesk.backend.celery_app:app",
        "--use-managed-broker", "--json",
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert json.loads(add.stdout)["check"]["ok"]
    assert (fleet.home("host-a") / "projects" / "demo2.json").exists()  # saved on host-a
    listed = json.loads(fleet.cli("project", "list", "--json").stdout)
    assert {"name": "demo2", "host": "host-a"}.items() <= next(
        p for p in listed if p["name"] == "demo2"
    ).items()

    elsewhere = fleet.cli("worker", "start", "wb", "--host", "host-b", "--project", "demo2")
    assert elsewhere.returncode == 1 and "not registered on host host-b" in elsewhere.stderr

    start = fleet.cli(
        "worker", "start", "wa", "--host", "host-a", "--project", "demo2", "-P", "prefork",
        "-c", "1", "--wait", "--json",
    )  # fmt: skip
    assert start.returncode == 0, start.stderr
    info = json.loads(start.stdout)
    assert info["state"] == "online" and info["host"] == "host-a" and info["project"] == "demo2"
    pid = info["pid"]

    resize = fleet.cli("worker", "resize", "wa", "2", "--host", "host-a", "--json")
    assert resize.returncode == 0, resize.stderr  # prefork: live, pool_grow
    assert json.loads(resize.stdout) == {
        "name": "wa", "concurrency": 2, "host": "host-a", "method": "live"
    }  # fmt: skip
    restart = fleet.cli("worker", "restart", "wa", "--host", "host-a", "-c", "3", "--json")
    assert restart.returncode == 0, restart.stderr
    again = json.loads(restart.stdout)
    assert again["state"] == "online" and again["concurrency"] == 3 and again["pid"] != pid
    assert (fleet.home("host-a") / "workers" / "wa.json").exists()
    assert not (fleet.root / "panel" / "workers" / "wa.json").exists()

    logs = fleet.cli("worker", "logs", "wa", "--host", "host-a", "-n", "20", "--json")
    assert logs.returncode == 0 and any("ready" in x for x in json.loads(logs.stdout)["lines"])

    stop = fleet.cli("worker", "stop", "wa", "--host", "host-a", "--json")
    assert stop.returncode == 0, stop.stderr
    assert json.loads(stop.stdout)["state"] == "stopped"
    forget = fleet.cli("worker", "forget", "wa", "--host", "host-a")
    assert forget.returncode == 0, forget.stderr
    remove = fleet.cli("project", "remove", "demo2", "--host", "host-a")
    assert remove.returncode == 0, remove.stderr
    assert not (fleet.home("host-a") / "projects" / "demo2.json").exists()


def test_project_list_shows_a_host_projects_check_masked(fleet: Fleet, tmp_path) -> None:
    """The agent's check of a project on host-a is kept with the panel's mirror: ``project
    list`` shows its broker (masked) and when and where it was checked; the password is in no
    output and no file of the panel."""
    password = "s3cret-pw-h1"
    env_file = tmp_path / "app.env"  # on host-a (this machine): the app's own broker
    env_file.write_text(f"CELERY_BROKER_URL=redis://:{password}@127.0.0.1:1/0\n")
    add = fleet.cli(
        "project", "add", "ledger2", "--host", "host-a", "--python", sys.executable,
        "--workdir", str(tmp_path), "--app", "pooldesk.backend.celery_app:app",
        "--env-file", str(env_file), "--json",
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    assert password not in add.stdout + add.stderr

    def listed() -> dict:
        result = fleet.cli("project", "list", "--json")
        assert result.returncode == 0 and password not in result.stdout, result.stderr
        return next(p for p in json.loads(result.stdout) if p["name"] == "ledger2")

    row = listed()
    assert row["host"] == "host-a" and row["checked_on"] == "host-a" and row["check_ok"]
    assert row["broker"] == "redis://:****@127.0.0.1:1/0"
    first = row["checked_at"]
    assert time.time() - 120 < first <= time.time()
    text = fleet.cli("project", "list")
    assert "redis://:****@127.0.0.1:1/0" in text.stdout and password not in text.stdout
    assert "checked on host-a just now" in text.stdout or "s ago" in text.stdout, text.stdout

    check = fleet.cli("project", "check", "ledger2", "--host", "host-a")
    assert check.returncode == 0 and password not in check.stdout, check.stderr
    assert listed()["checked_at"] > first  # the newer check replaced the older one
    panel = fleet.root / "panel"
    written = [p for p in panel.rglob("*") if p.is_file() and "ledger2" in p.name]
    assert len(written) == 2, written  # the mirror and its check, nothing else
    for path in written:
        assert password not in path.read_text(errors="replace"), path

    remove = fleet.cli("project", "remove", "ledger2", "--host", "host-a")
    assert remove.returncode == 0, remove.stderr
    assert not [p for p in panel.rglob("*") if "ledger2" in p.name]  # its check went too


def test_a_host_project_without_host_is_checked_and_removed_there_and_not_started_here(
    fleet: Fleet, tmp_path
) -> None:
    """``project check|remove NAME`` without ``--host``, NAME registered on host-a: its agent
    runs them (one line on stderr says so); no check runs here, so the app's real broker URL
    is in no file of the panel. ``worker start --project NAME`` without ``--host`` is refused
    (exit 2, the host and the flag named) and nothing starts here."""
    password = "s3cret-pw-h4"
    env_file = tmp_path / "app.env"  # on host-a (this machine: the paths exist here too)
    env_file.write_text(f"CELERY_BROKER_URL=redis://:{password}@127.0.0.1:1/0\n")
    add = fleet.cli(
        "project", "add", "ledger4", "--host", "host-a", "--python", sys.executable,
        "--workdir", str(tmp_path), "--app", "pooldesk.backend.celery_app:app",
        "--env-file", str(env_file), "--use-managed-broker", "--json",
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    first = json.loads(add.stdout)["check"]["checked_at"]
    panel = fleet.root / "panel"
    try:
        start = fleet.cli("worker", "start", "w4", "--project", "ledger4", "--wait")
        assert start.returncode == 2, start.stdout + start.stderr
        assert "project ledger4 is registered on host host-a" in start.stderr
        assert "add --host host-a" in start.stderr and password not in start.stderr
        assert not (panel / "workers" / "w4.json").exists()

        check = fleet.cli("project", "check", "ledger4", "--json")
        assert check.returncode == 0, check.stderr
        assert check.stderr.startswith(
            "project ledger4 is registered on host host-a: checking it there, through its agent"
        )
        data = json.loads(check.stdout)
        assert data["host"] == "host-a" and data["checked_at"] > first
        assert password not in check.stdout + check.stderr
        assert not (panel / "projects" / "ledger4.check.json").exists()  # no check ran here
        for path in panel.rglob("*"):
            if path.is_file() and "ledger4" in path.name:
                assert password not in path.read_text(errors="replace"), path

        remove = fleet.cli("project", "remove", "ledger4")
        assert remove.returncode == 0, remove.stderr
        assert "removing it there, through its agent" in remove.stderr
        assert not (fleet.home("host-a") / "projects" / "ledger4.json").exists()
        assert not [p for p in panel.rglob("*") if "ledger4" in p.name]
    finally:  # without the fix, a worker started here and the project stayed on host-a
        if (panel / "workers" / "w4.json").exists():
            fleet.cli("worker", "stop", "w4")
            fleet.cli("worker", "forget", "w4")
        fleet.cli("project", "remove", "ledger4", "--host", "host-a")


def test_a_panel_without_a_key_lists_hosts_but_cannot_command(fleet: Fleet, tmp_path) -> None:
    env = {"POOLDESK_HOME": str(tmp_path / "keyless"), "POOLDESK_BROKER_URL": fleet.url}
    assert set(HOSTS) <= set(_hosts(fleet, **env))
    stop = fleet.cli("worker", "stop", "x", "--host", "host-a", **env)
    assert stop.returncode == 2 and "can watch hosts but not command" in stop.stderr


def test_a_command_signed_with_another_key_is_refused_and_logged(fleet: Fleet, tmp_path) -> None:
    other = load_key(str(init_key(tmp_path / "other.key")))
    client = FleetClient(other, url=fleet.url)
    try:
        rid = client.send("host-a", "worker", {"op": "forget", "name": "x", "params": {}})
        assert client.wait(rid, timeout=3) is None  # refused without an answer
    finally:
        client.close()
    fleet.wait_log("host-a", "command refused (signature)")
    assert "params" not in fleet.log("host-a").split("command refused (signature)")[-1]


def test_a_replayed_or_old_command_is_refused_and_logged(fleet: Fleet) -> None:
    key = load_key(str(fleet.key))
    assert key is not None
    client = FleetClient(key, url=fleet.url)
    try:
        assert client.link.open() and client.link.producer is not None
        params = {"op": "forget", "name": "nobody", "params": {}}
        reply_to = f"reply.{client.client}"
        fresh = seal(key, "host-a", client.sender, "worker", params, reply_to=reply_to)
        old = seal(key, "host-a", client.sender, "worker", params, reply_to, ts=time.time() - 120)
        for body in (fresh, fresh, old):
            transport.publish(client.link.producer, body, transport.COMMANDS, "cmd.host-a")
        fleet.wait_log("host-a", "command refused (replay)")
        fleet.wait_log("host-a", "command refused (expired)")
    finally:
        client.close()


def _wait_online(fleet: Fleet, hosts: tuple[str, ...], after: float, timeout: float) -> None:
    watcher = HostWatcher(url=fleet.url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            watcher.poll(0.5)
            rows = {r["name"]: r for r in watcher.registry.rows()}
            if all(h in rows and rows[h]["last_seen"] > after for h in hosts):
                return
        raise AssertionError(f"not heard again: {hosts}")
    finally:
        watcher.close()


def test_agents_reconnect_and_announce_after_a_broker_restart(fleet: Fleet) -> None:
    from pooldesk.backend.broker.managed import ManagedBroker

    broker = ManagedBroker(fleet.root / "panel" / "broker")
    assert broker.stop(timeout=10)
    time.sleep(4)  # longer than one round of connection retries: the loop must go on
    state = broker.start()
    assert state.url == fleet.url  # same port: the agents' URL still holds
    restarted = time.time()
    for host in HOSTS:
        fleet.wait_log(host, "serving on", count=2, timeout=30)
    _wait_online(fleet, HOSTS, restarted, timeout=10)


def test_a_worker_outlives_its_agent_killed_mid_start_and_is_adopted(fleet: Fleet) -> None:
    # Heard once by this panel first (host list remembers it), so this test stands alone.
    assert _hosts(fleet)["host-b"]["online"] is True
    client = FleetClient(load_key(str(fleet.key)), url=fleet.url)
    try:
        rid = client.send(
            "host-b", "worker", {"op": "start", "name": "wb", "params": {"pool": "solo"}}
        )
        deadline = time.monotonic() + 30
        replies: list[dict] = []
        while not replies:  # the start is under way: the supervisor is spawned, not yet online
            assert time.monotonic() < deadline, "no pending reply"
            replies = [r for r in client.poll(0.2) if r["id"] == rid]
        assert replies[0]["state"] == "pending", replies
    finally:
        client.close()
    served = fleet.log("host-b").count("serving on")
    fleet.kill_agent("host-b")  # SIGKILL, mid-start
    time.sleep(3.5)  # + host list's 2 s of listening: past the 5-s online window
    assert _hosts(fleet)["host-b"]["online"] is False
    pid_file = fleet.home("host-b") / "workers" / "wb.pid.json"
    deadline = time.monotonic() + 30
    while not pid_file.exists():
        assert time.monotonic() < deadline, "the worker never started without its agent"
        time.sleep(0.2)
    record = json.loads(pid_file.read_text())
    time.sleep(1)
    assert proc.alive(record["celery_pid"], record.get("create_time"))
    os.kill(record["supervisor_pid"], signal.SIGKILL)  # its supervisor dies too: an orphan
    time.sleep(0.5)
    assert proc.alive(record["celery_pid"], record.get("create_time"))
    fleet.start_agent("host-b")
    fleet.wait_log("host-b", "serving on", count=served + 1)
    fleet.wait_log("host-b", "adopted worker wb", timeout=30)  # re-supervised by the new agent
    deadline = time.monotonic() + 60
    while _hosts(fleet)["host-b"]["workers"] != 1:
        assert time.monotonic() < deadline, "the adopted worker never ran again"
    stop = fleet.cli("worker", "stop", "wb", "--host", "host-b", "--json")
    assert stop.returncode == 0, stop.stderr
    assert json.loads(stop.stdout)["state"] == "stopped"
    assert not proc.alive(record["celery_pid"], record.get("create_time"))
