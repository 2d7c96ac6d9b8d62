"""Which children of a finished demo batch a retry runs again (failed or cancelled ones)."""

from __future__ import annotations

from typing import Any

from pooldesk.backend.batches.children import ENDED, child_id
from pooldesk.backend.batches.history import BatchRecord
from pooldesk.backend.batches.plan import auto_urls_per_task, monitoring_child


def failed(row: dict[str, Any]) -> bool:
    return bool(row.get("reason")) or row.get("state") not in ENDED


def again(
    record: BatchRecord, rows: list[dict[str, Any]], plan: list[dict[str, Any]], round_: int
) -> list[dict[str, Any]]:
    """The children to run again: failed or cancelled chunks (same index, new id), or the
    failed URLs regrouped into new tasks appended to the plan (only those URLs are checked)."""

    if record.kind != "monitoring":
        by_index = {int(c["index"]): c for c in plan}
        return [
            {
                **by_index[int(r["index"])],
                "id": child_id(record.id, int(r["index"]), round_, tag="t"),
                "lost": 0,
                "base": child_id(record.id, int(r["index"]), round_, tag="t"),
            }
            for r in rows
            if failed(r) and int(r["index"]) in by_index
        ]
    urls = [(int(r["index"]), str(r["url"])) for r in rows if failed(r) and r.get("url")]
    size = int(record.params.get("urls_per_task") or auto_urls_per_task(len(urls)))
    first = max((int(c["index"]) for c in plan), default=-1) + 1
    timeout = float(record.params.get("timeout", 10.0))
    return [
        monitoring_child(
            record.id,
            first + n,
            [i for i, _ in urls[start : start + size]],
            [u for _, u in urls[start : start + size]],
            timeout,
            attempt=round_,
            tag="t",
        )
        for n, start in enumerate(range(0, len(urls), size))
    ]
