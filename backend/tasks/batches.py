"""Batch parents: plan the children, then watch them *without holding a worker slot*.

Calling ``result.get()``/``join()`` inside a task is forbidden by Celery and deadlocks a pool
whose slots are all taken by parents. Instead the parent sends its children and replaces itself
(``Task.replace``, same task id) with a short *watch* task scheduled a moment later; each watch
reads the children's states from the result backend in one round trip, publishes progress
(state ``PROGRESS``) and replaces itself again until every child has ended — succeeded, failed
or revoked. Only then does the batch id turn SUCCESS, with the summary as its result.

Why not a chord: a chord's body never runs when a child raises, is killed (WorkerLostError) or
is revoked, so a cancelled or partly killed batch would never finish. The watch sees all three.
A child killed with its worker process is sent again (chunks are idempotent), up to twice.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from backend.batches.children import ChildState, child_id, fetch_states, tally
from backend.celery_app import app, visibility_timeout
from backend.invoices.chunk import chunked
from backend.invoices.db import Customer, create_schema, make_engine
from backend.tasks.invoices import invoice_chunk
from backend.tasks.monitoring import check_url_task

ORCHESTRATION = "orchestration"
WATCH_INTERVAL_S = 1.0
MAX_LOST_RESENDS = 2
MAX_STALL_RESENDS = 2
STALL_SLACK_S = 20.0
# The result backend (the managed Redis) restarting while a watcher reads it: look again a
# moment later instead of failing the whole batch (measured: a batch ended "error" when the
# broker restarted during the watcher's MGET).
BACKEND_DOWN = (RedisConnectionError, RedisTimeoutError, BrokerOperationalError, OSError)
BACKEND_RETRY_S = 2.0


def send_child(batch: dict[str, Any], child: dict[str, Any]) -> None:
    task = invoice_chunk if batch["kind"] == "invoices" else check_url_task
    task.apply_async(args=child["args"], task_id=child["id"], queue=batch["queue"])


def _watch(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
    return self.replace(
        watch_batch.signature((batch, children), queue=ORCHESTRATION, countdown=WATCH_INTERVAL_S)
    )


@app.task(bind=True, name="pooldesk.batch.invoices", max_retries=3, nature="io")
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
    batch = {
        "id": batch_id,
        "kind": "invoices",
        "queue": params["queue"],
        "started_at": time.time(),
        "params": params,
        "missing": max(0, int(params.get("customers") or 0) - len(ids)),
    }
    children = [
        {"index": i, "id": child_id(batch_id, i), "args": [batch_id, i, chunk, params["period"]]}
        for i, chunk in enumerate(chunked(ids, int(params["chunk_size"])))
    ]
    return _start(self, batch, children)


@app.task(bind=True, name="pooldesk.batch.monitoring", nature="io")
def plan_monitoring(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
    batch = {
        "id": batch_id,
        "kind": "monitoring",
        "queue": params["queue"],
        "started_at": time.time(),
        "params": {**params, "urls": len(params["urls"])},
    }
    children = [
        {"index": i, "id": child_id(batch_id, i), "args": [batch_id, i, url, params["timeout"]]}
        for i, url in enumerate(params["urls"])
    ]
    return _start(self, batch, children)


def _start(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
    if not children:
        return summarize(batch, children, {})
    for child in children:
        send_child(batch, child)
    self.update_state(state="PROGRESS", meta=progress_meta(batch, children, {}))
    return _watch(self, batch, children)


@app.task(bind=True, name="pooldesk.batch.watch", track_started=False, nature="io")
def watch_batch(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
    try:
        states = fetch_states(self.app, [c["id"] for c in children])
    except BACKEND_DOWN as exc:
        raise self.retry(exc=exc, countdown=BACKEND_RETRY_S, max_retries=None) from exc
    children = _resend_lost(batch, children, states)
    current = tally(children, states)
    if not current.done:
        batch = _resend_stalled(self, batch, children, states, current.ended)
        self.update_state(state="PROGRESS", meta=progress_meta(batch, children, states))
        return _watch(self, batch, children)
    return summarize(batch, children, states)


def _queue_length(task: Task, queue: str) -> int | None:
    try:
        with task.app.connection_for_read() as conn, conn.channel() as channel:
            return int(channel.queue_declare(queue, passive=True).message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or type(exc).__name__ == "NotFound":
            return 0  # Redis drops an empty list's key; AMQP: no such queue, nothing in it
        return None  # the broker is away: no evidence either way


def _resend_stalled(
    task: Task,
    batch: dict[str, Any],
    children: list[dict[str, Any]],
    states: dict[str, ChildState],
    ended: int,
) -> dict[str, Any]:
    """Send again the children that no queue holds any more after a long standstill.

    Redis's BRPOP hands a message to a worker before the worker books it as unacked; a broker
    that dies in between loses that message (measured: one chunk in a few broker restarts). If
    nothing has ended for longer than the visibility timeout, some children never started and
    their queue is empty, they are sent again under the same ids (chunks are idempotent), at
    most ``MAX_STALL_RESENDS`` times. A queue that still holds messages is only waiting for a
    worker: nothing is resent then.
    """
    now = time.time()
    if ended != batch.get("ended") or "progress_at" not in batch:
        return {**batch, "ended": ended, "progress_at": now}
    if now - float(batch["progress_at"]) < visibility_timeout() + STALL_SLACK_S:
        return batch
    resends = int(batch.get("stall_resends", 0))
    pending = [c for c in children if states.get(c["id"], ChildState("PENDING")).state == "PENDING"]
    if not pending or resends >= MAX_STALL_RESENDS or _queue_length(task, batch["queue"]) != 0:
        return {**batch, "progress_at": now}
    for child in pending:
        send_child(batch, child)
    return {**batch, "progress_at": now, "stall_resends": resends + 1}


def _resend_lost(
    batch: dict[str, Any], children: list[dict[str, Any]], states: dict[str, ChildState]
) -> list[dict[str, Any]]:
    """A child whose process was killed mid-task (WorkerLostError) runs again, at most twice."""
    out = []
    for child in children:
        state = states.get(child["id"])
        lost = (
            state is not None
            and state.state == "FAILURE"
            and isinstance(state.result, dict)
            and state.result.get("exc_type") == "WorkerLostError"
        )
        attempt = int(child.get("attempt", 0))
        if lost and attempt < MAX_LOST_RESENDS:
            child = {
                **child,
                "attempt": attempt + 1,
                "id": child_id(batch["id"], child["index"], attempt + 1),
            }
            send_child(batch, child)
            states[child["id"]] = ChildState("PENDING")
        out.append(child)
    return out


def progress_meta(
    batch: dict[str, Any], children: list[dict[str, Any]], states: dict[str, ChildState]
) -> dict[str, Any]:
    current = tally(children, states)
    return {
        "batch": {k: v for k, v in batch.items() if k != "params"},
        "counts": current.counts(),
        "children": [
            {
                "index": c["index"],
                "id": c["id"],
                "state": c["state"],
                **({"reason": c["reason"]} if "reason" in c else {}),
                "detail": child_detail(batch["kind"], child["args"]),
            }
            for c, child in zip(current.children, children, strict=True)
        ],
    }


def child_detail(kind: str, args: list[Any]) -> str:
    """What a child works on, for progress views: "500 customers" or the URL."""
    if kind == "invoices":
        return f"{len(args[2])} customers"
    return str(args[2])


def summarize(
    batch: dict[str, Any], children: list[dict[str, Any]], states: dict[str, ChildState]
) -> dict[str, Any]:
    current = tally(children, states)
    finished = time.time()
    results = [c.get("result") or {} for c in current.children]
    outcome = (
        "cancelled"
        if current.cancelled
        else "completed_with_failures"
        if current.failed
        else "completed"
    )
    summary: dict[str, Any] = {
        "batch_id": batch["id"],
        "retry_round": batch.get("retry_round", 0),
        "kind": batch["kind"],
        "outcome": outcome,
        "counts": current.counts(),
        "ok": current.succeeded,
        "failed": current.failed,
        "cancelled": current.cancelled,
        "failed_children": [
            {"index": c["index"], "id": c["id"], "reason": c.get("reason")}
            for c in current.children
            if c.get("reason")
        ],
        "started_at": batch["started_at"],
        "finished_at": finished,
        "wall_seconds": round(finished - batch["started_at"], 3),
        "child_runtime_seconds": round(sum(float(r.get("runtime") or 0) for r in results), 3),
        "children": [
            {**c, "args": child["args"]}
            for c, child in zip(current.children, children, strict=True)
        ],
    }
    if batch["kind"] == "invoices":
        created = sum(int(r.get("created") or 0) for r in results)
        summary.update(
            invoices_created=created,
            invoices_skipped=sum(int(r.get("skipped") or 0) for r in results),
            missing_customers=batch.get("missing", 0),
            seconds_per_invoice=(
                round(sum(float(r.get("seconds") or 0) for r in results) / created, 5)
                if created
                else None
            ),
        )
    else:
        summary.update(urls_up=sum(1 for r in results if r.get("ok")), urls_down=current.failed)
    return summary
