"""Pure billing arithmetic: periods, numbers, rounding, totals. No database, no files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pooldesk.backend.invoices.billing import (
    DEFAULT_VAT_RATE,
    VAT_RATES,
    CustomerInfo,
    Usage,
    compute_invoice,
    format_cents,
    invoice_number,
    issue_date,
    recent_periods,
    shift_period,
    tax_cents,
    validate_period,
)


@pytest.mark.parametrize("period", ["2000-01", "2026-04", "2026-12", "2100-12"])
def test_validate_period_accepts_valid(period: str) -> None:
    assert validate_period(period) == period


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2026-13", "month must be 01-12"),
        ("2026-00", "month must be 01-12"),
        ("1999-12", "year must be 2000-2100"),
        ("2101-01", "year must be 2000-2100"),
        ("2026-1", "must look like 'YYYY-MM'"),
        ("2026/01", "must look like 'YYYY-MM'"),
        (" 2026-01", "must look like 'YYYY-MM'"),
        ("", "must look like 'YYYY-MM'"),
        (202601, "must be a 'YYYY-MM' string"),
    ],
)
def test_validate_period_rejects_invalid(period: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_period(period)  # type: ignore[arg-type]


def test_period_arithmetic() -> None:
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2025-12", 1) == "2026-01"
    assert shift_period("2026-05", -17) == "2024-12"
    assert recent_periods(3, today=date(2026, 1, 15)) == ["2025-10", "2025-11", "2025-12"]
    assert recent_periods(1, today=date(2026, 5, 31)) == ["2026-04"]
    assert issue_date("2026-12") == date(2027, 1, 1)
    with pytest.raises(ValueError, match="count must be an integer >= 1"):
        recent_periods(0)


def test_invoice_number_is_deterministic() -> None:
    assert invoice_number("2026-10", 123) == "INV-2026-10-000123"
    assert invoice_number("2026-10", 1_234_567) == "INV-2026-10-1234567"
    with pytest.raises(ValueError, match="customer_id must be an integer >= 1"):
        invoice_number("2026-10", 0)
    with pytest.raises(ValueError, match="month must be 01-12"):
        invoice_number("2026-13", 1)


@pytest.mark.parametrize(
    ("subtotal", "rate", "expected"),
    [
        (1, Decimal("0.5"), 1),  # 0.5 -> 1: half-up, not banker's rounding (which gives 0)
        (5, Decimal("0.5"), 3),  # 2.5 -> 3
        (250, Decimal("0.19"), 48),  # 47.5 -> 48
        (249, Decimal("0.19"), 47),  # 47.31 -> 47
        (1234567, Decimal("0.081"), 100000),  # 99999.927 -> 100000
        (0, Decimal("0.25"), 0),
    ],
)
def test_tax_rounds_half_up(subtotal: int, rate: Decimal, expected: int) -> None:
    assert tax_cents(subtotal, rate) == expected


def test_compute_invoice_example() -> None:
    customer = CustomerInfo(7, "Acme GmbH", "DE", "b@acme.example")
    usage = [
        Usage("compute", "vCPU hours", 100, 4),
        Usage("storage", "GB-month", 3, 333),
        Usage("compute", "vCPU hours", 50, 4),  # merged with the first line
        Usage("compute", "vCPU hours", 1, 5),  # different price: its own line
    ]
    inv = compute_invoice(customer, usage, "2026-03")
    assert inv.number == "INV-2026-03-000007"
    assert [(line.sku, line.quantity, line.amount_cents) for line in inv.lines] == [
        ("compute", 150, 600),
        ("storage", 3, 999),
        ("compute", 1, 5),
    ]
    assert inv.subtotal_cents == 1604
    assert inv.tax_cents == 305  # 1604 * 0.19 = 304.76
    assert inv.total_cents == 1909
    assert inv.currency == "EUR"
    assert inv.issued == date(2026, 4, 1)


def test_unknown_country_uses_default_rate_and_empty_usage_gives_zero_invoice() -> None:
    inv = compute_invoice(CustomerInfo(1, "X", "ZZ", "x@x"), [], "2026-03")
    assert inv.tax_rate == DEFAULT_VAT_RATE
    assert (inv.subtotal_cents, inv.tax_cents, inv.total_cents, inv.lines) == (0, 0, 0, ())


def test_negative_usage_is_rejected() -> None:
    with pytest.raises(ValueError, match="not billable"):
        compute_invoice(CustomerInfo(1, "X", "DE", "x@x"), [Usage("a", "b", -1, 10)], "2026-03")


def test_format_cents() -> None:
    assert format_cents(123456) == "1,234.56"
    assert format_cents(5, "EUR") == "0.05 EUR"
    assert format_cents(-101) == "-1.01"


usage_strategy = st.builds(
    Usage,
    sku=st.sampled_from(["compute", "storage", "egress", "seats"]),
    description=st.sampled_from(["eu", "us"]),
    quantity=st.integers(min_value=0, max_value=10**7),
    unit_price_cents=st.integers(min_value=0, max_value=10**6),
)


@given(
    usage=st.lists(usage_strategy, max_size=40),
    country=st.sampled_from([*sorted(VAT_RATES), "ZZ", "no"]),
    customer_id=st.integers(min_value=1, max_value=10**9),
)
def test_totals_property(usage: list[Usage], country: str, customer_id: int) -> None:
    inv = compute_invoice(CustomerInfo(customer_id, "C", country, "c@c"), usage, "2026-10")
    for value in (inv.subtotal_cents, inv.tax_cents, inv.total_cents):
        assert type(value) is int
        assert value >= 0
    assert inv.total_cents == inv.subtotal_cents + inv.tax_cents
    assert inv.subtotal_cents == sum(u.quantity * u.unit_price_cents for u in usage)
    assert sum(line.amount_cents for line in inv.lines) == inv.subtotal_cents
    exact = Fraction(inv.subtotal_cents) * Fraction(inv.tax_rate)
    # Half-up to the nearest cent: within half a cent, and an exact half goes up.
    assert exact - Fraction(1, 2) < inv.tax_cents <= exact + Fraction(1, 2)
