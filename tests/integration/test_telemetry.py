"""Telemetry on real things: the psutil sampler on real processes and the event monitor on a
real broker and worker (the pure parts are in tests/unit/test_telemetry_state.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from functools import partial

import pytest

from pooldesk.backend.celery_app import make_app
from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.sampler import ResourceSampler
from pooldesk.backend.telemetry.views import EventSnapshot
from pooldesk.backend.workers.manager import WorkerManager
from pooldesk.backend.workers.spec import WorkerSpec
from tests.waiting import wait_for

BURN = "import time\nend = time.monotonic() + 6\nwhile time.monotonic() < end:\n    pass\n"
SLEEP = "import time\ntime.sleep(6)\n"


_wait = partial(wait_for, step=0.05)


# -- resource sampler -------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.serial  # a burner must get most of a core: alone (Makefile, test-noqt)
def test_sampler_measures_real_processes(manager: WorkerManager) -> None:
    worker = manager.start(WorkerSpec("pf", "prefork", 2, ("default",)))
    assert worker.state == "online"
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    sleeper = subprocess.Popen([sys.executable, "-c", SLEEP])
    try:
        sampler = ResourceSampler(manager.store, capacity=100)
        sampler.track("burner", burner.pid)
        sampler.track("sleeper", sleeper.pid)
        time.sleep(0.3)  # both interpreters started
        first = sampler.sample()
        assert first.processes["burner"].cores_used is None  # one point: no rate yet
        time.sleep(1.5)
        snap = sampler.sample()
    finally:
        for child in (burner, sleeper):
            child.kill()
            child.wait()
    burn, sleep = snap.processes["burner"], snap.processes["sleeper"]
    assert burn.cores_used is not None and 0.6 <= burn.cores_used <= 1.2, burn
    assert burn.cores_used_smooth is not None and burn.cores_used_smooth >= 0.6
    assert sleep.cores_used is not None and sleep.cores_used < 0.2, sleep
    for proc in (burn, sleep):
        assert proc.memory_bytes > 0 and proc.rss_bytes >= proc.memory_bytes > 0
        assert proc.open_fds > 0 and proc.children == 0
    pf = snap.workers["pf"]
    assert pf.children == 2 and pf.pid == worker.pid
    assert (pf.pool, pf.concurrency, pf.hostname) == ("prefork", 2, worker.hostname)
    assert pf.memory_bytes > 10 * 2**20 and pf.open_fds > 0 and pf.cores_used is not None
    system = snap.system
    assert 0 <= system.cpu_percent <= 100 and all(0 <= c <= 100 for c in system.per_cpu)
    assert 0 < system.ram_available <= system.ram_total and 0 < system.ram_used <= system.ram_total
    assert system.swap_used >= 0
    data = snap.to_dict()  # JSON-ready
    assert data["processes"]["burner"]["cores_used"] == burn.cores_used
    assert len(sampler.history("process:burner")) == 2
    assert len(sampler.history("worker:pf", 60)) == 2
    assert sampler.history_columns("system", 60)["cpu_percent"]
    assert manager.stop("pf", timeout=20).state == "stopped"
    assert "pf" not in sampler.sample().workers


# -- event monitor on a real worker -----------------------------------------------------------
@pytest.mark.slow
def test_event_monitor_follows_a_real_worker(manager: WorkerManager) -> None:
    published: list[int] = []
    monitor = EventMonitor(manager.config, on_change=lambda s: published.append(s.generation))
    monitor.start()
    try:
        _wait(lambda: monitor.snapshot().connected)
        info = manager.start(WorkerSpec("ev", "prefork", 2, ("default",)))
        host = info.hostname
        _wait(lambda: (w := monitor.snapshot().workers.get(host)) is not None and w.online)
        assert monitor.snapshot().workers[host].sw_ident == "py-celery"

        app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
        results = [app.send_task("pooldesk.noop", queue="default") for _ in range(20)]
        assert [r.get(timeout=20) for r in results] == ["ok"] * 20
        batch = uuid.uuid4().hex
        sleeps = [
            app.send_task("pooldesk.sleep", args=[0.2], queue="default", task_id=f"{batch}.{i}")
            for i in range(5)
        ]
        assert [r.get(timeout=20) for r in sleeps] == [0.2] * 5
        app.close()

        def done() -> EventSnapshot | None:
            snap = monitor.snapshot()
            w, b = snap.workers.get(host), snap.batches.get(batch)
            return snap if w and w.processed >= 25 and b and b.succeeded == 5 else None

        snap = _wait(done, timeout=10)
        worker = snap.workers[host]
        assert worker.online and worker.active == 0 and worker.failed == 0
        queue = snap.queues["default"]
        assert queue.succeeded == 25 and queue.in_flight == 0
        assert queue.throughput_10s > 0 and queue.throughput_60s > 0
        assert queue.wait_p50 is not None and queue.wait_p95 is not None
        assert queue.run_p50 is not None and queue.run_p95 is not None and queue.run_p95 >= 0.15
        b = snap.batches[batch]
        assert (b.seen, b.pending, b.started, b.succeeded, b.failed) == (5, 0, 0, 5, 0)
        assert set(b.children) == {f"{batch}.{i}" for i in range(5)}
        assert snap.resyncs >= 1 and snap.last_resync_reason == "start"
        assert snap.to_dict()["batches"][batch]["children"][f"{batch}.0"] == "SUCCESS"
        # Coalesced: far fewer publications than the ~100 events seen.
        assert snap.events >= 100 and len(published) < snap.events / 2
        latest = monitor.snapshot()
        again = monitor.coalesced(latest.generation)
        assert again is None or again.generation != latest.generation
        assert monitor.coalesced(-1) is not None

        manager.stop("ev", timeout=20)
        _wait(lambda: not monitor.snapshot().workers[host].online, timeout=10)
    finally:
        started = time.monotonic()
        stopped = monitor.stop()
        elapsed = time.monotonic() - started
    assert stopped and elapsed < 3.0 and not monitor.is_alive()
    assert not [t for t in threading.enumerate() if t.name == "pooldesk-events"]
    assert not monitor.snapshot().connected


@pytest.mark.slow
def test_event_monitor_resyncs_after_a_stall(manager: WorkerManager) -> None:
    """Block the monitor's thread while tasks run: it must notice, drop the stale stream and
    re-sync workers and running tasks from inspect() instead of trusting what comes late."""
    block, blocked = threading.Event(), threading.Event()

    def on_change(_: EventSnapshot) -> None:  # runs in the monitor thread
        if block.is_set():
            block.clear()
            blocked.set()
            time.sleep(3.5)

    monitor = EventMonitor(manager.config, stall_lag=2.0, on_change=on_change)
    monitor.start()
    app = make_app(manager.config.broker_url, manager.config.result_backend, include=[])
    try:
        host = manager.start(WorkerSpec("st", "prefork", 2, ("default",))).hostname
        _wait(lambda: (w := monitor.snapshot().workers.get(host)) is not None and w.online)
        block.set()
        blocked.wait(5)
        noops = [app.send_task("pooldesk.noop", queue="default") for _ in range(10)]
        assert [r.get(timeout=20) for r in noops] == ["ok"] * 10
        batch = uuid.uuid4().hex
        longs = [
            app.send_task("pooldesk.sleep", args=[4.5], queue="default", task_id=f"{batch}.{i}")
            for i in range(2)
        ]
        snap = _wait(lambda: (s := monitor.snapshot()).resyncs >= 2 and s, timeout=15)
        assert snap.last_resync_reason != "start" and snap.reconnects >= 1, snap
        assert snap.workers[host].processed >= 10 and snap.workers[host].active == 2
        assert snap.batches[batch].started == 2  # learnt from active(), not from the stream
        assert [r.get(timeout=20) for r in longs] == [4.5, 4.5]
        _wait(lambda: monitor.snapshot().batches[batch].succeeded == 2, timeout=10)
        assert monitor.snapshot().workers[host].active == 0
        manager.stop("st", timeout=20)
    finally:
        app.close()
        assert monitor.stop()
