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
messages the broker lost are sent again after a long standstill. Children no live worker
holds any more (reserved by a worker that died whole, or dropped by a worker whose broker
restarted under it — Redis would return them only after the visibility timeout) are found by
asking the workers (``query_task``) during a standstill, and sent again.

A round is an ETA message, which a broker restart can strand in Redis's ``unacked`` for the
visibility timeout: every round renews a lease, and the watchdog of
:mod:`pooldesk.backend.batches.watchdog` (a thread in every Pooldesk worker, and the panel)
re-arms a batch whose lease lapsed or whose Redis restarted, under a new generation.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, NoReturn

from celery import Task
from celery.exceptions import Ignore, Reject, Retry
from celery.signals import worker_ready, worker_shutdown
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from pooldesk.backend.batches import watchdog
from pooldesk.backend.batches.children import ENDED, ChildState, fetch_states
from pooldesk.backend.batches.ledger import Ledger, ledger_for
from pooldesk.backend.batches.outcome import from_state
from pooldesk.backend.batches.plan import invoice_children, monitoring_children
from pooldesk.backend.batches.summary import close_now, progress_meta, summarize
from pooldesk.backend.celery_app import app, visibility_timeout
from pooldesk.backend.invoices.db import Customer, create_schema, make_engine
from pooldesk.backend.tasks.invoices import invoice_chunk
from pooldesk.backend.tasks.monitoring import check_urls_task

ORCHESTRATION = "orchestration"
log = logging.getLogger(__name__)
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
# Open children no live worker holds: looked for after this long with nothing ended, at most
# this often; sent again when two looks in a row agree (a message between BRPOP and a worker's
# books answers neither), under a new id, at most MAX_ORPHAN_RESENDS times each.
ORPHAN_AFTER_S = 8.0
MAX_ORPHAN_RESENDS = 5
QUERY_TIMEOUT_S = 1.0

__all__ = ["progress_meta", "summarize"]  # re-exported: their home is batches.summary


@worker_ready.connect
def _start_watchdog(sender: Any = None, **_: Any) -> None:
    watchdog.start(app)


@worker_shutdown.connect
def _stop_watchdog(sender: Any = None, **_: Any) -> None:
    watchdog.stop()


class LedgerGone(RuntimeError):
    """The batch's ledger expired or was flushed: nothing left to watch (the batch errors)."""


def send_child(batch: dict[str, Any], child: dict[str, Any]) -> None:
    task = invoice_chunk if batch["kind"] == "invoices" else check_urls_task
    task.apply_async(args=child["args"], task_id=child["id"], queue=batch["queue"])


def _watch(self: Task, batch: dict[str, Any]) -> Any:
    """The next round, 2 s from now (an ETA message: see the watchdog for why that is safe)."""
    return self.replace(
        watch_batch.signature((batch,), queue=ORCHESTRATION, countdown=WATCH_INTERVAL_S)
    )


# The orchestration tasks declare no ``nature=``: short bookkeeping (mostly CPU, milliseconds a
# run) that fits any pool; the probe measures them like any user's task.
@app.task(bind=True, name="pooldesk.batch.invoices", max_retries=3)
def plan_invoices(self: Task, batch_id: str, params: dict[str, Any]) -> Any:
    _planned_already(self, batch_id)
    try:
        engine = make_engine()
        create_schema(engine)
        query = select(Customer.id).order_by(Customer.id)
        if params.get("customers"):
            query = query.limit(int(params["customers"]))
        with engine.connect() as conn:
            ids = list(conn.scalars(query))
    except (OperationalError, DBAPIError) as exc:
        _retry_db(self, batch_id, exc)
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
    _planned_already(self, batch_id)
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


def _retry_db(self: Task, batch_id: str, exc: Exception) -> NoReturn:
    """The database failed: the parent runs again in 1, 2, 4 s, then the batch shows the error.
    The broker away too, Celery rejects it (task history: "failed") though the launch's lease
    sends it again: it lapses instead, as a parent's every failed publish does."""
    try:
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
    except (Reject, *BACKEND_DOWN) as publish:  # Reject: Celery wraps the publish's error
        _lapse({"id": batch_id}, publish)


def _planned_already(self: Task, batch_id: str) -> None:
    """A parent sent again by the watchdog (or returned late by Redis) after another copy
    planned the batch: that batch has its watcher; nothing to do. Redis restarting under this
    look is no failure either: the lease the launch armed brings the parent back."""
    try:
        planned = ledger_for(self.app).exists(batch_id)
    except BACKEND_DOWN as exc:
        _lapse({"id": batch_id}, exc)
    if planned:
        raise Ignore()


def _start(self: Task, batch: dict[str, Any], children: list[dict[str, Any]]) -> Any:
    ledger = ledger_for(self.app)
    if not children:
        return summarize(batch, None, [])
    batch["gen"] = 0
    # The plan, the batch's fields and its lease are one script: Redis failing here (a restart,
    # a dropped connection) leaves all of it or none (see batches.plan_write). None: the
    # launch's lease sends this parent again; all (the reply lost): the batch is leased and its
    # children, not sent by anyone, are found as orphans. Either way no FAILURE, which the panel
    # would show as the batch's error although a copy of the parent plans it again.
    try:
        mine = ledger.write_plan(
            batch["id"],
            children,
            int(batch["items"]),
            meta=batch,
            token=uuid.uuid4().hex,
            lease=watchdog.LEASE_S,
        )
    except BACKEND_DOWN as exc:
        _lapse(batch, exc)
    if not mine:
        raise Ignore()  # another copy of this parent planned the batch and sends its children
    # From here the batch is planned and leased: a publish failing across a broker restart
    # (measured: kombu's ``'NoneType' object has no attribute 'client'`` from the replace into
    # the first round) must not fail the parent, whose FAILURE would mark the batch "error".
    # The lease lapses and a watchdog re-arms it; children not sent are found as orphans.
    try:
        for child in children:
            send_child(batch, child)
        self.update_state(state="PROGRESS", meta=progress_meta(batch, ledger.snapshot(batch["id"])))
        return _watch(self, batch)
    except Ignore:  # replaced: the first round is on its way
        raise
    except Exception as exc:
        _lapse(batch, exc)


@app.task(bind=True, name="pooldesk.batch.close", track_started=False, ignore_result=True)
def close_batch(self: Task, batch_id: str) -> None:
    """Sent by the child that ended the last open one: store the summary at once.

    The watcher's round still scheduled finds the batch closed and ends quietly; a summary
    stored twice is harmless (the result backend keeps the first SUCCESS). It returns (no
    result kept) rather than raising ``Ignore``: an ignored task sends no end event, and the
    task history showed every batch's close task STARTED forever."""
    close_now(self.app, ledger_for(self.app), batch_id)


@app.task(bind=True, name="pooldesk.batch.watch", track_started=False)
def watch_batch(self: Task, batch: dict[str, Any]) -> Any:
    ledger = ledger_for(self.app)
    try:
        if not ledger.arm(batch["id"], int(batch.get("gen", 0)), watchdog.LEASE_S):
            raise Ignore()  # an older watcher (returned by Redis late): a newer one runs
        meta = ledger.meta(batch["id"]) or {}
        if int(meta.get("retry_round", 0)) != int(batch.get("retry_round", 0)):
            raise Ignore()  # a round of an earlier run, left over after a retry began
        snap = ledger.snapshot(batch["id"])
        if snap is None:
            ledger.disarm(batch["id"])
            raise LedgerGone(
                "the batch's ledger is gone from the result backend (expired or flushed)"
            )
        now = time.time()
        if batch.pop("rearmed", False):  # re-armed after a restart or a lost round: look now
            batch = {**batch, "ended": snap.ended, "progress_at": now, "scanned_at": now}
            batch = _scan(self, ledger, batch, now, orphans=True)
            snap = ledger.snapshot(batch["id"]) or snap
        elif snap.open_children and snap.ended == batch.get("ended") and "progress_at" in batch:
            if now - float(batch.get("scanned_at") or 0) >= SCAN_AFTER_S and (
                now - float(batch["progress_at"]) >= SCAN_AFTER_S
            ):
                batch = _scan(self, ledger, batch, now)
                snap = ledger.snapshot(batch["id"]) or snap
        elif snap.ended != batch.get("ended") or "progress_at" not in batch:
            batch = {**batch, "ended": snap.ended, "progress_at": now, "suspects": []}
        if now - float(batch.setdefault("touched_at", now)) >= TOUCH_EVERY_S:
            ledger.touch(batch["id"])
            batch["touched_at"] = now
        if not snap.open_children:
            ledger.disarm(batch["id"])
            return summarize(batch, snap, ledger.failures(batch["id"]))
        self.update_state(state="PROGRESS", meta=progress_meta(batch, snap, ledger))
    except BACKEND_DOWN as exc:
        try:
            retry = self.retry(exc=exc, countdown=BACKEND_RETRY_S, max_retries=None)
        except Retry:
            raise
        except Exception as publish:  # the retry message could not be sent either
            _lapse(batch, publish)
        raise retry from exc
    except (Ignore, LedgerGone):
        raise
    except Exception as exc:
        _lapse(batch, exc)
    try:
        return _watch(self, batch)
    except Ignore:  # replaced: the next round is on its way
        raise
    except Exception as exc:
        _lapse(batch, exc)


def _lapse(batch: dict[str, Any], exc: Exception) -> NoReturn:
    """A watch round, a plan's write (Redis away: nothing or all of it written), a parent's
    publishes (its children, its first round, its database retry) that cannot finish (measured:
    kombu's ``AttributeError: 'NoneType' object has no attribute 'client'`` publishing across a
    broker restart) must not fail the batch ("error"): it ends quietly and its lease lapses, so
    a watchdog re-arms the batch (or sends an unplanned parent again) within
    :data:`watchdog.LEASE_S` s (at once after a restart). Logged: a round that never works."""
    log.warning(
        "batch %s: watcher gave up (%s: %s); re-armed when its lease lapses",
        str(batch.get("id"))[:12],
        type(exc).__name__,
        exc,
    )
    raise Ignore()


def _resend(ledger: Ledger, batch: dict[str, Any], child: dict[str, Any], count: str) -> None:
    """Send a child again under a new id (its old id's state may say STARTED forever)."""
    base = child.get("base", child["id"])
    n = int(child.get("lost", 0)) + int(child.get("orphaned", 0)) + 1
    again = {**child, count: int(child.get(count, 0)) + 1, "base": base, "id": f"{base}.r{n}"}
    ledger.replace_child(batch["id"], again)
    send_child(batch, again)


def _lost(state: ChildState) -> bool:
    return (
        state.state == "FAILURE"
        and isinstance(state.result, dict)
        and state.result.get("exc_type") == "WorkerLostError"
    )


def _scan(
    task: Task, ledger: Ledger, batch: dict[str, Any], now: float, orphans: bool = False
) -> dict[str, Any]:
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
    pending, held = [], []
    for child in children:
        state = states.get(child["id"], ChildState("PENDING"))
        if _lost(state) and int(child.get("lost", 0)) < MAX_LOST_RESENDS:
            _resend(ledger, batch, child, "lost")
        elif state.state in ENDED:
            ledger.ended(batch_id, int(child["index"]), child["id"], from_state(kind, child, state))
        elif state.state == "PENDING":
            pending.append(child)
        else:
            held.append(child)  # STARTED or RETRY: some worker has (or had) it
    batch = {**batch, "scanned_at": now}
    if orphans or (
        now - float(batch["progress_at"]) >= ORPHAN_AFTER_S
        and now - float(batch.get("orphans_at") or 0) >= ORPHAN_AFTER_S
    ):
        batch = _orphans(task, ledger, batch, held, pending, now)
    if now - float(batch["progress_at"]) < visibility_timeout() + STALL_SLACK_S:
        return batch
    resends = int(batch.get("stall_resends", 0))
    if not pending or resends >= MAX_STALL_RESENDS or _queue_length(task, batch["queue"]) != 0:
        return {**batch, "progress_at": now}
    for child in pending:
        send_child(batch, child)
    return {**batch, "progress_at": now, "stall_resends": resends + 1}


def _orphans(
    task: Task,
    ledger: Ledger,
    batch: dict[str, Any],
    held: list[dict[str, Any]],
    pending: list[dict[str, Any]],
    now: float,
) -> dict[str, Any]:
    """Open children no live worker holds: started by a worker that has died, or delivered to
    one whose connection the broker dropped (Celery forgets what it reserved; Redis keeps the
    message in ``unacked`` for the visibility timeout). Never-started ones count only while
    their queue is empty (otherwise they are simply waiting their turn). A child named in two
    looks in a row is sent again; with no worker answering at all, nothing is decided."""
    batch = {**batch, "orphans_at": now}
    if pending and _queue_length(task, batch["queue"]) == 0:
        held = held + pending
    held = [c for c in held if int(c.get("orphaned", 0)) < MAX_ORPHAN_RESENDS][:500]
    if not held:
        return {**batch, "suspects": []}
    try:
        replies = task.app.control.inspect(timeout=QUERY_TIMEOUT_S).query_task(
            *[c["id"] for c in held]
        )
    except Exception:  # the broker is away: no evidence either way
        return batch
    if not replies:
        return batch
    known = {tid for reply in replies.values() for tid in (reply or {})}
    orphaned = [c for c in held if c["id"] not in known]
    before = set(batch.get("suspects") or [])
    for child in orphaned:
        if child["id"] in before:
            _resend(ledger, batch, child, "orphaned")
    return {**batch, "suspects": [c["id"] for c in orphaned if c["id"] not in before]}


def _queue_length(task: Task, queue: str) -> int | None:
    try:
        with task.app.connection_for_read() as conn, conn.channel() as channel:
            return int(channel.queue_declare(queue, passive=True).message_count)
    except Exception as exc:
        if "NOT_FOUND" in str(exc) or type(exc).__name__ == "NotFound":
            return 0  # Redis drops an empty list's key; AMQP: no such queue, nothing in it
        return None  # the broker is away: no evidence either way
