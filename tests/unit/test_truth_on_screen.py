"""Truth on screen: what a warning card and a Pool fit row say derives from the current state of
the same refresh. After a fix (prefork × 8 shrunk to × 2) the card no longer says "runs 8
processes" beside a table showing × 2, nor offers the fix again; a queue whose only worker
stopped is not said to "fit"."""

from __future__ import annotations

from pooldesk.backend.advisor.engine import Advisor
from pooldesk.backend.advisor.model import Observations, Thresholds, WorkerObs
from pooldesk.backend.fit.table import build
from pooldesk.backend.telemetry.fitstate import TaskFit


def prefork(
    concurrency: int, state: str = "online", fits: list[TaskFit] | None = None
) -> WorkerObs:
    return WorkerObs(
        "p", "p@h", True, "prefork", concurrency, ["invoices"], state, fit=fits
    )  # fmt: skip


def test_a_fixed_warning_stops_describing_the_old_state_at_once() -> None:
    advisor = Advisor(Thresholds(raise_after=1, clear_after=3))
    [shown] = advisor.update(Observations(workers=[prefork(8)], cores=2)).current
    assert "runs 8 processes" in shown.text and shown.fix is not None
    after = advisor.update(Observations(workers=[prefork(2)], cores=2)).current
    [card] = after  # kept a few runs against flapping...
    assert card.id == shown.id
    assert "8 processes" not in card.text and card.evidence == {}  # ...but not its old words
    assert card.fix is None and card.title.startswith("Cleared:") and card.fading
    back = advisor.update(Observations(workers=[prefork(8)], cores=2)).current
    assert back[0].fix is not None and "runs 8 processes" in back[0].text  # it came back


def test_a_queue_whose_only_worker_stopped_does_not_fit() -> None:
    cpu = TaskFit(
        "app.bill", "invoices", "prefork", 20, 20.0, 19.5, 19.5, 20.0, 1.0, 1.0, None, 20.0
    )
    [row] = build(Observations(workers=[prefork(2, fits=[cpu])], cores=2, natures={}), Thresholds())
    assert row.verdict == "fits"
    stopped = Observations(workers=[prefork(2, "stopped", [cpu])], cores=2, natures={})
    [row] = build(stopped, Thresholds())
    assert row.verdict == "idle" and row.fix is None
    assert row.recommendation.startswith("no running worker consumes it; it would fit prefork")
    assert row.recommended_pool == "prefork"  # still what the Start dialog proposes


def test_a_slot_busy_with_a_child_is_progress_not_a_deadlock() -> None:
    from pooldesk.backend.advisor.model import BatchObs
    from pooldesk.backend.advisor.rules import evaluate

    solo = WorkerObs("all", "all@h", True, "solo", 1, ["orchestration", "invoices"], "online",
                     active=1)  # fmt: skip
    running = BatchObs("2ff32096aa", "invoices", "invoices", pending=0, started=1)
    busy = Observations(workers=[solo], batches=[running], cores=2)
    assert "deadlock_risk" not in {a.rule for a in evaluate(busy, Thresholds())}
    stuck = BatchObs("2ff32096aa", "invoices", "invoices", pending=3, started=0)
    blocked = Observations(workers=[solo], batches=[stuck], cores=2)
    [advice] = [a for a in evaluate(blocked, Thresholds()) if a.rule == "deadlock_risk"]
    assert "every slot that could run its children is busy" in advice.text
