"""How a batch is cut into children: invoice chunks, and URLs grouped per task.

URLs per task (``--urls-per-task``, or chosen here): Celery costs ≈ 9 ms of worker CPU per task on
a gevent worker and ≈ 3.6 ms on prefork (FACTS, measured with noop tasks), a pooled check ≈ 0.4–
1.7 ms. Up to :data:`AUTO_MAX_PER_TASK` URLs per task brings Celery's share under 0.1 ms per URL;
at least :data:`AUTO_MIN_TASKS` tasks per batch keep several workers (and prefork processes)
busy and progress visible. One URL per task is still possible (``--urls-per-task 1``).
"""

from __future__ import annotations

import math
from typing import Any

from pooldesk.backend.batches.children import child_id
from pooldesk.backend.invoices.chunk import chunked

AUTO_MIN_TASKS = 20
AUTO_MAX_PER_TASK = 100


def auto_urls_per_task(urls: int) -> int:
    """Enough tasks to spread, few enough that Celery's fixed cost per task stops mattering."""
    return max(1, min(AUTO_MAX_PER_TASK, math.ceil(urls / AUTO_MIN_TASKS)))


def monitoring_children(
    batch_id: str, urls: list[str], timeout: float, per_task: int | None
) -> tuple[list[dict[str, Any]], int]:
    """Children of a monitoring batch and the URLs per task used. A child's ``items`` are the
    URL indices it checks: progress and results stay per URL."""
    size = per_task or auto_urls_per_task(len(urls))
    children = []
    for index, start in enumerate(range(0, len(urls), size)):
        items = list(range(start, min(start + size, len(urls))))
        children.append(
            monitoring_child(batch_id, index, items, urls[start : start + size], timeout)
        )
    return children, size


def monitoring_child(
    batch_id: str,
    index: int,
    items: list[int],
    urls: list[str],
    timeout: float,
    attempt: int = 0,
    tag: str = "r",
) -> dict[str, Any]:
    cid = child_id(batch_id, index, attempt, tag)
    return {
        "index": index,
        "id": cid,
        "attempt": attempt,
        "items": items,
        "args": [batch_id, index, [[i, u] for i, u in zip(items, urls, strict=True)], timeout],
    }


def invoice_children(
    batch_id: str, ids: list[int], chunk_size: int, period: str
) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "id": child_id(batch_id, i),
            "attempt": 0,
            "args": [batch_id, i, chunk, period],
        }
        for i, chunk in enumerate(chunked(ids, chunk_size))
    ]


def item_count(child: dict[str, Any]) -> int:
    """Items a child stands for: its URLs (monitoring) or 1 (an invoice chunk)."""
    return len(child["items"]) if "items" in child else 1
