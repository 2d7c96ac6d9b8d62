"""A batch's progress record and its summary, and closing a batch whose children have all ended.

One owner for "is this batch done": the ledger's ``open`` set. :func:`reconcile` brings the
ledger up to date from the children's Celery states (a child whose own report was lost while
Redis restarted has ended in Celery but is still open in the ledger), and :func:`close_now`
stores the summary once nothing is open. The watcher's rounds, the close task sent by the last
child, and the panel (``batch status|cancel|retry``, or any refresh of a batch whose watcher is
overdue) all go through these two, so what ``status`` counts and what ``--children`` lists come
from the same reading.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import ENDED, ChildState, fetch_states
from pooldesk.backend.batches.ledger import Ledger, Snapshot, counts_of
from pooldesk.backend.batches.outcome import from_state


def reconcile(app: Celery, ledger: Ledger, batch_id: str, kind: str) -> int:
    """Record every open child that has in fact ended (its Celery state says so); O(open).
    Returns how many children are still open."""
    children = ledger.children(batch_id, ledger.open_indices(batch_id))
    states = fetch_states(app, [c["id"] for c in children])
    left = len(children)
    for child in children:
        state = states.get(child["id"], ChildState("PENDING"))
        if state.state in ENDED and not _lost(state):
            outcome = from_state(kind, child, state)
            if ledger.ended(batch_id, int(child["index"]), child["id"], outcome) is not None:
                left -= 1
    snap = ledger.snapshot(batch_id)
    return snap.open_children if snap is not None else left


def _lost(state: ChildState) -> bool:
    """Killed with its process: the watcher sends it again; not an end to record here."""
    return (
        state.state == "FAILURE"
        and isinstance(state.result, dict)
        and state.result.get("exc_type") == "WorkerLostError"
    )


def close_now(app: Celery, ledger: Ledger, batch_id: str) -> dict[str, Any] | None:
    """Store the summary of a batch with no open child; None when it is not closable (children
    still open, no ledger, or not in progress: already summarized or not planned yet). A
    summary stored twice is harmless: the result backend keeps the first SUCCESS."""
    batch = ledger.meta(batch_id)
    snap = ledger.snapshot(batch_id)
    if batch is None or snap is None or snap.open_children:
        return None
    if app.backend.get_task_meta(batch_id).get("status") != "PROGRESS":
        return None
    summary = summarize(batch, snap, ledger.failures(batch_id))
    app.backend.store_result(batch_id, summary, "SUCCESS")
    ledger.disarm(batch_id)
    return summary


def progress_meta(
    batch: dict[str, Any], snap: Snapshot | None, ledger: Ledger | None = None
) -> dict[str, Any]:
    """Counts, the first failures and the latest ends: bounded, whatever the batch's size."""
    return {
        "batch": {k: v for k, v in batch.items() if k != "params"},
        "counts": counts_of(snap),
        "failures": ledger.failures(batch["id"]) if ledger else [],
        "recent": ledger.recent(batch["id"]) if ledger else [],
    }


def summarize(
    batch: dict[str, Any], snap: Snapshot | None, failures: list[dict[str, Any]]
) -> dict[str, Any]:
    counts = counts_of(snap)
    sums = snap.sums if snap else {}
    finished = time.time()
    outcome = (
        "cancelled"
        if counts["cancelled"]
        else "completed_with_failures"
        if counts["failed"]
        else "completed"
    )
    summary: dict[str, Any] = {
        "batch_id": batch["id"],
        "retry_round": batch.get("retry_round", 0),
        "kind": batch["kind"],
        "outcome": outcome,
        "counts": counts,
        "ok": counts["succeeded"],
        "failed": counts["failed"],
        "cancelled": counts["cancelled"],
        "failed_children": sorted(failures, key=lambda f: int(f.get("index") or 0)),
        "failed_children_total": counts["failed"] + counts["cancelled"],
        "children_total": int(batch.get("children", 0)),
        "started_at": batch["started_at"],
        "finished_at": finished,
        "wall_seconds": round(finished - batch["started_at"], 3),
        "child_runtime_seconds": round(float(sums.get("runtime", 0)), 3),
    }
    if batch["kind"] == "invoices":
        created = int(sums.get("created", 0))
        summary.update(
            invoices_created=created,
            invoices_skipped=int(sums.get("skipped", 0)),
            missing_customers=batch.get("missing", 0),
            seconds_per_invoice=(
                round(float(sums.get("seconds", 0)) / created, 5) if created else None
            ),
        )
    else:
        summary.update(
            urls_up=counts["succeeded"],
            urls_down=counts["failed"],
            urls_per_task=(batch.get("params") or {}).get("urls_per_task"),
        )
    return summary
