"""Faults survived, processes side (issue 24 items 4, 7–12): real processes, real kills, the
default settings (no shortened visibility timeout, no faster polling).

Each test stops what it starts (the ``home`` fixture's teardown kills the rest).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from pooldesk.backend import proc
from pooldesk.backend.broker import found
from pooldesk.backend.broker.managed import ManagedBroker
from pooldesk.backend.workers import supervise
from pooldesk.backend.workers.manager import WorkerManager, node_name
from pooldesk.backend.workers.records import RecordStore, WorkerRecord
from pooldesk.backend.workers.spec import WorkerSpec
from tests.clirun import CMD, pooldesk
from tests.liveworkers import start_online

SOLO = ["--pool", "solo", "--queues", "default"]


def wait_for(predicate: Callable[[], Any], timeout: float = 45.0, step: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


def celery_mains(name: str) -> list[psutil.Process]:
    """Celery main processes started for worker ``name`` (solo pool: no pool children)."""
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info.get("cmdline") or []
        if f"{name}@%h" in cmd and "pooldesk.backend.workers.supervise" not in cmd:
            out.append(p)
    return out


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids to SIGKILL (with their process group) after the test, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def test_concurrent_starts_and_restarts_make_one_worker(home: Path, broker: Any) -> None:
    """Item 4: two ``worker start same --wait`` at once, then two ``restart`` at once."""
    starts = [
        subprocess.Popen(
            [*CMD, "worker", "start", "same", *SOLO, "--wait"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=90), *p.communicate()) for p in starts]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    refused = next(err for code, _, err in results if code == 1)
    assert "already" in refused and "Traceback" not in refused
    assert len(celery_mains("same")) == 1
    restarts = [
        subprocess.Popen(
            [*CMD, "worker", "restart", "same"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    assert [p.wait(timeout=120) for p in restarts] == [0, 0]  # one after the other
    assert len(celery_mains("same")) == 1
    # A Celery started by hand under the same node name: the list shows both, quietly.
    url = broker.broker_url or ""
    celery = [sys.executable, "-m", "celery", "-A", "pooldesk.backend.celery_app:app", "worker"]
    rogue = subprocess.Popen(
        [*celery, "-P", "solo", "-n", "same@%h", "--without-mingle", "--without-gossip"],
        env={**os.environ, "CELERY_BROKER_URL": url, "POOLDESK_BROKER_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    manager = WorkerManager(config=broker)
    try:
        node = node_name("same")
        app = manager.control.app
        wait_for(lambda: sum(node in r for r in app.control.ping(timeout=1) or []) == 2)
        listed = pooldesk("worker", "list")
        assert listed.returncode == 0, listed.stderr
        assert "DuplicateNodenameWarning" not in listed.stderr, listed.stderr
    finally:
        manager.close()
        os.killpg(rogue.pid, signal.SIGKILL)
        rogue.wait()
    assert pooldesk("worker", "stop", "same").returncode == 0
    assert celery_mains("same") == []


def test_a_killed_supervisor_is_noticed_and_its_worker_supervised_again(
    manager: WorkerManager, cleanup: list[int]
) -> None:
    """Item 7: SIGKILL the supervisor; the next listing restarts the worker under a new one,
    with its log, and a later crash of Celery is seen and restarted."""
    info = start_online(manager, WorkerSpec(name="orph", pool="solo"))
    assert info.pid
    record = manager.store.load("orph")
    assert record is not None and record.supervisor_pid
    orphan = info.pid
    cleanup.append(orphan)
    os.kill(record.supervisor_pid, signal.SIGKILL)
    proc.wait_gone(record.supervisor_pid, None, 10)

    other = WorkerManager(config=manager.config)  # a CLI poller beside the window's manager
    try:
        adopted = manager.all(include_remote=False)
        assert manager.adopted == ["orph"]
        assert other.adopt_orphans() == []  # adopted once, not by every poller
    finally:
        other.close()
    assert adopted[0].state in ("online", "stopping", "starting")

    def fresh() -> int | None:
        w = manager.info("orph")
        return w.pid if w.state == "online" and w.pid and w.pid != orphan else None

    new_pid = wait_for(fresh, timeout=90)
    assert not proc.alive(orphan)
    log = (manager.store.log_path("orph")).read_text()
    assert "the supervisor of worker orph was killed" in log
    assert log.rindex("ready") > log.index("was killed")  # the new run logs again
    os.kill(new_pid, signal.SIGKILL)  # now supervised: seen and restarted, not "unknown"
    wait_for(lambda: (w := manager.info("orph")).pid not in (None, new_pid) and w.crashes == 1)


def test_kombus_reconnect_crash_does_not_spend_the_crash_loop_budget(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Item 8: a run that dies in kombu's restore_unacked is restarted and not counted
    (restarts=0: one counted crash would end supervision)."""
    store = RecordStore()
    store.save(WorkerRecord(spec=WorkerSpec(name="kb"), hostname="kb@h"))
    marker = home / "crashed-once"
    trace = (
        "Traceback (most recent call last):\n"
        '  File "kombu/transport/redis.py", line 363, in restore_unacked\n'
        "AttributeError: 'NoneType' object has no attribute 'hostname'"
    )
    script = (
        "import pathlib, sys\n"
        f"m = pathlib.Path({str(marker)!r})\n"
        "if m.exists(): sys.exit(0)\n"
        "m.touch()\n"
        f"print({trace!r})\n"
        "sys.exit(1)\n"
    )
    monkeypatch.setattr(
        supervise, "_command", lambda args, project: ([sys.executable, "-c", script], None, None)
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        assert supervise.run("kb", [], restarts=0, window=600) == 0
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    log = store.log_path("kb").read_text()
    assert "broker-side crash inside kombu" in log and "not counted" in log
    assert "gave up" not in log
    ended = store.exit_info("kb")
    assert ended is not None and ended.returncode == 0 and ended.crashes == 0


def test_a_lost_broker_record_finds_the_running_broker(home: Path, broker: object) -> None:
    """Item 10: broker.json truncated (or never written: the window killed right after the
    launch) while the server runs: found again, never a second server."""
    managed = ManagedBroker()
    state = managed.state()
    assert state is not None and state.pid
    managed.state_path.write_text("")
    status = pooldesk("broker", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pid"] == state.pid
    managed.state_path.unlink()
    for p in psutil.process_iter(["cmdline"]):  # as if its starter died before starting it
        if str(managed.dir) in (p.info.get("cmdline") or []):
            p.kill()
    wait_for(lambda: not found.has_watchdog(managed.dir), timeout=10)
    again = pooldesk("broker", "start", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["pid"] == state.pid
    assert [p.pid for p in found.servers_in(managed.dir)] == [state.pid]
    assert found.has_watchdog(managed.dir)


def test_the_broker_keeps_its_port_and_an_unreachable_worker_is_shown(
    manager: WorkerManager,
) -> None:
    """Item 9: broker stopped, its port taken: the start fails naming the port instead of
    moving; moved on purpose (--new-port), the worker left on the old port is shown as such
    and the advisor warns."""
    start_online(manager, WorkerSpec(name="w9", pool="solo"))
    managed = ManagedBroker()
    old = managed.state()
    assert old is not None
    assert pooldesk("broker", "stop").returncode == 0
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        squatter.bind(("127.0.0.1", old.port))
        squatter.listen()
        refused = pooldesk("broker", "start")
        assert refused.returncode == 1
        assert f"port 127.0.0.1:{old.port} is taken" in refused.stderr
        moved = pooldesk("broker", "start", "--new-port")
        assert moved.returncode == 0 and "moved from port" in moved.stdout, moved.stderr
        listed = pooldesk("worker", "list", "--json")
        w9 = next(w for w in json.loads(listed.stdout) if w["name"] == "w9")
        assert w9["off_broker"] and f":{old.port}/" in w9["broker"]
        assert "w9 cannot reach its broker" in pooldesk("worker", "list").stderr
        advice = json.loads(pooldesk("advise", "--seconds", "1", "--json").stdout)
        assert any(a["rule"] == "off_broker" for a in advice), advice
    finally:
        squatter.close()


def test_a_broker_whose_data_directory_is_deleted_exits(tmp_path: Path) -> None:
    """Item 10: nothing outlives its data directory."""
    directory = tmp_path / "gone-home" / "broker"
    directory.mkdir(parents=True)
    state = ManagedBroker(directory).start()
    assert state.pid and proc.alive(state.pid)
    try:
        shutil.rmtree(tmp_path / "gone-home")
        assert wait_for(lambda: not proc.alive(state.pid, state.create_time), timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(state.pid, signal.SIGKILL)


def test_bad_worker_records_cost_one_line_each(manager: WorkerManager) -> None:
    """Item 11: a pid record with a string pid and a corrupt record of a running worker."""
    start_online(manager, WorkerSpec(name="w3", pool="solo"))
    store = manager.store
    store.save(WorkerRecord(spec=WorkerSpec(name="w1"), hostname="w1@h"))
    # Never a live pid here: the home fixture's teardown SIGKILLs recorded supervisor groups.
    (store.dir / "w1.pid.json").write_text(
        json.dumps({"celery_pid": "abc", "create_time": 1.0, "supervisor_pid": 4_000_000})
    )
    (store.dir / "w3.json").write_text("{ torn")
    listed = pooldesk("worker", "list")
    assert listed.returncode == 0, listed.stderr
    assert "workers/w1.pid.json is unreadable" in listed.stderr
    assert "workers/w3.json is unreadable" in listed.stderr
    assert "Traceback" not in listed.stderr
    rows = json.loads(pooldesk("worker", "list", "--json").stdout)
    w3 = next(w for w in rows if w["name"] == "w3")
    assert w3["remote"] and "listed as remote" in (w3["problem"] or "")
    assert any(w["name"] == "w1" for w in rows)
    for name in ("w3", "w1"):  # the test's own records back, for the fixture's stop
        (store.dir / f"{name}.json").unlink()
    for p in celery_mains("w3"):
        p.kill()


def test_a_start_that_times_out_leaves_nothing_running(home: Path, broker: object) -> None:
    """Item 12: ``--timeout 0.001 --wait`` exits 1 and stops the worker it started."""
    done = pooldesk("worker", "start", "t1", *SOLO, "--wait", "--timeout", "0.001")
    assert done.returncode == 1
    assert "did not answer ping" in done.stderr and "stopped again" in done.stderr
    assert celery_mains("t1") == []
    rows = json.loads(pooldesk("worker", "list", "--local", "--json").stdout)
    assert next(w for w in rows if w["name"] == "t1")["state"] == "stopped"
