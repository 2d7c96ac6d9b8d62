"""Folding Celery's events into the recorder's pending rows: pure, no store, no broker.

Why apart: this is the part that decides what a task's row says (four events of one task →
one row, merged by the store's rules; the in-worker probe's runs → the task's queue), and it
runs on the receiver's thread for every event, 10,000 a second. Writing those rows is
``writer``; when to write them is the recorder's loop.
"""

from __future__ import annotations

import logging
from typing import Any

from pooldesk.backend.taskhistory.normalise import row_of
from pooldesk.backend.taskhistory.store import merge

log = logging.getLogger("pooldesk.recorder")

FIT_EVENT = "worker-fit"  # the in-worker probe (backend/workers/inworker/_pooldesk_fit.py)


def fold(
    pending: dict[str, dict[str, Any]], event: dict[str, Any], hide_args: bool, key: str
) -> None:
    """Merge one task event into ``pending`` (an event that is not a task's is skipped; one
    that cannot be read is logged and skipped: one bad event never ends the capture)."""
    try:
        row = row_of(event, hide_args, key)
    except Exception:
        log.exception("could not read a %r event", event.get("type"))
        return
    if row is None:
        return
    old = pending.get(row["id"])
    pending[row["id"]] = row if old is None else merge(old, row)


def queues_of_runs(pending: dict[str, dict[str, Any]], event: dict[str, Any]) -> dict[str, str]:
    """The in-worker probe's runs carry each task's routing key: the Tasks page's Queue
    column for every task of a worker Pooldesk started (task events carry no queue).

    Rows still pending get theirs here; the queues of tasks already written are returned
    (task id → queue) for the store."""
    found: dict[str, str] = {}
    for run in event.get("runs") or []:
        if not isinstance(run, list | tuple) or len(run) < 2:
            continue
        task_id, queue = str(run[0]), str(run[1] or "")
        if not queue or queue == "(unknown)":
            continue
        row = pending.get(task_id)
        if row is not None:
            row.setdefault("queue", queue)
            if not row.get("queue"):
                row["queue"] = queue
        else:
            found[task_id] = queue
    return found
