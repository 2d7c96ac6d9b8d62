"""Telemetry without a broker or a worker: ring buffers, the sampler thread's error handling, the
event monitor's prompt stop when nothing listens, and the event state's memory bound under a
synthetic flood. (The sampler on real processes and the event monitor on a real worker are in
tests/integration/test_telemetry.py.)"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from pooldesk.backend.telemetry.events import EventMonitor
from pooldesk.backend.telemetry.eventstate import MAX_TASKS, EventState
from pooldesk.backend.telemetry.resync import resync
from pooldesk.backend.telemetry.ring import Ring
from pooldesk.backend.telemetry.sampler import ResourceSampler, SamplerThread
from pooldesk.backend.telemetry.samples import Snapshot
from tests.waiting import wait_for

_wait = partial(wait_for, step=0.05)


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


def test_event_monitor_stops_promptly_without_a_broker() -> None:
    from pooldesk.backend.broker.resolve import BrokerConfig

    dead = BrokerConfig("redis://127.0.0.1:9/0", "redis://127.0.0.1:9/0", managed=False)
    monitor = EventMonitor(dead)
    monitor.start()
    _wait(lambda: monitor.snapshot().last_error is not None, timeout=10)
    started = time.monotonic()
    assert monitor.stop() and time.monotonic() - started < 3.0
    assert not monitor.is_alive() and not monitor.snapshot().connected


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


@pytest.mark.serial  # a throughput floor: alone, after the parallel run (Makefile, test-noqt)
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
