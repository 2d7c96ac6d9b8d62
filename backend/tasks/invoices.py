"""The invoice chunk task: CPU/DB-bound work that belongs on a prefork pool.

A database error retries the whole chunk with capped exponential backoff (the chunk is
idempotent, so a retry re-bills nothing). After the last retry the task *returns* a failure
result instead of raising: the batch watcher must see every child end, failures included.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Task
from sqlalchemy.exc import DBAPIError, OperationalError

from pooldesk.backend.batches.ledger import close_if_last, ledger_for
from pooldesk.backend.batches.outcome import from_result
from pooldesk.backend.celery_app import app
from pooldesk.backend.invoices.chunk import process_chunk
from pooldesk.backend.invoices.db import create_schema, make_engine
from pooldesk.backend.units import plural

MAX_RETRIES = 3
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 30.0


def backoff(retries: int) -> float:
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**retries)


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


@app.task(bind=True, name="pooldesk.invoices.chunk", max_retries=MAX_RETRIES, nature="cpu")
def invoice_chunk(
    self: Task, batch_id: str, index: int, customer_ids: list[int], period: str
) -> dict[str, Any]:
    """Bill one chunk; the batch's ledger hears of its start and (after the last retry) its end."""
    ledger = ledger_for(self.app)
    ledger.started(batch_id, index, 1)
    result = _bill(self, batch_id, index, customer_ids, period)  # raises Retry between tries
    cid = str(self.request.id)
    outcome = from_result("invoices", {"index": index, "id": cid}, result)
    close_if_last(self.app, batch_id, ledger.report_end(batch_id, index, cid, outcome))
    return result


def _bill(
    self: Task, batch_id: str, index: int, customer_ids: list[int], period: str
) -> dict[str, Any]:
    started = time.monotonic()
    base = {"batch_id": batch_id, "index": index, "customers": len(customer_ids)}
    try:
        engine = make_engine()
        create_schema(engine)
        result = process_chunk(engine, customer_ids, period)
    except (OperationalError, DBAPIError) as exc:
        if self.request.retries < MAX_RETRIES:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
        return {
            **base,
            "ok": False,
            "runtime": time.monotonic() - started,
            "error": f"database error after {MAX_RETRIES} retries: {_short(exc)}",
        }
    except Exception as exc:  # anything else: report, never leave the batch hanging
        return {**base, "ok": False, "runtime": time.monotonic() - started, "error": _short(exc)}
    return {
        **base,
        **result.to_dict(),
        "ok": not result.errors,
        "runtime": time.monotonic() - started,
        "error": f"{plural(len(result.errors), 'customer')} could not be billed"
        if result.errors
        else None,
    }
