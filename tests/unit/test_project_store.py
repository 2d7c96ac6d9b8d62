"""The project batch's child store: the tally that counts follow without reading every child,
and it agrees with the children themselves through sends, ends and a retry."""

from __future__ import annotations

from pathlib import Path

from pooldesk.backend.batches.project_store import Child, ChildStore


def test_the_tally_follows_sends_ends_and_retries(tmp_path: Path) -> None:
    store = ChildStore(tmp_path / "p.db")
    kids = [
        Child(i, f"b.{i}", [[i, i]], {}, {"items": [2 * i + 1, 2 * i + 2]}, 2) for i in range(5)
    ]
    store.add("b", kids)
    assert store.counts("b")["unsent"] == 10 and store.counts("b")["children"] == 5
    store.mark_sent("b", [0, 1, 2], {0: "b.0", 1: "b.1", 2: "b.2"})  # the broker went away
    counts = store.counts("b")
    assert (counts["pending"], counts["unsent"], counts["children_sent"]) == (6, 4, 3)
    front = store.front("b", 10)
    assert [c.index for c in front] == [0, 1, 2]
    front[0].state, front[1].state = "SUCCESS", "FAILURE"
    store.update("b", front[:2])
    counts = store.counts("b")
    assert (counts["succeeded"], counts["failed"], counts["pending"]) == (2, 2, 2)
    again = store.failed("b") + store.unsent("b")
    store.mark_sent("b", [c.index for c in again], {c.index: c.task_id + ".t1" for c in again})
    counts = store.counts("b")
    assert (counts["failed"], counts["unsent"], counts["pending"]) == (0, 0, 8)
    assert counts["total"] == 10 and counts["children_sent"] == 5
    assert store.children("b", "idx=1")[0].task_id == "b.1.t1"
