"""Following a project batch: Pooldesk reads its children's ends; nothing runs in a worker slot.

The demo's watcher is a task on Pooldesk's own workers. A user's workers run only the user's
code, so a project batch is followed from Pooldesk's side: each refresh (``batch status``,
``batch list``, ``--wait``, the window's poll) reads the *front* of the open children — the
:data:`FRONT` lowest-numbered ones not ended — from the project's result backend. Queues hand
children out about in order, so the front is where ends happen; a refresh costs
O(``FRONT``) reads whatever the batch's size, and each child is read a bounded number of times
while it is at the front. Redis reads the front in one ``MGET``; a database backend one query
per child (Celery's own ``get_task_meta``).

A child whose worker died while it ran stays ``STARTED`` in the result backend forever. So a
child seen started on a worker is checked against the workers that answer a ping (at most every
:data:`LOST_CHECK_S`): a dead worker makes it ``LOST`` (the app acks early, so the message is
gone: ``batch retry`` sends it again) or ``REDELIVERED`` (``acks_late``: the broker hands it out
again — on Redis after the app's visibility timeout). A prefork child process killed under a live
worker is Celery's own ``WorkerLostError``: shown ``LOST`` too. Children whose app does not
track started tasks are found running through the task history the recorder keeps (tasks.db),
when the project's workers were started by Pooldesk.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from celery import Celery

from pooldesk.backend import paths
from pooldesk.backend.batches.children import ChildState, fetch_states
from pooldesk.backend.batches.project_store import Child

FRONT = 500
LOST_CHECK_S = 3.0
REPR_MAX = 2000


def read_states(app: Celery, ids: list[str]) -> dict[str, ChildState]:
    """Never raises on one bad result: an undecodable one is reported as such."""
    try:
        return fetch_states(app, ids)
    except Exception as exc:
        if getattr(app.backend, "client", None) is not None:
            raise  # Redis itself is away: the caller keeps the last state
        first = exc
    out: dict[str, ChildState] = {}
    for task_id in ids:
        try:
            meta = app.backend.get_task_meta(task_id)
            out[task_id] = ChildState(meta.get("status", "PENDING"), meta.get("result"))
        except Exception as exc:
            if "connect" in str(exc).lower() or "unable to open" in str(exc).lower():
                raise first from exc
            out[task_id] = ChildState("SUCCESS", f"<result not readable: {exc}>")
    return out


def jsonable(value: Any) -> Any:
    """The result as JSON when it is JSON, else Celery's repr of it."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)[:REPR_MAX]


def _exception(result: Any) -> tuple[str, str]:
    if isinstance(result, dict):
        return str(result.get("exc_type") or "Error"), str(result.get("exc_message") or "")
    if isinstance(result, BaseException):
        message = result.args[0] if len(result.args) == 1 else " ".join(map(str, result.args))
        return type(result).__name__, str(message)
    return "Error", str(result)


def _hostname(result: Any) -> str | None:
    return (
        str(result.get("hostname")) if isinstance(result, dict) and "hostname" in result else None
    )


def apply(child: Child, state: ChildState, now: float) -> bool:
    """Fold what the result backend says into the child; True when something changed."""
    before = (child.state, child.worker, child.reason)
    if state.state == "SUCCESS":
        child.state, child.result, child.ended_at = "SUCCESS", jsonable(state.result), now
    elif state.state == "FAILURE":
        kind, message = _exception(state.result)
        child.ended_at = now
        if kind == "WorkerLostError":
            child.state = "LOST"
            child.reason = f"the worker process died while it ran ({kind}: {message})"[:REPR_MAX]
        else:
            child.state, child.reason = "FAILURE", f"{kind}: {message}".strip()[:REPR_MAX]
    elif state.state == "REVOKED":
        child.state, child.reason, child.ended_at = "REVOKED", "cancelled", now
    elif state.state in ("STARTED", "RETRY"):
        host = _hostname(state.result) or child.worker
        if child.state == "REDELIVERED" and host == child.worker:
            return False  # the stale STARTED left by the dead worker: still waiting
        child.state, child.worker = "STARTED", host
        child.seen_at = child.seen_at or now
    return (child.state, child.worker, child.reason) != before


def recorded_running(ids: list[str]) -> dict[str, str]:
    """Task id → worker, for children the recorder saw start (apps without track_started)."""
    path = paths.home() / "tasks.db"
    if not ids or not path.exists():
        return {}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
        try:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT id, worker FROM tasks WHERE id IN ({marks}) AND state='STARTED'", ids
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return {}
    return {str(i): str(w) for i, w in rows if w}


def judge_started(
    started: list[Child], alive: set[str], acks_late: bool, now: float
) -> list[Child]:
    """Children running on a worker that no longer answers: lost or redelivered."""
    changed = []
    for child in started:
        if not child.worker or child.worker in alive:
            continue
        if acks_late:
            if child.state != "REDELIVERED":
                child.state = "REDELIVERED"
                child.reason = (
                    f"worker {child.worker} died while it ran; the task acks late, so the broker "
                    "delivers it again (Redis: after the app's visibility timeout)"
                )
                changed.append(child)
        else:
            child.state, child.ended_at = "LOST", now
            child.reason = (
                f"worker {child.worker} died while it ran; the app acks early (acks_late off), "
                "so Celery did not redeliver it: batch retry sends it again"
            )
            changed.append(child)
    return changed


def follow_front(
    app: Celery,
    front: list[Child],
    ping: Any,
    acks_late: bool,
    last_check: float,
    now: float | None = None,
) -> tuple[list[Child], float]:
    """Read the front's states; judge running children against live workers when due.

    ``ping(hosts) -> set[str]`` answers which of ``hosts`` are alive. Returns the changed
    children and the time of the last liveness check."""
    now = time.time() if now is None else now
    states = read_states(app, [c.task_id for c in front])
    changed: dict[int, Child] = {}
    quiet = []
    for child in front:
        state = states.get(child.task_id, ChildState("PENDING"))
        if apply(child, state, now):
            changed[child.index] = child
        if state.state == "PENDING" and child.state == "PENDING":
            quiet.append(child)
    for task_id, worker in recorded_running([c.task_id for c in quiet]).items():
        child = next(c for c in quiet if c.task_id == task_id)
        child.state, child.worker, child.seen_at = "STARTED", worker, now
        changed[child.index] = child
    running = [c for c in front if c.state in ("STARTED", "REDELIVERED") and c.worker]
    due = [c for c in running if now - float(c.seen_at or now) >= LOST_CHECK_S]
    if due and now - last_check >= LOST_CHECK_S:
        last_check = now
        alive = ping(sorted({c.worker for c in due if c.worker}))
        for child in judge_started(due, alive, acks_late, now):
            changed[child.index] = child
        for child in due:  # a redelivered child now running again on a live worker
            if child.state == "REDELIVERED" and child.worker in alive:
                child.state, child.reason = "STARTED", None
                changed[child.index] = child
    return list(changed.values()), last_check
