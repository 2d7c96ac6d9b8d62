"""Invoice database plumbing and seeding: engine URL/caching/fork-safety, deterministic seeds."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from pooldesk.backend.invoices import db
from pooldesk.backend.invoices.chunk import all_customer_ids
from pooldesk.backend.invoices.db import Customer, UsageLine, make_engine
from pooldesk.backend.invoices.seed import seed

PERIOD = "2026-03"


@pytest.fixture
def sqlite_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("POOLDESK_HOME", str(tmp_path / "home"))
    yield f"sqlite:///{tmp_path / 'invoices.db'}"
    db.dispose_engines()


def _count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(model)) or 0


def _dump(engine: Engine) -> tuple[Sequence[Any], Sequence[Any]]:
    with engine.connect() as conn:
        customers = conn.execute(
            select(Customer.id, Customer.name, Customer.country, Customer.email).order_by(
                Customer.id
            )
        ).all()
        usage = conn.execute(
            select(
                UsageLine.customer_id,
                UsageLine.period,
                UsageLine.sku,
                UsageLine.description,
                UsageLine.quantity,
                UsageLine.unit_price_cents,
            ).order_by(UsageLine.customer_id, UsageLine.period, UsageLine.id)
        ).all()
    return customers, usage


# --- engines --------------------------------------------------------------------------------


def test_invoice_db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POOLDESK_HOME", str(tmp_path))
    monkeypatch.delenv(db.DB_ENV, raising=False)
    assert db.invoice_db_url() == f"sqlite:///{tmp_path / 'invoices.db'}"
    monkeypatch.setenv(db.DB_ENV, "postgresql+psycopg://u@h/d")
    assert db.invoice_db_url() == "postgresql+psycopg://u@h/d"


def test_sqlite_engine_is_cached_and_tuned(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    assert make_engine(sqlite_url) is engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000


def test_forked_child_gets_its_own_engine(sqlite_url: str) -> None:
    parent = make_engine(sqlite_url)
    seed(parent, 2, periods=[PERIOD])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 1
        try:
            child = make_engine(sqlite_url)
            code = 0 if child is not parent and all_customer_ids(child) == [1, 2] else 2
        finally:
            os.write(write_fd, bytes([code]))
            os._exit(0)
    os.close(write_fd)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_fd, 1) == b"\x00"
    os.close(read_fd)
    assert status == 0
    assert all_customer_ids(parent) == [1, 2]  # the parent's pooled connection still works


# --- seeding --------------------------------------------------------------------------------


def test_seed_is_deterministic_and_idempotent(tmp_path: Path, sqlite_url: str) -> None:
    a = make_engine(sqlite_url)
    first = seed(a, 12, seed=7, periods=["2026-02", PERIOD])
    assert first.customers_created == 12
    assert first.periods == ["2026-02", PERIOD]
    assert 12 * 2 * 5 <= first.usage_lines_created <= 12 * 2 * 25
    again = seed(a, 12, seed=7, periods=["2026-02", PERIOD])
    assert (again.customers_created, again.usage_lines_created) == (0, 0)
    assert _count(a, Customer) == 12
    assert _count(a, UsageLine) == first.usage_lines_created

    # Growing N only adds the missing customers, and matches a fresh seed of the larger N.
    grown = seed(a, 20, seed=7, periods=["2026-02", PERIOD])
    assert grown.customers_created == 8
    assert grown.customers_total == 20
    b = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    seed(b, 20, seed=7, periods=[PERIOD, "2026-02"])
    assert _dump(a) == _dump(b)

    c = make_engine(f"sqlite:///{tmp_path / 'third.db'}")
    seed(c, 20, seed=8, periods=["2026-02", PERIOD])
    assert _dump(c) != _dump(a)


def test_seed_adds_new_periods_for_existing_customers(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seed(engine, 3, periods=["2026-01"])
    result = seed(engine, 3, periods=["2026-01", "2026-02"])
    assert result.customers_created == 0
    assert result.usage_lines_created > 0
    with engine.connect() as conn:
        pairs = set(conn.execute(select(UsageLine.customer_id, UsageLine.period).distinct()))
    assert pairs == {(c, p) for c in (1, 2, 3) for p in ("2026-01", "2026-02")}


def test_seed_default_periods_are_three_recent_months(sqlite_url: str) -> None:
    result = seed(make_engine(sqlite_url), 1)
    assert len(result.periods) == 3


@pytest.mark.parametrize("customers", [0, -3, True, 2.5, "10", None])
def test_seed_rejects_bad_customer_count(sqlite_url: str, customers: Any) -> None:
    engine = make_engine(sqlite_url)
    with pytest.raises(ValueError, match="customers must be an integer >= 1"):
        seed(engine, customers)
    with engine.connect() as conn:  # nothing written: not even the schema
        assert not conn.exec_driver_sql("SELECT name FROM sqlite_master").all()


def test_seed_rejects_bad_period(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="month must be 01-12"):
        seed(make_engine(sqlite_url), 3, periods=["2026-13"])


def test_postgres_without_its_extra_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL is the ``postgres`` extra: without psycopg, say what to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    db.dispose_engines()
    with pytest.raises(ValueError, match=r"pip install 'pooldesk\[postgres\]'"):
        make_engine("postgresql://u:secret@127.0.0.1:5432/x")
