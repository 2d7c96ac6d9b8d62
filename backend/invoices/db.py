"""Tables and engines for the invoice workload.

Money is stored as integer cents (``BigInteger``) everywhere: floats cannot represent most
decimal amounts, and a billing job that is off by a cent is a billing job nobody trusts.

Engines are cached per URL *and per process*: the Celery task calls :func:`make_engine` once per
chunk, and building an engine (plus its pool) each time would waste connections. Prefork workers
fork after the parent may already hold an engine, and a pooled connection must never be used by
two processes, so a child never reuses its parent's engines: they are keyed by ``os.getpid()``
and dropped with ``dispose(close=False)``, which leaves the parent's connections alone.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pooldesk.backend.paths import home

DB_ENV = "POOLDESK_INVOICE_DB"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# SQLite only aliases INTEGER PRIMARY KEY to the rowid (cheap autoincrement); elsewhere use 64 bits.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base for the invoice tables (kept apart from any other Pooldesk metadata)."""


class Customer(Base):
    """A billed customer. Ids are assigned by the seeder (1..N) so reseeding is idempotent."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2; picks VAT and currency
    email: Mapped[str] = mapped_column(String(254))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


class UsageLine(Base):
    """One metered usage record; a period's lines for a customer become that invoice's lines."""

    __tablename__ = "usage_lines"
    # The chunk job reads "all lines of these customers for this period": make that an index scan.
    __table_args__ = (Index("ix_usage_lines_customer_period", "customer_id", "period"),)

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # 'YYYY-MM'
    sku: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(BigInteger)  # whole units (hours, GB, seats...)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)


class Invoice(Base):
    """An issued invoice. At most one per (customer, period): the constraint is what makes a
    re-delivered or raced chunk harmless, not any check in Python."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("customer_id", "period", name="uq_invoices_customer_period"),
        Index("ix_invoices_period", "period"),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(7))
    number: Mapped[str] = mapped_column(String(32), unique=True)
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    tax_cents: Mapped[int] = mapped_column(BigInteger)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    line_count: Mapped[int] = mapped_column(Integer)
    pdf_path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_utcnow)


def invoice_db_url() -> str:
    """``$POOLDESK_INVOICE_DB`` if set, else a SQLite file under Pooldesk's data root."""
    override = os.environ.get(DB_ENV, "").strip()
    if override:
        return override
    from pooldesk.backend.settings import (
        load,  # the settings file's invoice_db, when the env is unset
    )

    configured = load().settings.invoice_db
    if configured:
        return configured
    return "sqlite:///" + str(home() / "invoices.db")


def _normalise_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg 3, the driver we ship (bare ``postgresql://`` means
    psycopg2 to SQLAlchemy, which is not installed)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Per-connection SQLite settings.

    WAL lets readers run while one writer commits (several worker processes share the file);
    busy_timeout makes a writer wait for the lock instead of failing at once; synchronous=NORMAL
    is safe with WAL (no corruption) and only risks the last commits on power loss, which a
    rerun of the idempotent chunk restores.
    """
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _build_engine(url: str) -> Engine:
    backend = make_url(url).get_backend_name()
    if backend == "postgresql" and importlib.util.find_spec("psycopg") is None:
        # SQLite is the default, so the PostgreSQL driver is an extra, not a hard dependency.
        raise ValueError(
            "a postgresql:// invoice DB needs the PostgreSQL driver: "
            "pip install 'pooldesk[postgres]' (psycopg 3)"
        )
    if backend == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A broker/DB restart between chunks leaves dead pooled connections: ping before use.
    return create_engine(url, pool_pre_ping=True)


_engines: dict[tuple[int, str], Engine] = {}
_engines_lock = threading.Lock()


def make_engine(url: str | None = None) -> Engine:
    """The process-wide engine for ``url`` (default :func:`invoice_db_url`), created on first use.

    Thread-safe (Celery's thread pool calls it concurrently) and fork-safe: engines inherited
    from a parent process are forgotten without closing the parent's connections.
    """
    key_url = _normalise_url(url if url is not None else invoice_db_url())
    pid = os.getpid()
    with _engines_lock:
        for key in [k for k in _engines if k[0] != pid]:
            _engines.pop(key).dispose(close=False)
        engine = _engines.get((pid, key_url))
        if engine is None:
            engine = _engines[(pid, key_url)] = _build_engine(key_url)
        return engine


def dispose_engines() -> None:
    """Close and forget every cached engine (tests, shutdown, or before dropping a database)."""
    pid = os.getpid()
    with _engines_lock:
        for (owner, _url), engine in list(_engines.items()):
            engine.dispose(close=owner == pid)
        _engines.clear()


def create_schema(engine: Engine) -> None:
    """Create missing tables and indexes; existing ones are left untouched.

    Several workers may call this at once. On PostgreSQL an advisory lock serialises them; on
    SQLite the loser of the race gets "already exists", and a second pass sees everything there.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('pooldesk.invoices.schema'))"))
            Base.metadata.create_all(conn)
        return
    try:
        Base.metadata.create_all(engine)
    except (OperationalError, ProgrammingError, IntegrityError):
        Base.metadata.create_all(engine)  # lost a creation race; a real error recurs and raises
