"""A batch's children as rows, read when someone opens the batch (never by the watcher).

Rows are what ``batch status --children``/``--json`` and the window list: ``index``, ``id``
(the Celery task), ``state`` (a Celery state), ``reason`` when it failed, ``result`` when known.
Invoice batches have one row per chunk (with its ``args``); monitoring batches one row per URL
(``url``, and ``child``, the index of the task that checked it). After a retry a URL's row is
the latest task's: retried URLs travel in new tasks appended to the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import Celery

from pooldesk.backend.batches.children import ChildState, failure_reason, fetch_states
from pooldesk.backend.batches.ledger import Ledger


def child_rows(
    app: Celery, ledger: Ledger, batch_id: str, kind: str, limit: int | None = None
) -> list[dict[str, Any]]:
    """Every row, or — with ``limit`` — at most that many, read at a bounded cost: the first
    failures and the open children from the ledger, then ended children's results only until
    the rows are enough (a window following a 100,000-URL batch reads a few tasks' results,
    not all of them)."""
    plan = ledger.children(batch_id)
    if limit is not None and sum(_items(c) for c in plan) > limit:
        return _some_rows(app, ledger, batch_id, kind, plan, limit)
    states = fetch_states(app, [c["id"] for c in plan])
    if kind != "monitoring":
        return [_chunk_row(c, states.get(c["id"], ChildState("PENDING"))) for c in plan]
    rows: dict[int, dict[str, Any]] = {}
    for child in plan:  # by index: a retry's tasks come last and win
        for row in _url_rows(child, states.get(child["id"], ChildState("PENDING"))):
            rows[row["index"]] = row
    return [rows[i] for i in sorted(rows)]


def row_slices(
    app: Celery, ledger: Ledger, batch_id: str, kind: str, per: int = 100
) -> Iterator[list[dict[str, Any]]]:
    """Every row, ``per`` children's worth at a time (to be stored as they come). A URL
    retried in a later task appears again there; stored by index, the later row wins."""
    plan = ledger.children(batch_id)
    for start in range(0, len(plan), per):
        part = plan[start : start + per]
        states = fetch_states(app, [c["id"] for c in part])
        yield [
            row
            for child in part
            for row in _rows_of(kind, child, states.get(child["id"], ChildState("PENDING")))
        ]


def _chunk_row(child: dict[str, Any], state: ChildState) -> dict[str, Any]:
    row: dict[str, Any] = {"index": child["index"], "id": child["id"], "state": state.state}
    reason = failure_reason(state)
    if reason:
        row["reason"] = reason
    if state.state == "SUCCESS" and isinstance(state.result, dict):
        row["result"] = state.result
    row["args"] = child["args"]
    return row


def _url_rows(child: dict[str, Any], state: ChildState) -> list[dict[str, Any]]:
    base = {"id": child["id"], "child": child["index"]}
    result = state.result if isinstance(state.result, dict) else {}
    checks = result.get("checks") if state.state == "SUCCESS" else None
    if isinstance(checks, list):
        out = []
        for check in checks:
            check = dict(check)
            row = {**base, "index": int(check.pop("index")), "url": check.get("url")}
            row["state"] = "SUCCESS"
            if check.get("reason"):
                row["reason"] = check["reason"]
            row["result"] = check
            out.append(row)
        return out
    reason = failure_reason(state) if state.state in ("FAILURE", "REVOKED") else None
    return [
        {
            **base,
            "index": int(item),
            "url": url,
            "state": state.state,
            **({"reason": reason} if reason else {}),
        }
        for item, url in child["args"][2]
    ]


def _items(child: dict[str, Any]) -> int:
    return len(child["args"][2]) if "items" in child else 1


def _some_rows(
    app: Celery,
    ledger: Ledger,
    batch_id: str,
    kind: str,
    plan: list[dict[str, Any]],
    limit: int,
) -> list[dict[str, Any]]:
    open_ = set(ledger.open_indices(batch_id))
    running = ledger.running_indices(batch_id)
    failed = [
        {**f, "state": "FAILURE" if f.get("reason") != "cancelled" else "REVOKED"}
        for f in sorted(ledger.failures(batch_id), key=lambda f: int(f.get("index") or 0))
    ]
    rows = list(failed)
    waiting = []
    for child in plan:
        if int(child["index"]) in open_:
            state = ChildState("STARTED" if int(child["index"]) in running else "PENDING")
            waiting += _rows_of(kind, child, state)
    rows += sorted(waiting, key=lambda r: r["state"] != "STARTED")
    shown = {(r.get("id"), r["index"]) for r in failed}
    ended = [c for c in plan if int(c["index"]) not in open_]
    for start in range(0, len(ended), 20):
        if len(rows) >= limit:
            break
        part = ended[start : start + 20]
        states = fetch_states(app, [c["id"] for c in part])
        for child in part:
            rows += [
                r
                for r in _rows_of(kind, child, states.get(child["id"], ChildState("PENDING")))
                if (r["id"], r["index"]) not in shown
            ]
    return rows[:limit]


def _rows_of(kind: str, child: dict[str, Any], state: ChildState) -> list[dict[str, Any]]:
    return _url_rows(child, state) if kind == "monitoring" else [_chunk_row(child, state)]
