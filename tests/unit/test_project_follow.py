"""Following a project batch's children, with the result backend faked at its seam
(``get_task_meta``) and the liveness ping faked: what each Celery state becomes, and a child on a
dead worker shown lost (acks early) or redelivered (acks late), never running forever."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from pooldesk.backend.batches.children import ChildState
from pooldesk.backend.batches.project_follow import LOST_CHECK_S, apply, follow_front
from pooldesk.backend.batches.project_store import Child


def child(index: int = 0, state: str = "PENDING", **kw: Any) -> Child:
    return Child(index, f"b.{index}", [index], {}, {"items": [index + 1] * 2}, 1, True, state, **kw)


class FakeBackend:
    def __init__(self, metas: dict[str, dict[str, Any]]) -> None:
        self.metas = metas

    def get_task_meta(self, task_id: str) -> dict[str, Any]:
        return self.metas.get(task_id, {"status": "PENDING", "result": None})


def test_results_are_json_when_json_else_repr_and_failures_read_as_one_line() -> None:
    c = child()
    assert apply(c, ChildState("SUCCESS", {"billed": 3}), 1.0) and c.result == {"billed": 3}
    c = child()
    apply(c, ChildState("SUCCESS", {1, 2}), 1.0)
    assert c.result == "{1, 2}"
    c = child()
    apply(c, ChildState("FAILURE", ValueError("item 2 refused")), 1.0)
    assert (c.state, c.reason) == ("FAILURE", "ValueError: item 2 refused")
    c = child()
    apply(c, ChildState("FAILURE", {"exc_type": "WorkerLostError", "exc_message": "signal 9"}), 1.0)
    assert c.state == "LOST" and "process died" in (c.reason or "")
    c = child()
    apply(c, ChildState("STARTED", {"hostname": "w1@h", "pid": 7}), 1.0)
    assert (c.state, c.worker) == ("STARTED", "w1@h")


def _follow(front: list[Child], metas: dict[str, Any], alive: set[str], acks_late: bool) -> Any:
    app = SimpleNamespace(backend=FakeBackend(metas))
    asked: list[list[str]] = []

    def ping(hosts: list[str]) -> set[str]:
        asked.append(hosts)
        return alive

    changed, _ = follow_front(app, front, ping, acks_late, 0.0, now=100.0)  # type: ignore[arg-type]
    return changed, asked


def test_a_child_on_a_dead_worker_is_lost_when_the_app_acks_early() -> None:
    running = child(0, "STARTED", worker="w1@h", seen_at=100.0 - LOST_CHECK_S)
    metas = {"b.0": {"status": "STARTED", "result": {"hostname": "w1@h"}}}
    changed, asked = _follow([running], metas, alive=set(), acks_late=False)
    assert asked == [["w1@h"]] and changed == [running]
    assert running.state == "LOST" and "acks early" in (running.reason or "")


def test_a_child_on_a_dead_worker_is_redelivered_when_it_acks_late_then_runs_again() -> None:
    running = child(0, "STARTED", worker="w1@h", seen_at=100.0 - LOST_CHECK_S)
    stale = {"b.0": {"status": "STARTED", "result": {"hostname": "w1@h"}}}
    _follow([running], stale, alive=set(), acks_late=True)
    assert running.state == "REDELIVERED" and "acks late" in (running.reason or "")
    _follow([running], stale, alive=set(), acks_late=True)  # the dead worker's stale STARTED
    assert running.state == "REDELIVERED"
    again = {"b.0": {"status": "STARTED", "result": {"hostname": "w2@h"}}}
    _follow([running], again, alive={"w2@h"}, acks_late=True)
    assert (running.state, running.worker) == ("STARTED", "w2@h")


def test_a_live_worker_is_not_pinged_before_a_child_has_run_a_while() -> None:
    fresh = child(0, "STARTED", worker="w1@h", seen_at=100.0)
    metas = {"b.0": {"status": "STARTED", "result": {"hostname": "w1@h"}}}
    _, asked = _follow([fresh], metas, alive=set(), acks_late=False)
    assert asked == [] and fresh.state == "STARTED"
