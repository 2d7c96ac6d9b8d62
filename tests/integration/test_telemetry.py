"""Telemetry without Qt: ring buffers, the psutil sampler on real processes, the event monitor
on a real broker and worker, and the event state's memory bound under a synthetic flood."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import pytest

from backend.celery_app import make_app
from backend.telemetry.events import EventMonitor
from backend.telemetry.eventstate import MAX_TASKS, EventState
from backend.telemetry.resync import resync
from backend.telemetry.ring import Ring
from backend.telemetry.sampler import ResourceSampler, SamplerThread
from backend.telemetry.samples import Snapshot
from backend.telemetry.views import EventSnapshot
from backend.workers.manager import WorkerManager
from backend.workers.spec import WorkerSpec

BURN = "import time\nend = time.monotonic() + 6\nwhile time.monotonic() < end:\n    pass\n"
SLEEP = "import time\ntime.sleep(6)\n"


def _wait(predicate, timeout: float = 20.0, step: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout} s")


# -- ring buffer ------------------------------------------------------------------------------
def test_ring_is_bounded_and_windows_by_time() -> None:
    ring = Ring(("a", "b"), capacity=100)
    for i in range(10_000):
        ring.push(float(i), i, None if i % 2 else 2 * i)
    assert len(ring) == 100
    everything = ring.window()
    assert [s[0] for s in everything] == [float(i) for i in range(9_900, 10_000)]
    last10 = ring.window(9.5, now=9_999.0)  # samples with t >= 9989.5
    assert [s[0] for s in last10] == [float(i) for i in range(9_990, 10_000)]
    assert last10[-1][2] != last10[-1][2]  # None is stored as NaN (a gap in a chart)
    cols = ring.columns(2.5, now=9_999.0)
    assert cols["t"] == [9_997.0, 9_998.0, 9_999.0] and cols["a"] == [9_997.0, 9_998.0, 9_999.0]
    last = ring.last()
    assert last is not None and last[:2] == (9_999.0, 9_999.0)
    assert Ring(("x",)).capacity == 3600


# -- resource sampler -------------------------------------------------------------------------
@pytest.mark.slow
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


def test_sampler_thread_survives_errors_and_stops() -> None:
    got: list[Snapshot] = []

    def callback(snapshot: Snapshot) -> None:
        got.append(snapshot)
        if len(got) == 1:
            raise RuntimeError("a broken subscriber")

    thread = SamplerThread(ResourceSampler(None), callback, interval=0.1)
    thread.start()
    _wait(lambda: len(got) >= 4, timeout=5)
    thread.stop()
    assert not thread.is_alive() and thread.errors == 1
    assert thread.cpu_seconds >= 0 and 0 <= thread.cost < 0.5


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


def test_event_monitor_stops_promptly_without_a_broker() -> None:
    from backend.broker.resolve import BrokerConfig

    dead = BrokerConfig("redis://127.0.0.1:9/0", "redis://127.0.0.1:9/0", managed=False)
    monitor = EventMonitor(dead)
    monitor.start()
    _wait(lambda: monitor.snapshot().last_error is not None, timeout=10)
    started = time.monotonic()
    assert monitor.stop() and time.monotonic() - started < 3.0
    assert not monitor.is_alive() and not monitor.snapshot().connected


# -- event state: pure, fed directly ----------------------------------------------------------
def _lifecycle(n: int, now: float) -> list[dict[str, Any]]:
    """n tasks over the last 60 s on 3 queues, every 4th a batch child, every 10th finished one
    failing; interleaved (sent, then received 100 steps later, started 200, finished 300), so
    the last 300 are still running at the end."""
    dt = 60.0 / n
    ids = [f"b{i // 1000}.{i % 1000}" if i % 4 == 0 else f"t{i}" for i in range(n)]
    host = "w1@test"

    def event(kind: str, i: int, delay: float, **extra: Any) -> dict[str, Any]:
        ts = now - 60 + i * dt + delay
        return {"type": kind, "uuid": ids[i], "hostname": host, "timestamp": ts, **extra}

    events: list[dict[str, Any]] = []
    for step in range(n + 300):
        if step < n:
            queue = ("q0", "q1", "q2")[step % 3]
            events.append(event("task-sent", step, 0.0, queue=queue, hostname="gen@test"))
        if 0 <= step - 100 < n:
            events.append(event("task-received", step - 100, 0.1, name="pooldesk.noop"))
        if 0 <= step - 200 < n:
            events.append(event("task-started", step - 200, 0.2))
        done = step - 300
        if 0 <= done < n - 300:
            kind = "task-failed" if done % 10 == 0 else "task-succeeded"
            events.append(event(kind, done, 0.25, runtime=0.05))
        if step % 2000 == 0:
            beat = {"freq": 2.0, "active": 1, "processed": max(0, done), "pid": 42}
            events.append({"type": "worker-heartbeat", "hostname": host, "timestamp": now, **beat})
    return events


def test_event_state_memory_is_bounded_under_a_flood() -> None:
    now = time.time()
    n = 60_000
    events = _lifecycle(n, now)
    state = EventState(clock=lambda: now)
    state.started_at = now - 120  # watching for two minutes: rates over full windows
    started = time.perf_counter()
    for event in events:
        state.apply(event)
    elapsed = time.perf_counter() - started
    t0 = time.perf_counter()
    snap = state.snapshot(now)
    snapshot_ms = (time.perf_counter() - t0) * 1000
    print(f"\n{len(events):,} events in {elapsed:.2f} s = {len(events) / elapsed:,.0f} events/s; "
          f"snapshot {snapshot_ms:.1f} ms")  # fmt: skip
    assert len(state.tasks) == snap.tasks_kept <= MAX_TASKS
    assert len(state.tasks) == MAX_TASKS  # 60,000 tasks seen, the oldest 10,000 forgotten
    finished = n - 300
    failed = len(range(0, finished, 10))
    assert sum(q.succeeded + q.failed for q in snap.queues.values()) == finished
    assert sum(q.failed for q in snap.queues.values()) == failed
    assert sum(q.in_flight for q in snap.queues.values()) == 300  # the newest: never evicted
    for name in ("q0", "q1", "q2"):
        q = snap.queues[name]
        assert 200 < q.throughput_10s < 500 and 200 < q.throughput_60s < 500  # ~333/s each
        assert q.wait_p50 == pytest.approx(0.2, abs=0.01) and q.run_p95 == 0.05
        assert q.samples == 1000  # rolling: the last N only
    worker = snap.workers["w1@test"]
    assert worker.processed == finished and worker.failed == failed and worker.active == 300
    assert len(snap.batches) == 60 and all(b.seen == 250 for b in snap.batches.values())
    assert sum(b.succeeded + b.failed for b in snap.batches.values()) == len(range(0, finished, 4))
    assert snapshot_ms < 200
    assert len(events) / elapsed > 50_000  # far above the ~1,400 events/s a worker produces


def test_event_state_batch_attempts_and_resync() -> None:
    now = time.time()
    state = EventState(clock=lambda: now)
    for kind, uid in [
        ("task-sent", "bx.0"),
        ("task-sent", "bx.1"),
        ("task-started", "bx.0"),
        ("task-failed", "bx.0"),
        ("task-sent", "bx.0.t1"),  # the user's retry of child 0 supersedes the failure
        ("task-started", "bx.1"),
        ("task-started", "gone"),
    ]:
        state.apply({"type": kind, "uuid": uid, "hostname": "w@h", "queue": "q", "timestamp": now})
    b = state.snapshot(now).batches["bx"]
    assert (b.seen, b.pending, b.started, b.failed) == (2, 1, 1, 0)
    assert dict(b.children) == {"bx.1": "STARTED", "bx.0.t1": "PENDING"}
    # A stall: bx.1 ended while we were away (the backend says SUCCESS), "gone" vanished.
    resync(
        state,
        stats={"w@h": {"total": {"pooldesk.sleep": 7}, "pid": 9}},
        active={"w@h": [{"id": "new", "name": "x", "delivery_info": {"routing_key": "q"}}]},
        now=now,
        reason="test",
        fetch=lambda ids: {"bx.1": "SUCCESS", "gone": "PENDING", "bx.0.t1": "PENDING"},
    )
    snap = state.snapshot(now)
    assert snap.resyncs == 1 and snap.last_resync_reason == "test"
    worker = snap.workers["w@h"]
    assert worker.active == 1 and worker.processed == 7 and worker.online
    assert snap.batches["bx"].succeeded == 1 and snap.batches["bx"].pending == 1
    assert state.tasks["gone"].state == "UNKNOWN" and state.tasks["new"].state == "STARTED"
    assert snap.queues["q"].in_flight == 2  # bx.0.t1 (pending) + new (running)
