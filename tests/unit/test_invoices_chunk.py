"""Billing chunks against real databases: SQLite always, PostgreSQL when one is reachable.

PostgreSQL tests create a throwaway database ``pooldesk_test_<random>`` (via the ``postgres``
maintenance database) and drop it afterwards. Set ``POOLDESK_TEST_PG`` to point elsewhere.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.exc import OperationalError

from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.billing import CustomerInfo, Usage, compute_invoice
from pooldesk.backend.invoices.chunk import FAULT_ENV, all_customer_ids, chunked, process_chunk
from pooldesk.backend.invoices.db import Customer, Invoice, UsageLine, create_schema, make_engine
from pooldesk.backend.invoices.seed import seed

PERIOD = "2026-03"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("POOLDESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(FAULT_ENV, raising=False)
    monkeypatch.delenv(db.DB_ENV, raising=False)
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'invoices.db'}"
        db.dispose_engines()
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("POOLDESK_HOME", str(tmp_path / "home"))
    yield f"sqlite:///{tmp_path / 'invoices.db'}"
    db.dispose_engines()


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model)) or 0


def _pdfs(home: Path) -> list[Path]:
    return sorted((home / "invoices").rglob("*.pdf"))


def test_seed_is_idempotent_on_each_backend(engine: Engine) -> None:
    first = seed(engine, 8, periods=["2026-02", PERIOD])
    again = seed(engine, 8, periods=["2026-02", PERIOD])
    assert first.customers_created == 8 and first.usage_lines_created > 0
    assert (again.customers_created, again.usage_lines_created) == (0, 0)
    assert _count(engine, Customer) == 8
    assert _count(engine, UsageLine) == first.usage_lines_created


def test_chunk_bills_each_customer_once_with_a_pdf(engine: Engine, tmp_path: Path) -> None:
    seed(engine, 10, periods=[PERIOD])
    result = process_chunk(engine, [*range(1, 11), 99, 3], PERIOD)
    assert result.created == 10
    assert result.skipped == 0
    assert result.missing_customers == [99]
    assert result.errors == []
    assert result.seconds_per_invoice is not None and result.seconds_per_invoice > 0
    assert set(result.to_dict()) == {
        "created",
        "skipped",
        "missing_customers",
        "seconds",
        "seconds_per_invoice",
        "errors",
    }

    pdfs = _pdfs(tmp_path / "home")
    assert len(pdfs) == 10
    with engine.connect() as conn:
        rows = conn.execute(select(Invoice).order_by(Invoice.customer_id)).all()
        usage = conn.execute(
            select(UsageLine).where(UsageLine.customer_id == 4, UsageLine.period == PERIOD)
        ).all()
        cust = conn.execute(select(Customer).where(Customer.id == 4)).one()
    assert [r.customer_id for r in rows] == list(range(1, 11))
    for row in rows:
        path = Path(row.pdf_path)
        assert path.name == f"{row.number}.pdf" and path.parent.name == PERIOD
        assert path.read_bytes().startswith(b"%PDF")
    expected = compute_invoice(
        CustomerInfo(cust.id, cust.name, cust.country, cust.email),
        [Usage(u.sku, u.description, u.quantity, u.unit_price_cents) for u in usage],
        PERIOD,
    )
    row4 = rows[3]
    assert (row4.number, row4.subtotal_cents, row4.tax_cents, row4.total_cents) == (
        expected.number,
        expected.subtotal_cents,
        expected.tax_cents,
        expected.total_cents,
    )
    assert row4.line_count == len(expected.lines)

    rerun = process_chunk(engine, list(range(1, 11)), PERIOD)
    assert (rerun.created, rerun.skipped) == (0, 10)
    assert _count(engine, Invoice) == 10
    assert len(_pdfs(tmp_path / "home")) == 10


def test_rerun_overwrites_a_stray_pdf(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    seed(engine, 2, periods=[PERIOD])
    out = tmp_path / "out"
    stray = out / PERIOD / "INV-2026-03-000002.pdf"  # as if a worker died before its commit
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half-written garbage")
    result = process_chunk(engine, [1, 2], PERIOD, out_dir=out)
    assert result.created == 2
    assert stray.read_bytes().startswith(b"%PDF")
    assert not [p for p in stray.parent.iterdir() if p.suffix != ".pdf"]  # no temp files left


def test_concurrent_overlapping_chunks_issue_one_invoice_each(engine: Engine) -> None:
    seed(engine, 40, periods=[PERIOD])
    chunks = [list(range(1, 31)), list(range(11, 41))]
    results: list[Any] = [None, None]
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = process_chunk(engine, chunks[i], PERIOD)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sum(r.created for r in results) == 40
    assert sum(r.created + r.skipped for r in results) == 60
    with engine.connect() as conn:
        per_customer = conn.execute(
            select(Invoice.customer_id, func.count()).group_by(Invoice.customer_id)
        ).all()
    assert sorted(per_customer) == [(cid, 1) for cid in range(1, 41)]


def test_lost_insert_race_counts_as_skipped(engine: Engine) -> None:
    """A rival commits customer 2's invoice just before our INSERT: the constraint wins."""
    seed(engine, 3, periods=[PERIOD])
    fired: list[bool] = []

    def rival(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if fired or not statement.lstrip().upper().startswith("INSERT INTO INVOICES"):
            return
        fired.append(True)
        with engine.begin() as other:  # a second connection, i.e. another worker
            other.execute(
                insert(Invoice),
                {
                    "customer_id": 1,
                    "period": PERIOD,
                    "number": "INV-2026-03-000001",
                    "subtotal_cents": 0,
                    "tax_cents": 0,
                    "total_cents": 0,
                    "currency": "EUR",
                    "line_count": 0,
                    "pdf_path": "rival.pdf",
                },
            )

    event.listen(engine, "before_cursor_execute", rival)
    try:
        result = process_chunk(engine, [1, 2, 3], PERIOD)
    finally:
        event.remove(engine, "before_cursor_execute", rival)
    assert (result.created, result.skipped) == (2, 1)
    with engine.connect() as conn:
        assert conn.scalar(select(Invoice.pdf_path).where(Invoice.customer_id == 1)) == "rival.pdf"
    assert _count(engine, Invoice) == 3


def test_injected_db_fault_raises_and_writes_nothing(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, 6, periods=[PERIOD])
    monkeypatch.setenv(FAULT_ENV, "5")
    with pytest.raises(OperationalError, match="injected fault"):
        process_chunk(engine, [4, 5, 6], PERIOD)
    assert _count(engine, Invoice) == 0
    assert _pdfs(tmp_path / "home") == []
    assert process_chunk(engine, [1, 2], PERIOD).created == 2  # other chunks are unaffected
    monkeypatch.setenv(FAULT_ENV, "five")
    with pytest.raises(ValueError, match=FAULT_ENV):
        process_chunk(engine, [1], PERIOD)


def test_db_error_mid_chunk_propagates_and_keeps_committed_work(engine: Engine) -> None:
    seed(engine, 5, periods=[PERIOD])
    inserts: list[int] = []

    def fail_third(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO INVOICES"):
            inserts.append(1)
            if len(inserts) == 3:
                raise OperationalError(statement, None, Exception("connection lost"))

    event.listen(engine, "before_cursor_execute", fail_third)
    try:
        with pytest.raises(OperationalError):
            process_chunk(engine, [1, 2, 3, 4, 5], PERIOD)
    finally:
        event.remove(engine, "before_cursor_execute", fail_third)
    assert _count(engine, Invoice) == 2
    retry = process_chunk(engine, [1, 2, 3, 4, 5], PERIOD)  # what the Celery retry does
    assert (retry.created, retry.skipped) == (3, 2)


def test_bad_usage_is_reported_not_fatal(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seed(engine, 3, periods=[PERIOD])
    with engine.begin() as conn:
        conn.execute(
            insert(UsageLine),
            {
                "customer_id": 2,
                "period": PERIOD,
                "sku": "refund",
                "description": "bad",
                "quantity": -1,
                "unit_price_cents": 100,
            },
        )
    result = process_chunk(engine, [1, 2, 3], PERIOD)
    assert result.created == 2
    assert [e["customer_id"] for e in result.errors] == [2]
    assert "not billable" in result.errors[0]["error"]


def test_invalid_inputs_raise_clear_errors(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    with pytest.raises(ValueError, match="chunk size must be an integer >= 1, got 0"):
        chunked([1, 2, 3], 0)
    with pytest.raises(ValueError, match="month must be 01-12, got 13"):
        process_chunk(engine, [1], "2026-13")
    with pytest.raises(ValueError, match="customer id must be an integer >= 1"):
        process_chunk(engine, [1, 0], PERIOD)
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([], 3) == []


def test_time_per_invoice_sqlite(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(sqlite_url)
    seed(engine, 200, periods=[PERIOD])
    started = time.perf_counter()
    results = [process_chunk(engine, ids, PERIOD) for ids in chunked(all_customer_ids(engine), 50)]
    elapsed = time.perf_counter() - started
    assert sum(r.created for r in results) == 200
    with capsys.disabled():
        print(f"\n[invoices] SQLite: {elapsed / 200 * 1000:.1f} ms per invoice (200 invoices)")
