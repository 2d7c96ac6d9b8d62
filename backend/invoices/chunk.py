"""Bill one chunk of customers for one period: the unit of work a Celery task runs.

Designed to be re-delivered, retried and raced:

- **Idempotent.** A (customer, period) that already has an invoice row is skipped. The
  ``UniqueConstraint(customer_id, period)`` is the real guard: when two workers bill the same
  customer at once, the loser's insert fails with IntegrityError, is rolled back, and counts as
  skipped.
- **Nothing done is lost.** Each invoice row is committed in its own transaction, so a crash
  halfway through a chunk keeps the invoices already issued; the retry skips them.
- **No dangling rows.** The PDF is written (atomically, deterministically) *before* its row is
  committed, so a row always points at an existing file. A crash between the two leaves a stray
  PDF that the rerun overwrites with identical bytes.
- **Database errors propagate.** OperationalError/DBAPIError leave this function untouched so
  the Celery task can retry the whole chunk with backoff. Only per-customer data problems (a
  usage line billing refuses) are collected in ``errors``, since retrying cannot fix them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from reportlab.platypus.doctemplate import LayoutError
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError

from pooldesk.backend.invoices.billing import CustomerInfo, Usage, compute_invoice, validate_period
from pooldesk.backend.invoices.db import Customer, Invoice, UsageLine
from pooldesk.backend.invoices.pdf import render_pdf

# TEST-ONLY fault injection: when this holds a customer id and a chunk contains that id,
# process_chunk raises sqlalchemy.exc.OperationalError before touching anything, just as a lost
# database would. It lets the Celery retry path be exercised end to end with real workers,
# where a mock cannot reach. Never set it in production.
FAULT_ENV = "POOLDESK_FAULT_DB_CHUNK"

_QUERY_BATCH = 500  # ids per IN (...) query: far below SQLite/PostgreSQL parameter limits


class ChunkError(TypedDict):
    customer_id: int
    error: str


@dataclass(slots=True)
class ChunkResult:
    """Outcome of :func:`process_chunk`; ``to_dict()`` is JSON-ready for a Celery result."""

    created: int = 0
    skipped: int = 0
    missing_customers: list[int] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_invoice: float | None = None  # None when nothing was created
    errors: list[ChunkError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be an integer >= 1, got {value!r}")
    return value


def chunked(ids: Sequence[int], size: int) -> list[list[int]]:
    """Split ``ids`` into consecutive lists of at most ``size`` (size >= 1)."""
    _positive_int(size, "chunk size")
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def all_customer_ids(engine: Engine) -> list[int]:
    """Every customer id, ascending: the input a coordinator splits into chunks."""
    with engine.connect() as conn:
        return list(conn.scalars(select(Customer.id).order_by(Customer.id)))


def _check_fault(ids: Iterable[int]) -> None:
    raw = os.environ.get(FAULT_ENV, "").strip()
    if not raw:
        return
    try:
        target = int(raw)
    except ValueError:
        raise ValueError(f"{FAULT_ENV} must be a customer id, got {raw!r}") from None
    if target in ids:
        raise OperationalError(
            f"injected fault ({FAULT_ENV}={target})", None, Exception("injected database fault")
        )


def _load(
    conn: Connection, ids: list[int], period: str
) -> tuple[dict[int, CustomerInfo], dict[int, list[Usage]], set[int]]:
    """Customers, their usage for ``period`` and the already-invoiced ids, in a few queries.

    Ends its read transaction so that no snapshot (or PostgreSQL "idle in transaction") is held
    while PDFs render.
    """
    customers: dict[int, CustomerInfo] = {}
    usage: dict[int, list[Usage]] = {}
    invoiced: set[int] = set()
    with conn.begin():
        for start in range(0, len(ids), _QUERY_BATCH):
            batch = ids[start : start + _QUERY_BATCH]
            for row in conn.execute(
                select(Customer.id, Customer.name, Customer.country, Customer.email).where(
                    Customer.id.in_(batch)
                )
            ):
                customers[row.id] = CustomerInfo(row.id, row.name, row.country, row.email)
            invoiced.update(
                conn.scalars(
                    select(Invoice.customer_id).where(
                        Invoice.period == period, Invoice.customer_id.in_(batch)
                    )
                )
            )
            for u in conn.execute(
                select(
                    UsageLine.customer_id,
                    UsageLine.sku,
                    UsageLine.description,
                    UsageLine.quantity,
                    UsageLine.unit_price_cents,
                )
                .where(UsageLine.period == period, UsageLine.customer_id.in_(batch))
                .order_by(UsageLine.customer_id, UsageLine.id)
            ):
                usage.setdefault(u.customer_id, []).append(
                    Usage(u.sku, u.description, u.quantity, u.unit_price_cents)
                )
    return customers, usage, invoiced


def process_chunk(
    engine: Engine, customer_ids: list[int], period: str, out_dir: Path | None = None
) -> ChunkResult:
    """Issue the ``period`` invoice (PDF + row) for each customer in ``customer_ids``.

    PDFs go to ``out_dir/PERIOD/NUMBER.pdf`` (default ``home()/invoices``). Duplicate ids in
    the list are billed once. Raises ValueError for a bad period or id before doing anything,
    and lets database errors propagate (see the module docstring).
    """
    validate_period(period)
    ids = list(dict.fromkeys(_positive_int(cid, "customer id") for cid in customer_ids))
    _check_fault(ids)
    started = time.perf_counter()
    result = ChunkResult()
    with engine.connect() as conn:  # one pooled connection (and pre-ping) per chunk
        _bill(conn, ids, period, out_dir, result)
    result.seconds = time.perf_counter() - started
    if result.created:
        result.seconds_per_invoice = result.seconds / result.created
    return result


def _bill(
    conn: Connection, ids: list[int], period: str, out_dir: Path | None, result: ChunkResult
) -> None:
    customers, usage, invoiced = _load(conn, ids, period)
    for cid in ids:
        customer = customers.get(cid)
        if customer is None:
            result.missing_customers.append(cid)
            continue
        if cid in invoiced:
            result.skipped += 1
            continue
        try:
            invoice = compute_invoice(customer, usage.get(cid, []), period)
            path = render_pdf(invoice, out_dir)
        except (ValueError, LayoutError) as exc:
            result.errors.append({"customer_id": cid, "error": f"{type(exc).__name__}: {exc}"})
            continue
        row = {
            "customer_id": cid,
            "period": period,
            "number": invoice.number,
            "subtotal_cents": invoice.subtotal_cents,
            "tax_cents": invoice.tax_cents,
            "total_cents": invoice.total_cents,
            "currency": invoice.currency,
            "line_count": len(invoice.lines),
            "pdf_path": str(path),
        }
        try:
            with conn.begin():  # one transaction per invoice: a crash keeps the ones before it
                conn.execute(insert(Invoice), row)
        except IntegrityError:
            # Another worker committed this (customer, period) since _load: the constraint held,
            # our transaction was rolled back, and the PDF we wrote is byte-identical to theirs.
            result.skipped += 1
            continue
        result.created += 1
