"""The Tasks page's Queue column for a user's own tasks (issue 21: "–" for every task of a
project): task events carry no queue, but the in-worker probe's ``worker-fit`` runs carry
each delivery's routing key, and the recorder fills it in — before or after the flush."""

from __future__ import annotations

from pathlib import Path

from pooldesk.backend.taskhistory.query import TaskQuery
from pooldesk.backend.taskhistory.recorder import Recorder
from pooldesk.backend.taskhistory.store import TaskStore
from tests.unit.test_taskhistory_store import lifecycle


def test_the_probes_runs_give_each_task_its_queue(home: Path, tmp_path: Path) -> None:
    store = TaskStore(tmp_path / "t.db")
    recorder = Recorder("k", "redis://127.0.0.1:9/0", None, store=store, idle_exit=0)

    def worker_side(task_id: str, t0: float) -> list[dict]:  # type: ignore[type-arg]
        return [e for e in lifecycle(task_id, t0) if e["type"] != "task-sent"]

    for event in worker_side("flushed", 1.0) + lifecycle("sent", 1.5):
        recorder.on_event(event)
    recorder.writer.flush()  # "flushed" is on disk, without a queue
    for event in worker_side("pending", 2.0):
        recorder.on_event(event)  # "pending" is still in memory
    fit = {
        "type": "worker-fit",
        "hostname": "rep@h",
        "pool": "gevent",
        "tasks": [],
        "runs": [
            ["flushed", "reportes", 1.0, 0.5, 0.5, 0.5, 0.0],
            ["pending", "reportes", 2.0, 0.5, 0.5, 0.5, 0.0],
            ["unknown", "(unknown)", 3.0, 0.5, 0.5, 0.5, 0.0],
            ["sent", "elsewhere", 1.5, 0.5, 0.5, 0.5, 0.0],
        ],
    }
    recorder.on_event(fit)
    recorder.writer.flush()
    query = TaskQuery(store.path)
    assert query.get("flushed")[0]["queue"] == "reportes"
    assert query.get("pending")[0]["queue"] == "reportes"
    assert query.get("sent")[0]["queue"] == "q"  # what the sender said stays
    assert not query.get("unknown")  # a run alone never makes up a task
    store.close()


def test_queue_throughput_covers_a_projects_tasks_named_by_the_probe() -> None:
    from pooldesk.backend.telemetry.eventstate import EventState

    now = 1000.0
    state = EventState(clock=lambda: now)
    for i in range(6):  # a user's app sent them: the worker's events carry no queue
        uid = f"t{i}"
        for kind, ts in (
            ("task-received", 990.0),
            ("task-started", 990.5),
            ("task-succeeded", 991.0 + i),
        ):
            state.apply({"type": kind, "uuid": uid, "hostname": "rep@h", "timestamp": ts})
    before = state.snapshot(now).queues
    assert "reportes" not in before and before["(unknown)"].succeeded == 6
    runs = [[f"t{i}", "reportes", 990.5, 0.5, 0.5, 0.5, 0.0] for i in range(6)]
    state.apply({"type": "worker-fit", "hostname": "rep@h", "pool": "gevent", "tasks": [],
                 "runs": runs, "timestamp": now})  # fmt: skip
    after = state.snapshot(now).queues
    assert after["reportes"].succeeded == 6 and after["reportes"].throughput_60s > 0
    assert "(unknown)" not in after or after["(unknown)"].succeeded == 0
