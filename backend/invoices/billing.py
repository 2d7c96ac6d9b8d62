"""Pure invoice arithmetic: no database, no files, so it is exhaustively testable.

Amounts are integer cents; the only non-integer step (tax = subtotal x rate) is done in
``Decimal`` and rounded once, half-up, to a whole cent, because that is how a customer checks
an invoice by hand. Rounding per line and then summing would drift from that by a cent or two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

MIN_YEAR = 2000
MAX_YEAR = 2100
_PERIOD_RE = re.compile(r"(\d{4})-(\d{2})")

# Standard VAT rates (a small, deliberately incomplete table: this is a demo workload).
VAT_RATES: dict[str, Decimal] = {
    "AT": Decimal("0.20"),
    "BE": Decimal("0.21"),
    "CH": Decimal("0.081"),
    "DE": Decimal("0.19"),
    "DK": Decimal("0.25"),
    "ES": Decimal("0.21"),
    "FR": Decimal("0.20"),
    "GB": Decimal("0.20"),
    "IE": Decimal("0.23"),
    "IT": Decimal("0.22"),
    "NL": Decimal("0.21"),
    "PL": Decimal("0.23"),
    "SE": Decimal("0.25"),
    "US": Decimal("0"),  # sales tax is the customer's business (reverse-charge style)
}
DEFAULT_VAT_RATE = Decimal("0.20")

CURRENCIES: dict[str, str] = {
    "CH": "CHF",
    "DK": "DKK",
    "GB": "GBP",
    "PL": "PLN",
    "SE": "SEK",
    "US": "USD",
}
DEFAULT_CURRENCY = "EUR"


def validate_period(period: str) -> str:
    """Return ``period`` if it is ``'YYYY-MM'`` (month 01-12, year 2000-2100), else ValueError.

    Checked at every entry point because a typo like ``'2026-13'`` would otherwise bill nobody
    and silently report success.
    """
    if not isinstance(period, str):
        raise ValueError(f"period must be a 'YYYY-MM' string, got {type(period).__name__}")
    match = _PERIOD_RE.fullmatch(period)
    if match is None:
        raise ValueError(f"period must look like 'YYYY-MM' (e.g. '2026-04'), got {period!r}")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12:
        raise ValueError(f"period {period!r}: month must be 01-12, got {month:02d}")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"period {period!r}: year must be {MIN_YEAR}-{MAX_YEAR}, got {year}")
    return period


def shift_period(period: str, months: int) -> str:
    """``period`` moved by ``months`` (negative goes back), e.g. ('2026-01', -1) -> '2025-12'."""
    year, month = (int(part) for part in validate_period(period).split("-"))
    index = year * 12 + (month - 1) + months
    return validate_period(f"{index // 12:04d}-{index % 12 + 1:02d}")


def recent_periods(count: int = 3, today: date | None = None) -> list[str]:
    """The ``count`` full calendar months before ``today``'s month, oldest first.

    The reference is the first day of the current month, so the answer is stable for a whole
    month: on any day of May 2026 this returns ['2026-02', '2026-03', '2026-04'].
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    ref = today or date.today()
    current = f"{ref.year:04d}-{ref.month:02d}"
    return [shift_period(current, -back) for back in range(count, 0, -1)]


def issue_date(period: str) -> date:
    """The invoice date: the first day after the period, so re-rendering gives the same PDF."""
    year, month = (int(part) for part in shift_period(period, 1).split("-"))
    return date(year, month, 1)


def invoice_number(period: str, customer_id: int) -> str:
    """Deterministic number, e.g. ``INV-2026-10-000123``: a rerun issues the same number."""
    validate_period(period)
    if isinstance(customer_id, bool) or not isinstance(customer_id, int) or customer_id < 1:
        raise ValueError(f"customer_id must be an integer >= 1, got {customer_id!r}")
    return f"INV-{period}-{customer_id:06d}"


def vat_rate(country: str) -> Decimal:
    return VAT_RATES.get(country.upper(), DEFAULT_VAT_RATE)


def currency_for(country: str) -> str:
    return CURRENCIES.get(country.upper(), DEFAULT_CURRENCY)


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What billing needs of a customer (decoupled from the ORM row)."""

    id: int
    name: str
    country: str
    email: str


@dataclass(frozen=True, slots=True)
class Usage:
    """One usage record: ``quantity`` whole units at ``unit_price_cents`` each."""

    sku: str
    description: str
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    sku: str
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int


@dataclass(frozen=True, slots=True)
class ComputedInvoice:
    """A fully priced invoice, ready to render and store."""

    number: str
    period: str
    issued: date
    customer: CustomerInfo
    currency: str
    tax_rate: Decimal
    lines: tuple[InvoiceLine, ...]
    subtotal_cents: int
    tax_cents: int
    total_cents: int


def tax_cents(subtotal_cents: int, rate: Decimal) -> int:
    """Tax on a subtotal, rounded half-up to a whole cent."""
    return int((Decimal(subtotal_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _merge_lines(usage: Iterable[Usage]) -> tuple[InvoiceLine, ...]:
    """One invoice line per (sku, description, unit price), in first-seen order, so a customer
    sees "Compute (eu-west) 730 h" rather than thirty hourly fragments."""
    totals: dict[tuple[str, str, int], int] = {}
    for item in usage:
        if isinstance(item.quantity, bool) or not isinstance(item.quantity, int):
            raise ValueError(f"{item.sku}: quantity must be an integer, got {item.quantity!r}")
        if not isinstance(item.unit_price_cents, int) or isinstance(item.unit_price_cents, bool):
            raise ValueError(f"{item.sku}: unit price must be integer cents")
        if item.quantity < 0 or item.unit_price_cents < 0:
            raise ValueError(
                f"{item.sku}: negative quantity ({item.quantity}) or unit price "
                f"({item.unit_price_cents}) is not billable; credits need a credit note"
            )
        key = (item.sku, item.description, item.unit_price_cents)
        totals[key] = totals.get(key, 0) + item.quantity
    return tuple(
        InvoiceLine(sku, description, quantity, price, quantity * price)
        for (sku, description, price), quantity in totals.items()
    )


def compute_invoice(customer: CustomerInfo, usage: Iterable[Usage], period: str) -> ComputedInvoice:
    """Price ``usage`` for ``customer`` in ``period``. No usage gives a zero invoice, so every
    customer gets exactly one invoice per period and "billed or not" is never ambiguous."""
    validate_period(period)
    lines = _merge_lines(usage)
    subtotal = sum(line.amount_cents for line in lines)
    rate = vat_rate(customer.country)
    tax = tax_cents(subtotal, rate)
    return ComputedInvoice(
        number=invoice_number(period, customer.id),
        period=period,
        issued=issue_date(period),
        customer=customer,
        currency=currency_for(customer.country),
        tax_rate=rate,
        lines=lines,
        subtotal_cents=subtotal,
        tax_cents=tax,
        total_cents=subtotal + tax,
    )


def format_cents(cents: int, currency: str | None = None) -> str:
    """``123456`` -> ``'1,234.56'`` (with `` EUR`` appended when a currency is given)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    text = f"{sign}{whole:,}.{frac:02d}"
    return f"{text} {currency}" if currency else text
