"""Exact decimal text -> integers, vectorized (numpy), for the pandera checks of ``schemas.py``.

``parse_decimals(values)`` reads a column of decimal text (``"451.50"``, ``"9.40625"``, ``"-2"``) into an
int64 mantissa and a number of decimal places (trailing zeros dropped: ``"4.000"`` -> 4, 0 places), so the
checks compare integers instead of building a ``Decimal`` per cell. Plain decimal text (optional sign, digits,
at most one point, at most 18 digits, up to ``_WIDTH`` characters) is parsed by array operations in chunks;
anything else (exponents, whitespace, non-text values, longer numbers) goes through ``money.to_decimal``
one by one, so the result always agrees with ``Decimal``: a value ``to_decimal`` rejects is not ``ok``.
Those rows are rare (none in payloads built by revqb), so the per-row path costs nothing in practice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import index, itemgetter
from typing import Any

import numpy as np
import pandas as pd

from revqb_pipeline.money import MoneyError, to_decimal

_WIDTH = 24  # characters parsed by the array path; longer text takes the exact path
_MAX_DIGITS = 18  # an int64 holds any 18-digit mantissa
_MAX_PLACES = 10  # money.MAX_PLACES
_MAX_INT_DIGITS = 12  # money.MAX_AMOUNT = 10**12
_CHUNK = 1 << 16
_POW10 = np.array([10**i for i in range(_MAX_DIGITS + 1)], dtype=np.int64)
_DOT, _ZERO, _NINE, _MINUS, _PLUS = (ord(c) for c in ".09-+")

try:  # pandas' object hash table (pandas 1.x and 2.x); pd.factorize is the fallback
    from pandas._libs.hashtable import PyObjectHashTable as _OBJECT_TABLE
except ImportError:  # pragma: no cover
    _OBJECT_TABLE = None


@dataclass(frozen=True)
class Parsed:
    """``value == mantissa * 10**-places`` where ``ok``; ``big`` rows have a mantissa beyond int64 (exact in
    ``exact``, a ``Decimal``, only for those rows)."""

    mantissa: np.ndarray
    places: np.ndarray
    ok: np.ndarray
    big: dict[int, Decimal]

    def at_most(self, places: int) -> np.ndarray:
        """Readable with at most ``places`` decimal places (trailing zeros do not count)."""
        return self.ok & (self.places <= places)

    def scaled(self, places: int) -> np.ndarray:
        """``value * 10**places`` as int64 where ``at_most(places)`` and not big (0 elsewhere)."""
        shift = np.clip(places - self.places, 0, _MAX_DIGITS)
        usable = self.at_most(places) & (self.digits() + shift <= _MAX_DIGITS)
        usable[list(self.big)] = False
        return np.where(usable, self.mantissa * _POW10[np.where(usable, shift, 0)], 0)

    def digits(self) -> np.ndarray:
        """Digits of ``|mantissa|`` (0 has one)."""
        return np.searchsorted(_POW10, np.abs(self.mantissa), side="right").clip(1)


def _exact(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or (isinstance(value, float) and value != value):
        return None
    try:
        d = to_decimal(value)
    except MoneyError:
        return None
    return d if d.is_finite() else None


def _chunk(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mantissa, places, simple) of fixed-width text rows; ``simple`` is False where the array path cannot
    decide (the caller re-reads those rows exactly)."""
    ch = texts.astype(f"U{_WIDTH}").view(np.uint32).reshape(len(texts), _WIDTH).astype(np.int64)
    is_digit = (ch >= _ZERO) & (ch <= _NINE)
    is_dot = ch == _DOT
    signed = (ch[:, 0] == _MINUS) | (ch[:, 0] == _PLUS)
    used = ch != 0
    allowed = is_digit | is_dot
    allowed[:, 0] |= signed
    n_digits = is_digit.sum(axis=1)
    simple = ~(used & ~allowed).any(axis=1)  # nothing else in the text
    simple &= (is_dot.sum(axis=1) <= 1) & (n_digits >= 1) & (n_digits <= _MAX_DIGITS)
    # digit weights: 10 ** (digits to the right of each digit)
    right = np.cumsum(is_digit[:, ::-1], axis=1)[:, ::-1] - 1
    weights = _POW10[np.clip(right, 0, _MAX_DIGITS)]
    mantissa = np.where(is_digit, (ch - _ZERO) * weights, 0).sum(axis=1)
    after_dot = np.cumsum(is_dot, axis=1) > 0
    places = (is_digit & after_dot).sum(axis=1)
    mantissa = np.where(ch[:, 0] == _MINUS, -mantissa, mantissa)
    return mantissa, places, simple


def parse_decimals(values: pd.Series | np.ndarray | list[Any]) -> Parsed:
    """Parse a column of decimal text exactly (see the module docstring)."""
    arr = np.asarray(values, dtype=object)
    n = len(arr)
    mantissa = np.zeros(n, dtype=np.int64)
    places = np.zeros(n, dtype=np.int64)
    simple = np.zeros(n, dtype=bool)
    if pd.api.types.infer_dtype(arr, skipna=False) == "string":
        is_text = np.ones(n, dtype=bool)
    else:
        is_text = np.fromiter((type(v) is str for v in arr), dtype=bool, count=n)
    lengths = np.fromiter((len(v) if t else 0 for v, t in zip(arr, is_text, strict=True)), int, count=n)
    fits = is_text & (lengths > 0) & (lengths < _WIDTH)
    idx = np.flatnonzero(fits)
    for start in range(0, len(idx), _CHUNK):
        rows = idx[start : start + _CHUNK]
        m, p, s = _chunk(arr[rows])
        mantissa[rows], places[rows], simple[rows] = m, p, s
    # trailing zeros of the fraction do not count as places
    for _ in range(_MAX_DIGITS):
        strip = simple & (places > 0) & (mantissa % 10 == 0)
        if not strip.any():
            break
        mantissa[strip] //= 10
        places[strip] -= 1
    int_digits = np.searchsorted(_POW10, np.abs(mantissa), side="right") - places
    ok = simple & (places <= _MAX_PLACES) & (int_digits <= _MAX_INT_DIGITS)
    big: dict[int, Decimal] = {}
    for i in np.flatnonzero(~simple):
        d = _exact(arr[i])
        if d is None:
            continue
        sign, digits, exp = d.normalize().as_tuple() if d else (0, (0,), 0)
        assert isinstance(exp, int)
        m = int("".join(map(str, digits))) * (-1 if sign else 1)
        p = max(-exp, 0)
        m *= 10 ** max(exp, 0)
        ok[i] = True
        places[i] = p
        if abs(m) < 10**_MAX_DIGITS:
            mantissa[i] = m
        else:
            big[int(i)] = d
    return Parsed(mantissa, places, ok, big)


def factorize_objects(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values) of an object column in one hashing pass; None and NaN get code -1.

    pandas' own object hash table: ``pd.factorize`` on an object column adds a separate null-mask pass,
    which costs as much as the hashing on a column of a million distinct ``str`` objects."""
    if _OBJECT_TABLE is None:  # pragma: no cover - pandas without the table (not a supported version)
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)
    uniques, codes = _OBJECT_TABLE(min(max(len(values), 1), 1 << 10)).factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def _is_missing(values: np.ndarray) -> np.ndarray:
    """None, NaN or empty text, per value."""
    return np.fromiter(
        (v is None or v == "" or (isinstance(v, float) and v != v) for v in values), bool, count=len(values)
    )


def parse_column(values: pd.Series | np.ndarray | pd.Categorical) -> tuple[Parsed, np.ndarray]:
    """(``parse_decimals`` of a column, missing mask: None, NaN or ""), parsing each distinct value once
    (quantities and rates repeat a lot).

    The column is hashed once (``factorize_objects``); when every distinct value is text the distinct
    values are parsed and taken back per row. Otherwise the column is parsed row by row, since hashing
    merges values that parse differently (``True == 1``). A ``pd.Categorical`` of text (``text_column``) is
    already hashed: its categories are parsed and taken back by its codes."""
    if isinstance(values, pd.Categorical):
        codes = np.asarray(values.codes, dtype=np.int64)
        uniques = np.asarray(values.categories, dtype=object)
        if not all(type(v) is str for v in uniques):
            arr = np.asarray(values, dtype=object)
            return parse_decimals(arr), _is_missing(arr)
        return _parsed_by_codes(codes, uniques)
    arr = np.asarray(values, dtype=object)
    codes, uniques = factorize_objects(arr)
    if not all(type(v) is str for v in uniques):
        return parse_decimals(arr), _is_missing(arr)
    return _parsed_by_codes(codes, uniques)


def _parsed_by_codes(codes: np.ndarray, uniques: np.ndarray) -> tuple[Parsed, np.ndarray]:
    """``parse_column`` of the text values ``uniques[codes]`` (code -1: missing), parsing each distinct one
    once."""
    # one extra slot for the nulls (code -1 reads the last one): missing, not ok
    first = parse_decimals(np.append(uniques, None))
    u_missing = np.append(uniques == "", True)
    big: dict[int, Decimal] = {}
    for u, d in first.big.items():
        big.update(dict.fromkeys(np.flatnonzero(codes == u).tolist(), d))
    parsed = Parsed(first.mantissa[codes], first.places[codes], first.ok[codes], big)
    return parsed, u_missing[codes]


def product_equals_cents(qty: Parsed, price: Parsed, cents: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``qty * price * 100 == cents`` exactly, where both parse and ``known`` (cents not null)."""
    both = qty.ok & price.ok & known
    shift = qty.places + price.places - 2  # value*100 = mq * mp * 10**-shift
    n_digits = qty.digits() + price.digits()
    fast = both & (n_digits + np.clip(-shift, 0, None) <= _MAX_DIGITS) & (shift <= _MAX_DIGITS)
    for big in (qty.big, price.big):
        fast[list(big)] = False
    out = np.zeros(len(cents), dtype=bool)
    lhs = qty.mantissa * price.mantissa  # exact where fast (at most 18 digits)
    up = fast & (shift <= 0)
    out[up] = lhs[up] * _POW10[np.clip(-shift[up], 0, _MAX_DIGITS)] == cents[up]
    down = fast & (shift > 0)
    p = _POW10[np.clip(shift[down], 0, _MAX_DIGITS)]
    out[down] = (lhs[down] % p == 0) & (lhs[down] // p == cents[down])
    for i in np.flatnonzero(both & ~fast):
        q = qty.big.get(int(i), Decimal(int(qty.mantissa[i])).scaleb(-int(qty.places[i])))
        pr = price.big.get(int(i), Decimal(int(price.mantissa[i])).scaleb(-int(price.places[i])))
        out[i] = q * pr * 100 == Decimal(int(cents[i]))
    return out


class TextColumn:
    """A text column built block by block (``add``), hashed as it comes (``factorize_objects`` over each
    block while its fresh strings are still in cache, far cheaper than a later pass over a column of
    scattered objects): ``column()`` is a ``pd.Categorical`` (None and NaN: missing) when every value is
    ``str``, else the objects as given (hashing would merge ``True`` and ``1``)."""

    def __init__(self) -> None:
        self.table: dict[str, int] = {}
        self.parts: list[np.ndarray] = []
        self.raw = False

    def add(self, values: Sequence[Any]) -> None:
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        if not self.raw:
            codes, uniques = factorize_objects(arr)
            if all(type(u) is str for u in uniques):
                table = self.table
                remap = np.array([table.setdefault(u, len(table)) for u in uniques] + [-1], dtype=np.int64)
                self.parts.append(remap[codes])  # code -1 reads the -1 at the end
                return
            keys = np.empty(len(self.table) + 1, dtype=object)
            keys[: len(self.table)] = list(self.table)  # code -1 reads None at the end
            self.parts = [keys[c] for c in self.parts]
            self.raw = True
        self.parts.append(arr)

    def column(self) -> pd.Categorical | np.ndarray:
        if self.raw:
            return np.concatenate(self.parts)
        codes = np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.int64)
        categories = pd.Index(list(self.table), dtype=object)
        return pd.Categorical.from_codes(codes, categories=categories, validate=False)


def text_column(values: Sequence[Any]) -> pd.Categorical | np.ndarray:
    """``values`` as one ``TextColumn`` block."""
    col = TextColumn()
    col.add(values)
    return col.column()


def _int_block(block: Sequence[Sequence[Any]], i: int) -> np.ndarray:
    """Field ``i`` of row tuples: int64 when every value is an integer (``operator.index``: no float or
    text is read as one), else the objects as given."""
    try:
        return np.fromiter(map(index, map(itemgetter(i), block)), np.int64, len(block))
    except (TypeError, ValueError, OverflowError):
        out = np.empty(len(block), dtype=object)
        out[:] = list(map(itemgetter(i), block))
        return out


def tuple_columns(
    blocks: Iterable[Sequence[Sequence[Any]]], names: Sequence[str], ints: Collection[str]
) -> dict[str, np.ndarray | pd.Categorical]:
    """Row tuples (fields ``names``), given block by block, as one column per name: the ``ints`` int64 when
    every value is an integer (else objects), the others ``TextColumn``s. Each block is turned into columns
    while its tuples are fresh in cache."""
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names if n in ints}
    texts = {n: TextColumn() for n in names if n not in ints}
    for block in blocks:
        for i, name in enumerate(names):
            if name in parts:
                parts[name].append(_int_block(block, i))
            else:
                texts[name].add(list(map(itemgetter(i), block)))
    cols: dict[str, np.ndarray | pd.Categorical] = {}
    for name in names:
        if name in texts:
            cols[name] = texts[name].column()
        elif not parts[name]:
            cols[name] = np.zeros(0, dtype=np.int64)
        elif all(a.dtype == np.int64 for a in parts[name]):
            cols[name] = np.concatenate(parts[name])
        else:
            cols[name] = np.concatenate([a.astype(object) for a in parts[name]])
    return cols
