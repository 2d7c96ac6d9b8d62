"""Rows the recorder writes after a gap, from what it can still learn: the tasks workers hold
now (``inspect`` active, reserved, scheduled) and how the ones it lost track of ended (the result
backend). Kept apart from the recorder's loop so each stays small."""

from __future__ import annotations

from typing import Any

from pooldesk.backend.taskhistory.normalise import (
    FINAL_RANK,
    MAX_REPR,
    RANK,
    exception_type,
    failure_group,
    mask_secrets,
)


def outcome_row(
    key: str, task_id: str, child: Any, now: float, note: str, hide_args: bool
) -> dict[str, Any]:
    """A task that ended while nobody recorded, as the result backend tells it."""
    row: dict[str, Any] = {
        "id": task_id,
        "broker": key,
        "state": child.state,
        "rank": FINAL_RANK,
        "state_ts": now,
        "first_ts": now,
        "updated_ts": now,
        "note": note,
    }
    if child.state == "FAILURE" and child.result is not None:
        exception = child.result if isinstance(child.result, str) else repr(child.result)
        row.update(
            exception=mask_secrets(exception[:MAX_REPR]),
            exc_type=exception_type(exception),
            exc_group=mask_secrets(failure_group(exception)),
        )
    elif child.state == "SUCCESS" and not hide_args:
        row["result"] = mask_secrets(repr(child.result)[:MAX_REPR])
    return row


def held_row(
    key: str, host: str, state: str, request: dict[str, Any], now: float, hide_args: bool
) -> dict[str, Any] | None:
    """A task a worker holds now (``inspect`` after a gap)."""
    task_id = request.get("id")
    if not task_id:
        return None
    delivery = request.get("delivery_info") or {}
    hidden = hide_args
    return {
        "id": task_id,
        "broker": key,
        "name": request.get("name"),
        "worker": request.get("hostname") or host,
        "queue": delivery.get("routing_key"),
        "state": state,
        "rank": RANK[state],
        "state_ts": 0.0,  # never newer than a real event
        "first_ts": request.get("time_start") or now,
        "updated_ts": now,
        "started_ts": request.get("time_start"),
        "args": None if hidden else mask_secrets(repr(tuple(request.get("args") or ()))),
        "kwargs": None if hidden else mask_secrets(repr(request.get("kwargs") or {})),
        "args_hidden": 1 if hidden else None,
        "note": "found on a worker after a gap (inspect)",
    }
