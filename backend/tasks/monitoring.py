"""The URL-check tasks: I/O-bound work that belongs on a gevent pool.

``check_urls`` is what batches send: several URLs per task, checked concurrently over one
connection pool per process (:mod:`pooldesk.backend.monitoring.many`), each URL's row in the result
and the batch's ledger told at the start and the end. ``check_url_task`` checks one URL (kept for
callers that send single checks, and for the benchmark's plain ``group``).
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task

from pooldesk.backend.batches.ledger import close_if_last, ledger_for
from pooldesk.backend.batches.outcome import from_result
from pooldesk.backend.celery_app import app
from pooldesk.backend.monitoring.many import check_many, check_one


@app.task(name="pooldesk.monitoring.check", nature="io")
def check_url_task(batch_id: str, index: int, url: str, timeout: float = 10.0) -> dict[str, Any]:
    result = check_one(url, timeout, None)
    result.update(batch_id=batch_id, index=index)
    return result


@app.task(bind=True, name="pooldesk.monitoring.check_urls", nature="io")
def check_urls_task(
    self: Task, batch_id: str, index: int, items: list[list[Any]], timeout: float = 10.0
) -> dict[str, Any]:
    """``items``: ``[url index, url]`` pairs. Returns every URL's row, by its index."""
    started = time.monotonic()
    ledger = ledger_for(self.app)
    ledger.started(batch_id, index, len(items))
    rows = check_many([str(u) for _, u in items], timeout)
    for (item, _), row in zip(items, rows, strict=True):
        row["index"] = int(item)
    up = sum(1 for r in rows if r.get("ok"))
    result = {
        "batch_id": batch_id,
        "index": index,
        "runtime": round(time.monotonic() - started, 4),
        "ok": up == len(rows),
        "up": up,
        "down": len(rows) - up,
        "checks": rows,
    }
    child = {"index": index, "id": self.request.id, "items": [int(i) for i, _ in items]}
    left = ledger.report_end(
        batch_id, index, str(self.request.id), from_result("monitoring", child, result)
    )
    close_if_last(self.app, batch_id, left)
    return result
