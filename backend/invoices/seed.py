"""Deterministic, idempotent demo data: customers 1..N with metered usage per period.

Every value is drawn from a ``random.Random`` seeded with ``(seed, customer id[, period])``,
not from one shared stream, so customer 17 looks the same whether you seed 20 or 6,000
customers, and growing N only appends. Idempotency is by key: customers are ids 1..N, and a
(customer, period) that already has usage lines is left alone. Running ``seed`` twice with the
same arguments therefore writes nothing the second time.

Everything is inserted with executemany in one transaction: 6,000 customers x 3 periods
(~270,000 usage lines) take a few seconds on SQLite, and a crash leaves no half-seeded state.
Two seeders racing on the same database are not supported (the loser fails on the primary key).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, insert, select

from pooldesk.backend.invoices.billing import recent_periods, validate_period
from pooldesk.backend.invoices.db import Customer, UsageLine, create_schema

MIN_LINES = 5
MAX_LINES = 25
_ID_BATCH = 10_000  # ids per "which exist?" query (well under SQLite's bound-parameter limit)

# (sku, description, unit price in cents, min quantity, max quantity)
CATALOGUE: tuple[tuple[str, str, int, int, int], ...] = (
    ("compute.vcpu-hour", "Compute, vCPU hours", 4, 50, 5_000),
    ("compute.gpu-hour", "GPU instance hours", 249, 1, 400),
    ("storage.gb-month", "Block storage, GB-month", 10, 10, 20_000),
    ("storage.object-gb", "Object storage, GB-month", 2, 100, 50_000),
    ("network.egress-gb", "Bandwidth, egress GB", 9, 1, 10_000),
    ("network.lb-hour", "Load balancer hours", 3, 24, 744),
    ("network.static-ip", "Static IPv4 address", 350, 1, 8),
    ("db.managed-hour", "Managed PostgreSQL hours", 17, 24, 744),
    ("backup.tb-month", "Backup storage, TB-month", 2_300, 1, 20),
    ("support.business", "Support plan, Business", 10_000, 1, 1),
    ("seats.user", "Console seats", 1_200, 1, 60),
    ("dns.zone", "DNS hosted zone", 50, 1, 30),
)
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south")
COUNTRIES = ("DE", "FR", "NL", "GB", "US", "IE", "ES", "IT", "SE", "PL", "CH", "AT", "BE", "NO")
_NAME_A = ("Acme", "Blue", "Nordic", "Vertex", "Helix", "Orbit", "Granite", "Lumen", "Cobalt")
_NAME_B = ("Logistics", "Analytics", "Foods", "Robotics", "Media", "Health", "Energy", "Labs")
_SUFFIX = {"DE": "GmbH", "AT": "GmbH", "FR": "SAS", "NL": "B.V.", "GB": "Ltd", "US": "Inc."}
_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What a seeding run changed (zeros on a rerun); ``customers_total`` counts the table."""

    customers_created: int
    usage_lines_created: int
    customers_total: int
    periods: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _customer_row(seed: int, customer_id: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:customer:{customer_id}")
    country = rng.choice(COUNTRIES)
    name = f"{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {_SUFFIX.get(country, 'Ltd')}"
    slug = name.split()[0].lower()
    return {
        "id": customer_id,
        "name": f"{name} #{customer_id}",
        "country": country,
        "email": f"billing+{customer_id}@{slug}.example.com",
        "created": _EPOCH + timedelta(days=rng.randrange(0, 5 * 365)),
    }


def _usage_rows(seed: int, customer_id: int, period: str) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed}:usage:{customer_id}:{period}")
    rows = []
    for _ in range(rng.randint(MIN_LINES, MAX_LINES)):
        sku, description, price, low, high = rng.choice(CATALOGUE)
        rows.append(
            {
                "customer_id": customer_id,
                "period": period,
                "sku": sku,
                "description": f"{description} ({rng.choice(REGIONS)})",
                "quantity": rng.randint(low, high),
                "unit_price_cents": price,
            }
        )
    return rows


MAX_CUSTOMERS = 1_000_000


def seed(
    engine: Engine, customers: int, seed: int = 42, periods: list[str] | None = None
) -> SeedResult:
    """Ensure customers 1..``customers`` exist with usage for every period in ``periods``.

    ``periods`` defaults to :func:`~pooldesk.backend.invoices.billing.recent_periods` (the three
    full calendar months before the current one), so a default seed always has something to bill.
    Arguments are validated before anything is written; the schema is created if missing.
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be an integer >= 1, got {customers!r}")
    if customers > MAX_CUSTOMERS:
        raise ValueError(
            f"customers {customers:,}: the demo seeds at most {MAX_CUSTOMERS:,} (its rows are "
            "built in memory: 100,000,000 reached 1 GB RSS in 20 s)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    wanted_periods = list(recent_periods() if periods is None else periods)
    if not wanted_periods:
        raise ValueError("periods must name at least one 'YYYY-MM' period")
    for period in wanted_periods:
        validate_period(period)
    wanted_periods = sorted(set(wanted_periods))

    create_schema(engine)
    with engine.begin() as conn:
        existing: set[int] = set()
        have_usage: set[tuple[int, str]] = set()
        for low in range(1, customers + 1, _ID_BATCH):
            high = min(low + _ID_BATCH - 1, customers)
            existing.update(conn.scalars(select(Customer.id).where(Customer.id.between(low, high))))
            have_usage.update(
                (cid, period)
                for cid, period in conn.execute(
                    select(UsageLine.customer_id, UsageLine.period)
                    .where(UsageLine.customer_id.between(low, high))
                    .where(UsageLine.period.in_(wanted_periods))
                    .distinct()
                )
            )
        new_customers = [
            _customer_row(seed, cid) for cid in range(1, customers + 1) if cid not in existing
        ]
        new_usage = [
            row
            for cid in range(1, customers + 1)
            for period in wanted_periods
            if (cid, period) not in have_usage
            for row in _usage_rows(seed, cid, period)
        ]
        if new_customers:
            conn.execute(insert(Customer), new_customers)
        if new_usage:
            conn.execute(insert(UsageLine), new_usage)
        total = conn.scalar(select(func.count()).select_from(Customer)) or 0
    return SeedResult(len(new_customers), len(new_usage), total, wanted_periods)
