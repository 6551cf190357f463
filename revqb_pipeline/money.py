"""Exact money: ``Decimal`` in models, integer cents in DataFrames and the staging database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
UNIT_PRICE_PLACES = Decimal("0.00001")  # QBO stores UnitPrice to 5 decimals
MAX_AMOUNT = Decimal(10**12)  # no amount, quantity or rate of a telecom bill comes near this
MAX_PLACES = 10  # decimal places: rates and quantities have a few, amounts two


class MoneyError(ValueError):
    """A value that cannot be read as an exact amount; ``problem`` is the cause without the value
    (``"is not a number"``, ``"is too large"`` ...), for messages that name the field and value."""

    def __init__(self, message: str, problem: str = "is not a number") -> None:
        super().__init__(message)
        self.problem = problem


def to_decimal(value: Any) -> Decimal:
    """Read ``value`` (str, int, Decimal, or a JSON float) as a Decimal without binary drift.

    Total: anything that is not a finite number below ``MAX_AMOUNT`` with at most ``MAX_PLACES`` decimal
    places (NaN, Infinity, bool, None, text, lists ...) raises ``MoneyError`` naming the value."""
    if isinstance(value, bool) or value is None:
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))
    elif isinstance(value, str) and "_" not in value:
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError(f"not an amount: {value!r}") from None
    else:
        raise MoneyError(f"not an amount: {value!r:.80}")
    if not d.is_finite():
        raise MoneyError(f"not an amount: {value!r}")
    if d.adjusted() >= MAX_AMOUNT.adjusted() + 1 or abs(d) >= MAX_AMOUNT:
        raise MoneyError(f"amount {value!r:.40} is too large", "is too large")
    if d != 0 and d.as_tuple().exponent < -MAX_PLACES and d != d.quantize(Decimal(1).scaleb(-MAX_PLACES)):
        places = f"has more than {MAX_PLACES} decimal places"
        raise MoneyError(f"amount {value!r:.40} {places}", places)
    return d


def quantize(value: Any) -> Decimal:
    """Round to whole cents, half up (the rounding QBO and Rev.io use for totals)."""
    try:
        return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # pragma: no cover - to_decimal bounds the value
        raise MoneyError(f"not an amount: {value!r}") from None


def to_cents(value: Any) -> int:
    """Exact integer cents; raises MoneyError if ``value`` has fractions of a cent."""
    d = to_decimal(value)
    try:
        whole = d.quantize(CENT)
    except InvalidOperation:  # pragma: no cover - to_decimal bounds the value
        raise MoneyError(f"not an amount: {value!r}") from None
    if whole != d:  # an exact comparison (``d * 100`` would round past 28 digits)
        raise MoneyError(f"amount {value!r} is not a whole number of cents", "has a fraction of a cent")
    return int(whole.scaleb(2))


def from_cents(cents: int) -> Decimal:
    """Integer cents back to a 2-place Decimal."""
    return (Decimal(int(cents)) / 100).quantize(CENT)


def is_whole_cents(value: Any) -> bool:
    try:
        to_cents(value)
    except MoneyError:
        return False
    return True


def exact_qty_price(quantity: Any, rate: Any, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(Qty, UnitPrice) with ``Qty * UnitPrice == amount`` exactly (QBO error 6070 otherwise), unformatted.

    1. Rev.io's quantity and rate when ``quantity * rate == amount`` and the rate has <= 5 decimals;
    2. else the quantity with ``UnitPrice = amount / quantity`` when that is exact at <= 5 decimals
       (451.50 / 48 = 9.40625);
    3. else ``Qty = 1, UnitPrice = amount``.
    """
    try:
        qty = to_decimal(quantity) if quantity not in (None, "") else None
        rt = to_decimal(rate) if rate not in (None, "") else None
    except MoneyError:
        qty = rt = None
    if qty is not None and qty >= 0:
        if rt is not None and rt == rt.quantize(UNIT_PRICE_PLACES) and qty * rt == amount:
            return qty, rt
        if qty > 0:
            unit = (amount / qty).quantize(UNIT_PRICE_PLACES, rounding=ROUND_HALF_UP)
            if unit * qty == amount:
                return qty, unit
    return Decimal(1), amount


def dollars(amount: Decimal | int) -> str:
    """``Decimal("-1234.5")`` -> ``-$1,234.50``: exact, two places (more if the amount has them)."""
    d = Decimal(amount)
    places = max(2, -int(d.as_tuple().exponent)) if d.is_finite() else 2
    text = f"{abs(d):,.{places}f}"
    return f"-${text}" if d < 0 else f"${text}"


def cents_to_dollars(cents: int) -> str:
    """Integer cents as ``$1,234.56``."""
    return dollars(Decimal(int(cents)).scaleb(-2))
