"""Real worker processes on the real managed broker: lifecycle, crashes, adoption, resizing."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from pooldesk.backend import proc
from pooldesk.backend.celery_app import make_app
from pooldesk.backend.operations import Operations, Request
from pooldesk.backend.workers.manager import WorkerError, WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from pooldesk.backend.workers.stopping import StopEvent
from tests.waiting import wait_for

pytestmark = pytest.mark.slow


_wait = wait_for


@pytest.mark.parametrize(("pool", "concurrency"), [("prefork", 2), ("gevent", 20)])
def test_start_online_stop(manager: WorkerManager, pool: str, concurrency: int) -> None:
    info = manager.start(WorkerSpec("w1", pool, concurrency, ("default",)))
    assert info.state == "online"
    assert info.ready_seconds is not None and info.ready_seconds > 0
    assert info.pid and psutil.pid_exists(info.pid)
    assert info.memory_bytes and info.memory_bytes > 10 * 2**20
    if pool == "prefork":
        assert info.children == concurrency
    # Niced (settings.worker_nice, default 10), pool processes too: the window keeps the CPU
    # it needs while the workers saturate the cores.
    tree = [psutil.Process(info.pid), *psutil.Process(info.pid).children(recursive=True)]
    assert {p.nice() for p in tree} == {max(10, os.getpriority(os.PRIO_PROCESS, 0))}
    # It really consumes: a task sent to its queue comes back.
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    assert app.send_task("pooldesk.noop", queue="default").get(timeout=20) == "ok"
    app.close()
    stopped = manager.stop("w1", timeout=20)
    assert stopped.state == "stopped" and stopped.pid is None
    assert not proc.alive(info.pid)
    assert "ready" in "\n".join(manager.logs("w1", 200))


def test_warm_stop_lets_the_running_task_finish(manager: WorkerManager) -> None:
    manager.start(WorkerSpec("w1", "prefork", 1, ("default",)))
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    result = app.send_task("pooldesk.sleep", args=[3.0], queue="default")
    _wait(lambda: result.state == "STARTED")
    assert manager.stop("w1", timeout=30).state == "stopped"
    assert result.get(timeout=5) == 3.0  # finished, not 'Worker exited prematurely'
    app.close()


def test_non_blocking_stop_shows_progress_then_restarts(manager: WorkerManager) -> None:
    """The window's way: request, tick; the row says how far the stop is; a restart's spec
    starts once the old worker has gone, after its running task finished."""
    manager.start(WorkerSpec("w1", "prefork", 1, ("default",)))
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    result = app.send_task("pooldesk.sleep", args=[2.0], queue="default")
    _wait(lambda: result.state == "STARTED")
    spec = manager.restart_spec("w1", concurrency=2)
    manager.request_stop("w1", then=spec, op="restart")
    info = manager.info("w1")
    assert info.state == "stopping"
    assert info.progress and info.progress.startswith("waiting for tasks, ")
    assert manager.stopper.stopping() == {"w1": info.progress}
    events: list[StopEvent] = []

    def stopped() -> StopEvent | None:
        events.extend(manager.tick_stops())
        return next((e for e in events if e.kind in ("stopped", "failed")), None)

    event = _wait(stopped, timeout=30)
    assert (event.kind, event.op, event.how, event.then) == ("stopped", "restart", "warm", spec)
    assert result.get(timeout=5) == 2.0
    app.close()
    back = manager.wait_ready("w1", 30)
    assert back.state == "online" and back.concurrency == 2 and back.progress is None
    assert manager.stopper.stopping() == {}


def test_sigkill_is_reported_then_the_supervisor_restarts_it(manager: WorkerManager) -> None:
    info = manager.start(WorkerSpec("w1", "gevent", 10, ("default",)))
    assert info.pid is not None
    os.kill(info.pid, signal.SIGKILL)
    crashed = _wait(lambda: (i := manager.info("w1")).state == "crashed" and i)
    assert crashed.exit and crashed.exit.startswith("killed by SIGKILL; restarting")
    assert crashed.last_log and any("ready" in line for line in crashed.last_log)
    back = _wait(lambda: (i := manager.info("w1")).state == "online" and i)
    assert back.pid != info.pid and back.crashes == 1


def test_crash_at_start_shows_the_reason_and_the_loop_stops(manager: WorkerManager) -> None:
    manager.restarts = 2
    info = manager.start(WorkerSpec("bad", "prefork", 1, ("default",), app="no_such_module:app"))
    assert info.state == "crashed"
    assert info.exit and info.exit.startswith("exit code")
    assert any("no_such_module" in line for line in info.last_log)
    # Restarted twice with a back-off (1 s, 2 s), then the supervisor gives up.
    final = _wait(lambda: (i := manager.info("bad")).gave_up and i, timeout=40)
    assert (
        final.state == "crashed" and final.crashes == 3 and "gave up after 3" in (final.exit or "")
    )
    # The supervisor records "gave up" and then exits: a moment later, not at once.
    supervisor = manager.store.load("bad").supervisor_pid  # type: ignore[union-attr]
    assert _wait(lambda: not proc.alive(supervisor), timeout=10)


def test_second_manager_adopts_instead_of_duplicating(manager: WorkerManager) -> None:
    first = manager.start(WorkerSpec("w1", "prefork", 1, ("default",)))
    other = WorkerManager(config=manager.config)  # e.g. a new window after the old one closed
    try:
        adopted = other.info("w1")
        assert adopted.state == "online" and adopted.pid == first.pid
        with pytest.raises(WorkerError, match="already running"):
            other.start(WorkerSpec("w1", "prefork", 1, ("default",)))
        assert other.stop("w1", timeout=20).state == "stopped"
    finally:
        other.close()
    assert manager.info("w1").state == "stopped"


def test_restart_with_a_new_pool_and_concurrency(manager: WorkerManager) -> None:
    before = manager.start(WorkerSpec("w1", "gevent", 20, ("invoices",)))
    restart = Request("restart", "w1", {"pool": "prefork", "concurrency": 2})
    assert Operations(manager).run(restart, 60).ok
    after = manager.info("w1")
    assert after.state == "online" and after.pid != before.pid
    assert (after.pool, after.concurrency, after.children) == ("prefork", 2, 2)
    remote = {w.hostname: w for w in manager.control.remote_workers()}
    assert remote[after.hostname].pool == "prefork"


def test_restart_refuses_a_bad_change_before_stopping(manager: WorkerManager) -> None:
    before = manager.start(WorkerSpec("w1", "gevent", 20, ("default",)))
    refused = Operations(manager).submit(
        Request("restart", "w1", {"pool": "solo", "concurrency": 4})
    )
    assert (refused.state, refused.data["reason"]) == ("failed", "invalid")
    assert manager.info("w1").pid == before.pid


def test_live_resize_on_prefork_and_restart_on_threads(manager: WorkerManager) -> None:
    ops = Operations(manager)
    manager.start(WorkerSpec("p", "prefork", 1, ("default",)))
    assert ops.run(Request("resize", "p", {"concurrency": 2})).data["method"] == "live"
    _wait(lambda: manager.info("p").children == 2)
    manager.start(WorkerSpec("t", "threads", 2, ("default",)))
    t_pid = manager.info("t").pid
    result = ops.run(Request("resize", "t", {"concurrency": 4}), 60)
    assert result.ok and result.text.startswith("t restarted as threads × 4")
    info = manager.info("t")
    assert info.concurrency == 4 and info.pid != t_pid and info.state == "online"


def test_live_queue_change(manager: WorkerManager) -> None:
    manager.start(WorkerSpec("w1", "prefork", 1, ("default",)))
    changed = Operations(manager).submit(
        Request("queues", "w1", {"queues": ["default", "invoices"]})
    )
    assert changed.ok
    hostname = manager.info("w1").hostname

    def consumes_invoices() -> bool:
        found = {w.hostname: w for w in manager.control.remote_workers()}
        return "invoices" in found[hostname].queues

    _wait(consumes_invoices)


def test_workers_of_another_installation_are_remote_and_controllable(
    manager: WorkerManager, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from pooldesk.backend.workers.records import RecordStore

    elsewhere = WorkerManager(config=manager.config, store=RecordStore(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    try:
        theirs = elsewhere.start(WorkerSpec("far", "gevent", 5, ("monitoring",)))
        listed = {w.hostname: w for w in manager.all()}
        remote = listed[theirs.hostname]
        assert remote.remote and remote.state == "online-remote"
        assert (remote.pool, remote.concurrency, remote.queues) == ("gevent", 5, ["monitoring"])
        ops = Operations(manager)
        assert ops.submit(Request("resize", theirs.hostname, {"concurrency": 8})).ok
        _wait(lambda: {w.hostname: w for w in manager.all()}[theirs.hostname].concurrency == 8)
        with pytest.raises(WorkerError, match="not a worker on this broker"):
            manager.remote_shutdown("nobody@nowhere")
        manager.remote_shutdown(theirs.hostname)
        assert manager.remote_stopping() == [theirs.hostname]
        _wait(lambda: not proc.alive(theirs.pid), timeout=20)
        _wait(lambda: theirs.hostname not in {w.hostname for w in manager.all()})
        assert manager.remote_stopping() == []  # gone from the broker: no longer watched
    finally:
        for info in elsewhere.all(include_remote=False):
            if info.state != "stopped":
                elsewhere.stop(info.name, timeout=5)
        elsewhere.close()
