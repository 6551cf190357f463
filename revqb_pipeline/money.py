"""Exact money: ``Decimal`` in models, integer cents in DataFrames and the staging database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
UNIT_PRICE_PLACES = Decimal("0.00001")  # QBO stores UnitPrice to 5 decimals


class MoneyError(ValueError):
    """A value that cannot be read as an exact amount."""


def to_decimal(value: Any) -> Decimal:
    """Read ``value`` (str, int, Decimal, or a JSON float) as a Decimal without binary drift."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc


def quantize(value: Any) -> Decimal:
    """Round to whole cents, half up (the rounding QBO and Rev.io use for totals)."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def to_cents(value: Any) -> int:
    """Exact integer cents; raises MoneyError if ``value`` has fractions of a cent."""
    d = to_decimal(value)
    cents = d * 100
    if cents != cents.to_integral_value():
        raise MoneyError(f"amount {value!r} is not a whole number of cents")
    return int(cents)


def from_cents(cents: int) -> Decimal:
    """Integer cents back to a 2-place Decimal."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def is_whole_cents(value: Any) -> bool:
    try:
        to_cents(value)
    except MoneyError:
        return False
    return True
