"""A child's end in items, from its result: one rule for the child's own report and the watcher.

A child reports its end itself (:meth:`Ledger.report_end`); when that report is lost (Redis
restarting) or the child never got to make it (its process was killed, it was revoked), the
watcher derives the same outcome from the child's Celery state.
"""

from __future__ import annotations

from typing import Any

from pooldesk.backend.batches.children import ChildState, failure_reason
from pooldesk.backend.batches.ledger import Outcome
from pooldesk.backend.batches.plan import item_count

INVOICE_SUMS = ("created", "skipped", "seconds")


def from_result(kind: str, child: dict[str, Any], result: dict[str, Any]) -> Outcome:
    """A child that returned: per URL for monitoring, one item for an invoice chunk."""
    sums = {"runtime": float(result.get("runtime") or 0)}
    if kind == "monitoring" and isinstance(result.get("checks"), list):
        out = Outcome(sums=sums)
        for row in result["checks"]:
            if row.get("ok"):
                out.succeeded += 1
            else:
                out.failed += 1
                out.failures.append(
                    {
                        "index": row.get("index"),
                        "id": child["id"],
                        "url": row.get("url"),
                        "reason": row.get("reason") or "failed",
                    }
                )
        out.state = "SUCCESS" if not out.failed else "FAILURE"
        return out
    for name in INVOICE_SUMS:
        sums[name] = float(result.get(name) or 0)
    reason = failure_reason(ChildState("SUCCESS", result))
    if reason is None:
        return Outcome(succeeded=1, sums=sums)
    return Outcome(
        failed=1,
        sums=sums,
        state="FAILURE",
        failures=[{"index": child["index"], "id": child["id"], "reason": reason}],
    )


def from_state(kind: str, child: dict[str, Any], state: ChildState) -> Outcome:
    """A child that ended without reporting: from what Celery stored (SUCCESS, FAILURE, REVOKED)."""
    if state.state == "SUCCESS" and isinstance(state.result, dict):
        return from_result(kind, child, state.result)
    reason = failure_reason(state) or state.state.lower()
    return whole(kind, child, reason, cancelled=state.state == "REVOKED")


def whole(kind: str, child: dict[str, Any], reason: str, cancelled: bool = False) -> Outcome:
    """Every item of the child failed (or was cancelled) for one reason."""
    n = item_count(child)
    if kind == "monitoring" and "items" in child:
        urls = {int(i): u for i, u in child["args"][2]}
        failures = [
            {"index": i, "id": child["id"], "url": urls.get(i), "reason": reason}
            for i in child["items"]
        ]
    else:
        failures = [{"index": child["index"], "id": child["id"], "reason": reason}]
    if cancelled:
        return Outcome(cancelled=n, failures=failures, state="REVOKED")
    return Outcome(failed=n, failures=failures, state="FAILURE")
