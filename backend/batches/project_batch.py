"""Project batches: a user's own task sent as a batch, with the demo batches' record and controls.

A :class:`~pooldesk.backend.batches.project_plan.Plan` (``make_plan``: every check before anything
is sent) is launched here: ``launch`` writes every child to the :class:`ChildStore`, then records
the batch (its id exists before any child is sent; a database failing in between leaves neither:
see :meth:`ProjectBatches.launch`), then sends the children from Pooldesk's process straight to
the project's broker, each under the id ``<batch>.<index>`` (so a task event maps to its batch
without a lookup) and marks them sent a slice at a time: a broker restarting meanwhile is waited
for (``outage``); if sending stops part way the record says how many were sent, and ``retry``
sends the rest. ``refresh`` follows (``project_follow``), ``cancel`` revokes what has not ended
(a refresh finishes a cancel the broker interrupted), ``retry`` sends only the failed, lost,
cancelled and unsent children's items again, under new ids (``<batch>.<index>.t<n>``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from celery import Celery

from pooldesk.backend import proc
from pooldesk.backend.batches.errors import BatchError, first_line, interrupted
from pooldesk.backend.batches.history import BatchRecord, HistoryStore
from pooldesk.backend.batches.items import calls, covered
from pooldesk.backend.batches.outage import through_outage
from pooldesk.backend.batches.project_follow import FRONT, LOST_CHECK_S, follow_front
from pooldesk.backend.batches.project_plan import Plan
from pooldesk.backend.batches.project_store import Child, ChildStore
from pooldesk.backend.batches.project_target import Target, TargetError, resolve
from pooldesk.backend.panelapp import panel_app
from pooldesk.backend.redact import mask_url

KIND = "project"
MARK_EVERY = 200  # children marked sent per SQLite transaction while sending
MAX_FAILURES_SHOWN = 50
REVOKE_EVERY = 1000  # children per revoke command (and per marking transaction)
REVOKE_WAIT_S = 5.0  # a cancel's wait for a broker restarting, before it says "cancel again"


class ProjectBatchError(BatchError):
    """A request about an existing project batch that cannot be carried out."""


class ProjectBatches:
    def __init__(self, history: HistoryStore | None = None, store: ChildStore | None = None):
        self.history = history or HistoryStore()
        self.store = store or ChildStore()
        self._apps: dict[str, Celery] = {}
        self._checked: dict[str, float] = {}  # batch → last liveness check
        self._targets: dict[str, Target] = {}

    def close(self) -> None:
        for app in self._apps.values():
            app.close()
        self._apps.clear()

    def _app(self, target: Target) -> Celery:
        key = f"{target.broker_url} {target.result_backend}"
        if key not in self._apps:
            self._apps[key] = panel_app("send", target.broker_url, target.result_backend)
        return self._apps[key]

    def _target(self, record: BatchRecord) -> Target:
        """Resolved once per batch and service (a refresh must not re-read the check files)."""
        target = self._targets.get(record.id)
        if target is not None:
            return target
        p = record.params
        try:
            target = resolve(p["project"], p["task"], p["queue"])
        except TargetError as exc:
            raise ProjectBatchError(str(exc)) from None
        self._targets[record.id] = target
        return target

    # -- launching ---------------------------------------------------------------------------
    def launch(
        self, plan: Plan, on_record: Callable[[BatchRecord], None] | None = None
    ) -> BatchRecord:
        batch_id = uuid.uuid4().hex
        t = plan.target
        params = {
            "project": t.project,
            "task": t.task,
            "queue": t.queue,
            "items": len(plan.items),
            "source": plan.items.source,
            "chunk_size": plan.chunk_size,
            "children": plan.children,
            "broker": mask_url(t.broker_url),
        }
        record = BatchRecord(
            id=batch_id, kind=KIND, params=params, state="queued", created_at=time.time()
        )
        children = [
            Child(
                index=c.index,
                task_id=f"{batch_id}.{c.index}",
                args=c.args,
                kwargs=c.kwargs,
                covers=covered(plan.items, c),
                items=c.last - c.first + 1,
            )
            for c in calls(plan.items, plan.chunk_size)
        ]
        self._record(record, children)
        if on_record is not None:
            on_record(record)  # the id, before the (long) sending
        record.started_at = time.time()
        self._send(record, t, children)
        return self.refresh(record)

    def _record(self, record: BatchRecord, children: list[Child]) -> None:
        """The children, then the record: two files (``project_batches.db``, the history), each
        written in one transaction. Recorded the other way round, a children insert failing (a
        locked or full database) left a batch listed with no children, that no refresh could
        finish; this way a failure leaves nothing listed, nothing is sent, and the person is
        told. Children a failed record leaves are removed (and listed by nothing if even that
        fails)."""
        try:
            self.store.add(record.id, children)
        except (sqlite3.Error, OSError) as exc:
            raise ProjectBatchError(_not_launched("the child store", exc)) from None
        try:
            self.history.add(record)
        except (sqlite3.Error, OSError) as exc:
            with contextlib.suppress(sqlite3.Error, OSError):
                self.store.drop(record.id)
            raise ProjectBatchError(_not_launched("the batch history", exc)) from None

    def _send(self, record: BatchRecord, target: Target, children: list[Child]) -> None:
        app = self._app(target)
        done: list[int] = []
        ids: dict[int, str] = {}
        error = None
        self.store.set_sender(record.id, os.getpid(), proc.create_time(os.getpid()))
        try:
            # One producer (one connection) for the whole batch, as ``group().apply_async`` does,
            # not one taken from the pool per child.
            with app.producer_or_acquire() as producer:
                send = partial(_send_one, app, target, producer)
                cancelled = partial(self.store.cancel_requested, record.id)
                for child in children:
                    # A broker restarting part way is waited for (outage.py), not an error.
                    through_outage(partial(send, child), cancelled)
                    done.append(child.index)
                    ids[child.index] = child.task_id
                    if len(done) >= MARK_EVERY:
                        self.store.mark_sent(record.id, done, ids)
                        done, ids = [], {}
                        if self.store.cancel_requested(record.id):
                            break  # cancelled while sending: the rest stays unsent
        except Exception as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.store.mark_sent(record.id, done, ids)
        self.store.set_sender(record.id, None, None)
        counts = self.store.counts(record.id)
        record.state, record.counts = "running", _shown(counts)
        if error:
            record.error = (
                f"sending stopped after {counts['children_sent']} of {counts['children']} "
                f"children: {mask_url(error) if '://' in error else error}; "
                "pooldesk batch retry sends the rest"
            )
        self.history.update(record)

    # -- following ---------------------------------------------------------------------------
    def refresh(self, record: BatchRecord) -> BatchRecord:
        if record.final:
            return record
        target = self._target(record)
        app = self._app(target)
        front = self.store.front(record.id, FRONT)
        last = self._checked.get(record.id, 0.0)
        try:
            changed, self._checked[record.id] = follow_front(
                app, front, lambda hosts: self._alive(target, hosts), target.acks_late, last
            )
        except Exception as exc:
            raise ProjectBatchError(
                f"result backend unreachable: {str(exc).splitlines()[0] if str(exc) else exc}"
            ) from None
        self.store.update(record.id, changed)
        if self.store.cancel_requested(record.id):
            self._finish_cancel(record, target)
        counts = self.store.counts(record.id)
        record.counts = _shown(counts)
        if counts["pending"] + counts["started"] == 0 and not self._being_sent(record):
            self._finish(record, counts)
        self.history.update(record)
        return record

    def _finish_cancel(self, record: BatchRecord, target: Target) -> None:
        """A cancel the broker interrupted (its flag set, sent children still open; or children
        a sender marked after the cancel) is finished by whoever follows the batch next: the
        person need not cancel again. With the broker still away the record stays as it was,
        saying why, and the next refresh tries again."""
        try:
            self._revoke_open(record, target)
        except Exception as exc:  # kombu's, redis-py's and SQLite's errors of every kind
            raise ProjectBatchError(
                f"broker unreachable ({first_line(exc)}): cancelling batch {record.id[:12]} "
                "is finished once it answers"
            ) from None

    def _being_sent(self, record: BatchRecord) -> bool:
        """Another process (a launch or a retry) is sending its children right now: while it
        lives the batch is not half-sent, and must not be closed as such by this refresh."""
        sender = self.store.sender(record.id)
        return sender is not None and proc.alive(*sender)

    def _alive(self, target: Target, hosts: list[str]) -> set[str]:
        """Hosts that answered, or have not missed two pings at least LOST_CHECK_S apart (a
        gevent worker whose loop is blocked answers 0.5–2 s late: slowness, not absence)."""
        from pooldesk.backend.workers.control import Control

        control = Control(target.config)
        try:
            answered = set(control.ping(hosts, timeout=2.0))
        finally:
            control.close()
        now, alive = time.time(), set()
        for host in hosts:
            missed, since = self.store.ping_missed(host, host in answered, now)
            if missed < 2 or now - since < LOST_CHECK_S:
                alive.add(host)
        return alive

    def _finish(self, record: BatchRecord, counts: dict[str, int]) -> None:
        failed = self.store.failed(record.id, limit=MAX_FAILURES_SHOWN)
        if counts["unsent"] and self.store.cancel_requested(record.id):
            record.state = "cancelled"
        elif counts["unsent"]:
            record.state = "error"
            record.error = record.error or (
                f"{counts['children'] - counts['children_sent']} children were never sent; "
                "pooldesk batch retry sends them"
            )
        elif counts["cancelled"]:
            record.state = "cancelled"
        else:
            record.state = "completed_with_failures" if counts["failed"] else "completed"
        finished = time.time()
        started = record.started_at or record.created_at
        record.started_at, record.finished_at = started, finished
        record.summary = {
            "batch_id": record.id,
            "kind": KIND,
            "project": record.params["project"],
            "task": record.params["task"],
            "outcome": record.state,
            "counts": record.counts,
            "ok": counts["succeeded"],
            "failed": counts["failed"],
            "cancelled": counts["cancelled"],
            "children_total": counts["children"],
            "children_sent": counts["children_sent"],
            "failed_children": [
                {"index": c.index, "id": c.task_id, "reason": c.reason or c.state.lower()}
                for c in failed
            ],
            "started_at": started,
            "finished_at": finished,
            "wall_seconds": round(finished - started, 3),
        }

    def children(self, record: BatchRecord, limit: int | None = None) -> list[dict[str, Any]]:
        return [c.row() for c in self.store.children(record.id, limit=limit)]

    # -- control -----------------------------------------------------------------------------
    def cancel(self, record: BatchRecord, terminate: bool = False) -> dict[str, Any]:
        """The flag first, then the revokes a slice at a time, each slice marked once revoked.

        Every prefix of that is one a second cancel finishes (a revoke sent twice is one revoke
        to a worker), and one the follower finishes by itself: a refresh of a batch whose flag
        is set revokes what is still open (:meth:`_revoke_open`). So the broker or the child
        store failing part way is said plainly ("nothing was lost; cancel again"), never as the
        broker's own error; a result backend failing under the closing refresh is not said at
        all — the cancel is done, and the next refresh closes the batch. A cancel again of a
        batch a refresh has finished cancelling answers as the demo's does: ``ended``."""
        if record.final and record.state == "cancelled" and self.store.cancel_requested(record.id):
            return {"pending": 0, "running": 0, "ended": True, "state": record.state}
        if record.final:
            raise ProjectBatchError(f"batch {record.id[:12]} has already ended ({record.state})")
        target = self._target(record)
        try:
            self.store.request_cancel(record.id)  # a sender stops at its next slice
            pending = self._revoke_open(record, target)
            running = self.store.children(record.id, "sent=1 AND state='STARTED'")
            if running and terminate:
                ids = [c.task_id for c in running]
                self._revoke(target, ids, terminate=True, signal="SIGTERM")
        except (sqlite3.Error, OSError) as exc:
            what = "the child store" if isinstance(exc, sqlite3.Error) else "the broker"
            raise ProjectBatchError(interrupted("cancelling", record.id, exc, what)) from None
        except Exception as exc:  # kombu's, redis-py's and py-amqp's errors of every kind
            raise ProjectBatchError(interrupted("cancelling", record.id, exc)) from None
        with contextlib.suppress(ProjectBatchError):
            self.refresh(record)
        return {"pending": pending, "running": sum(c.items for c in running), "ended": False}

    def _revoke_open(self, record: BatchRecord, target: Target) -> int:
        """Revoke the sent children not started, :data:`REVOKE_EVERY` at a time, and mark each
        slice as soon as its revoke is out; the items revoked."""
        open_ = self.store.children(record.id, "sent=1 AND state IN ('PENDING', 'REDELIVERED')")
        for start in range(0, len(open_), REVOKE_EVERY):
            part = open_[start : start + REVOKE_EVERY]
            self._revoke(target, [c.task_id for c in part])
            now = time.time()
            for child in part:
                child.state, child.reason, child.ended_at = "REVOKED", "cancelled", now
            self.store.update(record.id, part)
        return sum(c.items for c in open_)

    def _revoke(self, target: Target, ids: list[str], **options: Any) -> None:
        """kombu publishes a control command with ``retry=True`` and no limit: with the broker
        down, ``revoke`` waited until it was back (measured on a stopped redis-server: still
        waiting after 120 s; back after 3 s, it went through). So the broker is reached first,
        once, and a broker restarting is waited for :data:`REVOKE_WAIT_S` at most (``outage``),
        then said; a broker dying between the reach and the publish is waited for, as kombu
        does."""
        app = self._app(target)

        def reach_and_revoke() -> None:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=REVOKE_WAIT_S)
            app.control.revoke(ids, **options)

        through_outage(reach_and_revoke, outage_s=REVOKE_WAIT_S)

    def retry(self, record: BatchRecord) -> BatchRecord:
        if not record.final:
            raise ProjectBatchError(
                f"batch {record.id[:12]} has not finished; cancel or wait first"
            )
        again = self.store.failed(record.id) + self.store.unsent(record.id)
        if not again:
            raise ProjectBatchError(f"batch {record.id[:12]} has no failed children to retry")
        target = self._target(record)
        for child in again:
            if child.sent:
                child.task_id = _next_id(child.task_id)
        record.state, record.finished_at, record.summary, record.error = "running", None, None, None
        self.store.request_cancel(record.id, on=False)
        self._checked.pop(record.id, None)
        self._send(record, target, sorted(again, key=lambda c: c.index))
        return self.refresh(record)


def _not_launched(store: str, exc: BaseException) -> str:
    return (
        f"cannot launch: {store} could not be written ({str(exc).splitlines()[0]}); "
        "nothing was recorded or sent: launch again"
    )


def _send_one(app: Celery, target: Target, producer: Any, child: Child) -> None:
    app.send_task(
        target.task,
        args=child.args,
        kwargs=child.kwargs,
        task_id=child.task_id,
        queue=target.queue,
        producer=producer,
    )


def _next_id(task_id: str) -> str:
    """``B.7`` → ``B.7.t1`` → ``B.7.t2``: the batch and index stay readable in the id."""
    parts = task_id.split(".")
    if len(parts) == 3 and parts[2].startswith("t") and parts[2][1:].isdigit():
        return f"{parts[0]}.{parts[1]}.t{int(parts[2][1:]) + 1}"
    return f"{parts[0]}.{parts[1]}.t1"


def _shown(counts: dict[str, int]) -> dict[str, int]:
    """The demo's ``counts`` shape (in items), plus ``unsent`` when sending stopped part way."""
    keys = ("total", "pending", "started", "succeeded", "failed", "cancelled")
    out = {k: counts[k] for k in keys}
    if counts["unsent"]:
        out["unsent"] = counts["unsent"]
    return out
