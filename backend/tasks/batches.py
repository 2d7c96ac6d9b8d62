"""Batch parents: plan the children, then watch them *without holding a worker slot*.

Calling ``result.get()``/``join()`` inside a task is forbidden by Celery and deadlocks a pool
whose slots are all taken by parents. Instead the parent writes the plan once to the batch's
ledger (:mod:`pooldesk.backend.batches.ledger`), sends the children and replaces itself
(``Task.replace``, same task id) with a short *watch* task scheduled a moment later. Each child
reports its own end to the ledger in O(1); each watch reads the ledger's counters (O(1), not
O(children)), publishes progress (state ``PROGRESS``) and replaces itself again until no child
is open. Only then does the batch id turn SUCCESS, with the summary as its result.

Why not a chord: a chord's body never runs when a child raises, is killed (WorkerLostError) or
is revoked, so a cancelled or partly killed batch would never finish. The watch sees all three:
when nothing has ended for :data:`SCAN_AFTER_S`, it reads the Celery states of the children
still open (only those) — a child killed with its process is sent again (idempotent, at most
twice), one that failed or was revoked without reporting is recorded, and children whose
messages the broker lost are sent again after a long standstill.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from pooldesk.backend.batches.children import ENDED, ChildState, fetch_states
from pooldesk.backend.batches.ledger import Ledger, Snapshot, counts_of, ledger_for
from pooldesk.backend.batches.outcome import from_state
from pooldesk.backend.batches.plan import invoice_children, monitoring_children
from pooldesk.backend.celery_app import app, visibility_timeout
from pooldesk.backend.invoices.db import Customer, create_schema, make_engine
from pooldesk.backend.tasks.invoices import invoice_chunk
from pooldesk.backend.tasks.monitoring import check_urls_task

ORCHESTRATION = "orchestration"
WATCH_INTERVAL_S = 2.0  # the last child closes the batch itself (close_batch): rounds only watch
MAX_LOST_RESENDS = 2
MAX_STALL_RESENDS = 2
STALL_SLACK_S = 20.0
# Nothing ended for this long: read the open children's Celery states (a killed process, a
# revoke, a report lost while Redis restarted). Also the pace of those reads while it lasts.
SCAN_AFTER_S = 3.0
TOUCH_EVERY_S = 600.0
# The result backend (the managed Redis) restarting while a watcher reads it: look again a
# moment later instead of failing the whole batch (measured: a batch ended "error" when the
# broker restarted during the watcher's read).
BACKEND_DOWN = (RedisConnectionError, RedisTimeoutError, BrokerOperationalError, OSError)
BACKEND_RETRY_S = 2.0


def send_child(batch: dict[str, Any], child: dict[str, Any]) -> None:
    task = invoice_chunk if batch["kind"] == "invoices" else check_urls_task
    task.apply_async(args=child["args"], task_id=child["id"], queue=batch["queue"])


def _watch(self: Task, batch: dict[str, Any]) -> Any:
    return self.replace(
        watch_batch.signature((batch,), queue=ORCHESTRATION, countdown=WATCH_INTERVAL_S)
    )


# The orchestration tasks declare no ``nature=``: short bookkeeping (mostly CPU, milliseconds a
# run) that fits any pool; the probe measures them like any user's task.
@app.task(bind=True, name="pooldesk.batch.invoices", max_retries=3)
def plan_invoices(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
    try:
        engine = make_engine()
        create_schema(engine)
        query = select(Customer.id).order_by(Customer.id)
        if params.get("customers"):
            query = query.limit(int(params["customers"]))
        with engine.connect() as conn:
            ids = list(conn.scalars(query))
    except (OperationalError, DBAPIError) as exc:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
    children = invoice_children(batch_id, ids, int(params["chunk_size"]), params["period"])
    batch = {
        "id": batch_id,
        "kind": "invoices",
        "queue": params["queue"],
        "started_at": time.time(),
        "params": params,
        "missing": max(0, int(params.get("customers") or 0) - len(ids)),
        "children": len(children),
        "items": len(children),
    }
    return _start(self, batch, children)


@app.task(bind=True, name="pooldesk.batch.monitoring")
def plan_monitoring(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
    urls = list(params["urls"])
    children, per_task = monitoring_children(
        batch_id, urls, float(params["timeout"]), params.get("urls_per_task")
    )
    batch = {
        "id": batch_id,
        "kind": "monitoring",
        "queue": params["queue"],
        "started_at": time.time(),
        "params": {**params, "urls": len(urls), "urls_per_task": per_task},
        "children": len(children),
        "items": len(urls),
    }
    return _start(self, batch, children)


def _start(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
    ledger = ledger_for(self.app)
    if not children:
        return summarize(batch, None, [])
    ledger.write_plan(batch["id"], children, int(batch["items"]))
    ledger.write_meta(batch)
    for child in children:
        send_child(batch, child)
    self.update_state(state="PROGRESS", meta=progress_meta(batch, ledger.snapshot(batch["id"])))
    return _watch(self, batch)


@app.task(bind=True, name="pooldesk.batch.close", track_started=False)
def close_batch(self: Task, batch_id: str) -> None:
    """Sent by the child that ended the last open one: store the summary at once.

    The watcher's round still scheduled finds the batch closed and ends quietly; a summary
    stored twice is harmless (the result backend keeps the first SUCCESS)."""
    ledger = ledger_for(self.app)
    batch = ledger.meta(batch_id)
    snap = ledger.snapshot(batch_id)
    if batch is None or snap is None or snap.open_children:
        raise Ignore()
    if self.app.backend.get_task_meta(batch_id).get("status") != "PROGRESS":
        raise Ignore()  # not started by a watcher yet, or already summarized
    summary = summarize(batch, snap, ledger.failures(batch_id))
    self.app.backend.store_result(batch_id, summary, "SUCCESS")
    raise Ignore()  # this task's own id has nothing worth keeping


@app.task(bind=True, name="pooldesk.batch.watch", track_started=False)
def watch_batch(self: Task, batch: dict[str, Any]) -> Any:
    ledger = ledger_for(self.app)
    try:
        meta = ledger.meta(batch["id"]) or {}
        if int(meta.get("retry_round", 0)) != int(batch.get("retry_round", 0)):
            raise Ignore()  # a round of an earlier run, left over after a retry began
        snap = ledger.snapshot(batch["id"])
        if snap is None:
            raise RuntimeError(
                "the batch's ledger is gone from the result backend (expired or flushed)"
            )
        now = time.time()
        if snap.open_children and snap.ended == batch.get("ended") and "progress_at" in batch:
            if now - float(batch.get("scanned_at") or 0) >= SCAN_AFTER_S and (
                now - float(batch["progress_at"]) >= SCAN_AFTER_S
            ):
                batch = _scan(self, ledger, batch, now)
                snap = ledger.snapshot(batch["id"]) or snap
        elif snap.ended != batch.get("ended") or "progress_at" not in batch:
            batch = {**batch, "ended": snap.ended, "progress_at": now}
        if now - float(batch.setdefault("touched_at", now)) >= TOUCH_EVERY_S:
            ledger.touch(batch["id"])
            batch["touched_at"] = now
        if not snap.open_children:
            return summarize(batch, snap, ledger.failures(batch["id"]))
        self.update_state(state="PROGRESS", meta=progress_meta(batch, snap, ledger))
    except BACKEND_DOWN as exc:
        raise self.retry(exc=exc, countdown=BACKEND_RETRY_S, max_retries=None) from exc
    return _watch(self, batch)


def _lost(state: ChildState) -> bool:
    return (
        state.state == "FAILURE"
        and isinstance(state.result, dict)
        and state.result.get("exc_type") == "WorkerLostError"
    )


def _scan(task: Task, ledger: Ledger, batch: dict[str, Any], now: float) -> dict[str, Any]:
    """Look at the open children only: O(open), and only while nothing ends.

    * killed with its process (``WorkerLostError``): sent again under a new id, at most
      ``MAX_LOST_RESENDS`` times, then recorded failed;
    * ended without its report reaching the ledger (Redis restarting, a revoke): recorded
      from its Celery state;
    * never started, and its queue empty after a standstill longer than the visibility
      timeout: Redis's BRPOP hands a message to a worker before the worker books it as
      unacked, and a broker dying in between loses it (measured: one chunk in a few broker
      restarts). Sent again under the same id (idempotent), at most ``MAX_STALL_RESENDS``
      times. A queue that still holds messages is only waiting for a worker: nothing is sent.
    """
    batch_id, kind = batch["id"], batch["kind"]
    children = ledger.children(batch_id, ledger.open_indices(batch_id))
    states = fetch_states(task.app, [c["id"] for c in children])
    pending = []
    for child in children:
        state = states.get(child["id"], ChildState("PENDING"))
        lost = int(child.get("lost", 0))
        if _lost(state) and lost < MAX_LOST_RESENDS:
            base = child.get("base", child["id"])
            again = {**child, "lost": lost + 1, "base": base, "id": f"{base}.r{lost + 1}"}
            ledger.replace_child(batch_id, again)
            send_child(batch, again)
        elif state.state in ENDED:
            ledger.ended(batch_id, int(child["index"]), child["id"], from_state(kind, child, state))
        elif state.state == "PENDING":
            pending.append(child)
    batch = {**batch, "scanned_at": now}
    if now - float(batch["progress_at"]) < visibility_timeout() + STALL_SLACK_S:
        return batch
    resends = int(batch.get("stall_resends", 0))
    if not pending or resends >= MAX_STALL_RESENDS or _queue_length(task, batch["queue"]) != 0:
        return {**batch, "progress_at": now}
    for child in pending:
        send_child(batch, child)
    return {**batch, "progress_at": now, "stall_resends": resends + 1}


def _queue_length(task: Task, queue: str) -> int | None:
    try:
        with task.app.connection_for_read() as conn, conn.channel() as channel:
            return int(channel.queue_declare(queue, passive=True).message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or type(exc).__name__ == "NotFound":
            return 0  # Redis drops an empty list's key; AMQP: no such queue, nothing in it
        return None  # the broker is away: no evidence either way


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
