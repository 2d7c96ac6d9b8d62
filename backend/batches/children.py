"""Reading the state of a batch's children from the result backend.

Used by the watcher's scan of the open children (in a worker), by the panel when it lists a
batch's rows, and by the event monitor's re-sync. A child has *ended* when it succeeded,
failed or was revoked; it *failed* when it ended any other way than a success whose result
says ``ok``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery

ENDED = frozenset({"SUCCESS", "FAILURE", "REVOKED"})


def child_id(batch_id: str, index: int, attempt: int = 0, tag: str = "r") -> str:
    """Children are named after their batch so events map to batches without a lookup.

    ``r`` marks a resend after a lost worker process, ``t`` a user's retry of failed children.
    """
    return f"{batch_id}.{index}" + (f".{tag}{attempt}" if attempt else "")


def batch_of(task_id: str) -> str:
    """The batch a child belongs to (the part before the first dot)."""
    return task_id.split(".", 1)[0]


@dataclass
class ChildState:
    state: str  # Celery state: PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED
    result: Any = None


def fetch_states(app: Celery, ids: list[str]) -> dict[str, ChildState]:
    """One round trip for Redis (MGET); one call per child on other backends."""
    backend = app.backend
    out: dict[str, ChildState] = {}
    client = getattr(backend, "client", None)
    if client is not None and hasattr(backend, "get_key_for_task"):
        keys = [backend.get_key_for_task(task_id) for task_id in ids]
        for start in range(0, len(keys), 1000):
            values = client.mget(keys[start : start + 1000])
            for task_id, raw in zip(ids[start : start + 1000], values, strict=True):
                if raw is None:
                    out[task_id] = ChildState("PENDING")
                else:
                    meta = backend.decode_result(raw)
                    out[task_id] = ChildState(meta.get("status", "PENDING"), meta.get("result"))
        return out
    for task_id in ids:
        meta = backend.get_task_meta(task_id)
        out[task_id] = ChildState(meta.get("status", "PENDING"), meta.get("result"))
    return out


def failure_reason(state: ChildState) -> str | None:
    """``None`` for a success; otherwise one line a person can act on."""
    if state.state == "SUCCESS":
        result = state.result if isinstance(state.result, dict) else {}
        if result.get("ok", True):
            return None
        return str(result.get("error") or result.get("reason") or "reported failure")
    if state.state == "REVOKED":
        return "cancelled"
    if state.state == "FAILURE":
        result = state.result
        if isinstance(result, dict):
            return f"{result.get('exc_type', 'Error')}: {result.get('exc_message', '')}".strip()
        return str(result)
    return None
