"""Columnar invoice lines (pure, no I/O): staged bills and charges -> every invoice line as integer
columns, checked by the ``invoice_lines_valid`` rules as vectorized pandera checks.

``invoice_frames`` maps the staged charges of the billed bills the way ``invoice_payload``
(entities/invoices/mapping.py) builds each bill's Invoice, but column-wise:

* item rule: ``cfg.item_for_charge`` once per distinct (product id, product type id, type code, kind);
* Qty / UnitPrice: ``line_qty_price``'s three rules over integer columns (quantities and rates are parsed
  once per distinct text by ``_numeric.parse_column``; rows the int64 path cannot decide exactly, e.g.
  exponent text or 19+ digits, take the same rules in ``Decimal``);
* tax lines (``taxes.mode: lines``): ``cfg.tax_rule_for`` once per distinct (tax class, geocode), one line
  per rule per bill (the bill's charge taxes of that rule summed), after the charge lines, in rule order.

Every number is an integer: ``amount_cents``, ``unit_price_e5`` (UnitPrice x 10^5; a UnitPrice has at most
5 places), ``qty_mantissa`` / ``qty_places`` (Qty = mantissa x 10^-places, trailing zeros dropped, as
posted). So "whole cents" and "UnitPrice has at most 5 places" hold by the column types (int64, checked),
and the other rules are integer comparisons: no per-cell ``Decimal``. ``line_kind`` is ``tax`` when the
line's item is one of the mapping's tax items (as ``mapped_lines_frame`` reads a payload), so revenue
booked on a tax item still breaks the tax total.

``frame_check_failures`` returns the failure table of ``checks.invoice_check_failures`` (``schema``,
``bill_id``, ``column``, ``check``, ``failure_case``, ``index``); a line's row text names its bill, line
number and charge. That the frame's lines are the posted payload's lines is a property test
(revqb_pipeline_tests/mapping/test_frames.py: equal to ``invoice_payload``'s lines, to the cent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from revqb_pipeline.mapping._numeric import Parsed, parse_column, tuple_columns
from revqb_pipeline.mapping.config import LIABILITY_TYPES, MappingConfig
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.schemas import BillTotals
from revqb_pipeline.money import CENT, exact_qty_price, from_cents

Row = Mapping[str, Any]
DOC_NUMBER_MAX = 21
QTY_UNREADABLE = -1  # qty_places of a line whose Qty does not fit the int64 columns (19+ digits)
_MAX_DIGITS = 18
_MAX_PLACES = 10  # money.MAX_PLACES
_POW10 = np.array([10**i for i in range(_MAX_DIGITS + 1)], dtype=np.int64)
_CENTS_LIMIT = np.array([(2**63 - 1) // 10 ** (p + 3) for p in range(_MAX_PLACES + 1)], dtype=np.int64)
_FACTOR_LIMIT = 2**31  # two factors below it multiply within an int64
_ITEM_KEYS = ("product_id", "product_type_id", "product_type_code", "charge_kind")
FAILURE_COLUMNS = ["schema", "bill_id", "column", "check", "failure_case", "index"]


# ----- schemas ------------------------------------------------------------------------------------------


class StagedCharges(pa.DataFrameModel):
    """The billed bills' staged charges (``charges_frame``): ``charge_id`` unique; no negative product
    amount; ``amount_cents = product_amount_cents + tax_amount_cents``; ``quantity`` a non-negative
    decimal."""

    charge_id: Series[int] = pa.Field(unique=True)
    bill_id: Series[int]
    product_amount_cents: Series[int] = pa.Field(ge=0)
    tax_amount_cents: Series[int]
    amount_cents: Series[int]
    cents_known: Series[bool]
    quantity_ok: Series[bool]

    @pa.dataframe_check(ignore_na=False, error="amount_cents != product_amount_cents + tax_amount_cents")
    def amount_is_product_plus_tax(cls, df: pd.DataFrame) -> Series[bool]:
        return df["cents_known"] & (df["amount_cents"] == df["product_amount_cents"] + df["tax_amount_cents"])

    @pa.dataframe_check(ignore_na=False, error="quantity is not a non-negative decimal number")
    def quantity_non_negative(cls, df: pd.DataFrame) -> Series[bool]:
        return df["quantity_ok"]

    class Config:
        coerce = False
        strict = False


class MappedLineFrame(pa.DataFrameModel):
    """One row per invoice line (``lines_frame``). Integer columns (so whole cents and <= 5 UnitPrice places
    by type); every line's item is an item of the mapping file; a tax line's item posts to a liability
    account; no negative amount or quantity; Qty x UnitPrice = Amount exactly (QBO error 6070)."""

    bill_id: Series[int]
    line_num: Series[int] = pa.Field(ge=1)
    amount_cents: Series[int]
    qty_mantissa: Series[int]
    qty_places: Series[int]
    unit_price_e5: Series[int]
    is_tax: Series[bool]
    posting_is_liability: Series[bool]

    @pa.dataframe_check(ignore_na=False, error="line item is not an item of the mapping file")
    def every_line_maps_to_an_item(cls, df: pd.DataFrame) -> Series[bool]:
        return df["item_name"].notna()

    @pa.dataframe_check(ignore_na=False, error="tax line's item does not post to a liability account")
    def tax_lines_post_to_liability(cls, df: pd.DataFrame) -> Series[bool]:
        return ~df["is_tax"] | df["posting_is_liability"]

    @pa.dataframe_check(ignore_na=False, error="amount is negative (negative lines go to credit memos)")
    def amount_non_negative(cls, df: pd.DataFrame) -> Series[bool]:
        return df["amount_cents"] >= 0

    @pa.dataframe_check(
        ignore_na=False, error="qty is not a non-negative decimal (negative lines go to credit memos)"
    )
    def qty_non_negative(cls, df: pd.DataFrame) -> Series[bool]:
        return df["qty_mantissa"] >= 0

    @pa.dataframe_check(ignore_na=False, error="qty has more than 18 digits (cannot be checked exactly)")
    def qty_readable(cls, df: pd.DataFrame) -> Series[bool]:
        return df["qty_places"] != QTY_UNREADABLE

    @pa.dataframe_check(ignore_na=False, error="qty * unit_price != amount (QBO error 6070)")
    def qty_times_price_is_amount(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(qty_price_matches(df), index=df.index)

    class Config:
        coerce = False
        strict = False


class StagedBillTotals(BillTotals):
    """``BillTotals`` (lines tie to the bill total, tax lines to the charges' tax) plus the DocNumber
    length."""

    doc_number_chars: Series[int] = pa.Field(ge=1, le=DOC_NUMBER_MAX)


def _scaled_cents(cents: np.ndarray, places: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(``cents * 10**(places + 3)``, fits): Amount x 10^(places + 5), the right side of
    ``Qty x UnitPrice = Amount`` in units of 10^-(places + 5), where it fits an int64."""
    p = np.clip(places, 0, _MAX_PLACES)
    fits = (places >= 0) & (places <= _MAX_PLACES) & (np.abs(cents) <= _CENTS_LIMIT[p])
    return np.where(fits, cents, 0) * _POW10[p + 3], fits


def _times_equals(
    qty_m: np.ndarray, price_e5: np.ndarray, scaled: np.ndarray, fits: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(``qty_m * price_e5 == scaled``, decided): exact int64 where both factors are below 2^31."""
    fast = fits & (np.abs(qty_m) < _FACTOR_LIMIT) & (np.abs(price_e5) < _FACTOR_LIMIT)
    return fast & (qty_m * price_e5 == scaled), fast


def qty_price_matches(df: pd.DataFrame) -> np.ndarray:
    """``Qty x UnitPrice == Amount`` per line, exactly (int64 where it fits, Python ints for the rest)."""
    qty_m = df["qty_mantissa"].to_numpy(dtype=np.int64)
    places = df["qty_places"].to_numpy(dtype=np.int64)
    e5 = df["unit_price_e5"].to_numpy(dtype=np.int64)
    cents = df["amount_cents"].to_numpy(dtype=np.int64)
    scaled, fits = _scaled_cents(cents, places)
    equal, decided = _times_equals(qty_m, e5, scaled, fits)
    for i in np.flatnonzero(~decided & (places >= 0)).tolist():
        equal[i] = int(qty_m[i]) * int(e5[i]) == int(cents[i]) * 10 ** (int(places[i]) + 3)
    return equal


# ----- frames -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceFrames:
    """The three frames the checks validate: staged charges, invoice lines, per-bill totals."""

    charges: pd.DataFrame
    lines: pd.DataFrame
    totals: pd.DataFrame


#: Integer columns of a staged charge the checks read (int64 when every value is an integer).
CHARGE_INT_COLUMNS = (
    "charge_id",
    "bill_id",
    "product_amount_cents",
    "tax_amount_cents",
    "amount_cents",
    "product_id",
    "product_type_id",
    "tax_class_id",
)
_OBJECT_COLUMNS = ("quantity", "rate", "product_type_code", "charge_kind", "geocode")


ROW_BLOCK = 1 << 16  # rows per block: each block's tuples are turned into columns while in cache


def charge_rows_frame(rows: Sequence[Row]) -> pd.DataFrame:
    """The columns the checks read, from staged charge rows (mappings): one ``itemgetter`` per row takes
    all the keys at once (each dict is visited once), then each block of tuples becomes columns
    (``_numeric.tuple_columns``: integers int64 when they all are, text ``pd.Categorical``).

    A key the first row lacks is read with ``dict.get`` (None where missing); a column no row has is
    left out (the checks read it as all null, as from a DataFrame without it)."""
    keys = (*CHARGE_INT_COLUMNS, *_OBJECT_COLUMNS)
    first = rows[0] if len(rows) else {}
    names = [k for k in keys if k in first]
    names += [k for k in keys if k not in first and any(k in r for r in rows)]
    getter: Any = itemgetter(*names) if len(names) > 1 else (lambda r: (r[names[0]],))
    try:
        tuples = list(map(getter, rows)) if names else []
    except KeyError:
        tuples = [tuple(r.get(k) for k in names) for r in rows]
    blocks = (tuples[i : i + ROW_BLOCK] for i in range(0, len(tuples), ROW_BLOCK))
    return pd.DataFrame(tuple_columns(blocks, names, CHARGE_INT_COLUMNS), copy=False)


def _ints(df: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, 0 for nulls; not-null mask) of an integer column."""
    if col not in df:
        return np.zeros(len(df), dtype=np.int64), np.zeros(len(df), dtype=bool)
    s = df[col]
    if s.dtype == np.int64:
        return s.to_numpy(), np.ones(len(s), dtype=bool)
    num = pd.to_numeric(s, errors="coerce")
    known = num.notna().to_numpy(dtype=bool)
    return num.fillna(0).to_numpy(dtype=np.int64), known


def _plain_value(value: Any) -> Any:
    """A frame cell as ``invoice_payload`` reads it from the staged row (NaN -> None, 10.0 -> 10)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _distinct(
    columns: Mapping[str, np.ndarray | pd.Categorical], n: int
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(code per row, one row dict per distinct combination of the columns' values), over ``n`` rows."""
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for values in columns.values():
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        size *= len(uniques) + 1
        key = key * (len(uniques) + 1) + (codes + 1)
        if size > 2**40:  # dense again, so the next column cannot overflow
            key, dense = pd.factorize(key)
            size = len(dense)
    codes, uniques = pd.factorize(key)
    rep = np.zeros(len(uniques), dtype=np.int64)
    rep[codes] = np.arange(n)
    picked = {c: v[rep] for c, v in columns.items()}
    rows = [{c: _plain_value(picked[c][k]) for c in columns} for k in range(len(uniques))]
    return codes.astype(np.int64, copy=False), rows


def _line_qty_price(quantity: Any, rate: Any, cents: int) -> tuple[Decimal, Decimal]:
    """``line_qty_price`` in ``Decimal``, for the rows the integer path cannot decide."""
    return exact_qty_price(quantity, rate, from_cents(cents))


def _digits(values: np.ndarray) -> np.ndarray:
    return np.searchsorted(_POW10, np.abs(values), side="right").clip(1)


def qty_and_price(
    q: Parsed,
    q_missing: np.ndarray,
    rate: np.ndarray | pd.Categorical,
    cents: np.ndarray,
    quantity: np.ndarray | pd.Categorical,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(qty_mantissa, qty_places, unit_price_e5) per charge line (``q``: the parsed ``quantity`` column), by
    ``line_qty_price``'s rules:

    1. Rev.io's quantity and rate when ``quantity * rate == amount`` and the rate has <= 5 places;
    2. else the quantity with ``UnitPrice = amount / quantity`` when that is exact at <= 5 places;
    3. else ``Qty = 1, UnitPrice = amount``.

    Rows the int64 path cannot decide (exponent text, 19+ digits, huge products) take ``Decimal``.
    """
    n = len(cents)
    r, r_missing = parse_column(rate)
    bad = (~q_missing & ~q.ok) | (~r_missing & ~r.ok)  # either unreadable: line_qty_price uses neither
    slow = np.zeros(n, dtype=bool)
    slow[list(q.big)] = True
    slow[list(r.big)] = True
    q_use = ~q_missing & ~bad & ~slow
    scaled, fits = _scaled_cents(cents, np.where(q_use, q.places, 0))
    # rule 1: qty x rate = amount (rate as UnitPrice x 10^5)
    r_use = q_use & (q.mantissa >= 0) & ~r_missing & (r.places <= 5)
    rate_e5 = np.where(r_use, r.mantissa, 0) * _POW10[np.where(r_use, 5 - r.places, 0)]
    equal, decided = _times_equals(q.mantissa, rate_e5, scaled, fits)
    slow |= r_use & ~decided
    rule1 = r_use & equal
    # rule 2: UnitPrice = amount / qty, exact at 5 places: amount x 10^(places + 5) divisible by the mantissa
    cand2 = q_use & ~rule1 & ~slow & (q.mantissa > 0)
    slow |= cand2 & ~fits
    cand2 &= fits
    den = np.where(cand2, q.mantissa, 1)
    rule2 = cand2 & (scaled % den == 0)
    use_qty = rule1 | rule2
    qty_m = np.where(use_qty, q.mantissa, 1)
    qty_p = np.where(use_qty, q.places, 0)
    price = np.where(rule1, rate_e5, np.where(rule2, scaled // den, cents * 1000))
    for i in np.flatnonzero(slow).tolist():
        qd, pd_ = _line_qty_price(_plain_value(quantity[i]), _plain_value(rate[i]), int(cents[i]))
        sign, digits, exp = qd.normalize().as_tuple()
        assert isinstance(exp, int)
        mant = int("".join(map(str, digits))) * 10 ** max(exp, 0) * (-1 if sign else 1)
        fits_i = abs(mant) < 10**_MAX_DIGITS
        qty_m[i], qty_p[i] = (mant, max(-exp, 0)) if fits_i else (0, QTY_UNREADABLE)
        price[i] = int(pd_.scaleb(5))
    return (
        qty_m.astype(np.int64, copy=False),
        qty_p.astype(np.int64, copy=False),
        price.astype(np.int64, copy=False),
    )


def _column(df: pd.DataFrame, col: str) -> np.ndarray | pd.Categorical:
    """A column's values: a ``pd.Categorical`` as is (its codes are the hashing already done), else numpy;
    all None when the frame has no such column."""
    if col not in df:
        return np.full(len(df), None, dtype=object)
    values = df[col].array
    return values if isinstance(values, pd.Categorical) else df[col].to_numpy()


@dataclass(frozen=True)
class _Charges:
    frame: pd.DataFrame  # StagedCharges
    src: pd.DataFrame  # the input rows, same order
    quantity: Parsed
    quantity_missing: np.ndarray


def charges_frame(charges: Sequence[Row] | pd.DataFrame) -> pd.DataFrame:
    """The ``StagedCharges`` frame of staged charge rows, sorted by bill and charge id."""
    return _charges(charges).frame


def _charges(charges: Sequence[Row] | pd.DataFrame) -> _Charges:
    src = charges if isinstance(charges, pd.DataFrame) else charge_rows_frame(list(charges))
    bill, _ = _ints(src, "bill_id")
    cid, _ = _ints(src, "charge_id")
    if len(src) > 1:
        step_b, step_c = np.diff(bill), np.diff(cid)
        if not ((step_b > 0) | ((step_b == 0) & (step_c > 0))).all():
            order = np.lexsort((cid, bill))
            src = src.iloc[order].reset_index(drop=True)
            bill, cid = bill[order], cid[order]
    product, p_known = _ints(src, "product_amount_cents")
    tax, _ = _ints(src, "tax_amount_cents")
    amount, a_known = _ints(src, "amount_cents")
    quantity = _column(src, "quantity")
    parsed, missing = parse_column(quantity)
    negative = parsed.mantissa < 0
    for i, d in parsed.big.items():
        negative[i] = d < 0
    frame = pd.DataFrame(
        {
            "charge_id": cid,
            "bill_id": bill,
            "product_amount_cents": product,
            "tax_amount_cents": tax,
            "amount_cents": amount,
            "cents_known": p_known & a_known,
            "quantity": quantity,
            "quantity_ok": parsed.ok & ~negative,
        },
        copy=False,
    )
    return _Charges(frame, src, parsed, missing)


def _group_starts(sorted_codes: np.ndarray) -> np.ndarray:
    if len(sorted_codes) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])


def _rank_in_group(starts: np.ndarray, n: int) -> np.ndarray:
    """1-based position of each of ``n`` sorted rows within its group (groups begin at ``starts``)."""
    sizes = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, sizes) + 1


def _item_codes(
    src: pd.DataFrame,
    cfg: MappingConfig,
    names: list[str],
    product_types: Mapping[int, Row] | None,
    products: Mapping[int, Row] | None,
) -> np.ndarray:
    """Index into ``names`` of each charge's item (-1: no rule, or an item not in the mapping file).

    Only the columns ``item_for_charge`` can match on are read: the rules' keys, plus the product type id
    when a type-code or kind rule may fall back to the product type's code or kind."""
    if not len(src):
        return np.zeros(0, dtype=np.int64)
    used = {rule.matched_on for rule in cfg.products.rules}
    if product_types and used & {"product_type_code", "charge_kind"}:
        used.add("product_type_id")
    columns = {c: _column(src, c) for c in _ITEM_KEYS if c in src and c in used}
    codes, rows = _distinct(columns, len(src))
    position = {name: i for i, name in enumerate(names)}
    per_key = np.full(len(rows), -1, dtype=np.int64)
    for k, row in enumerate(rows):
        try:
            item = cfg.item_for_charge(row, product_types, products).item
        except MappingMissing:
            continue
        per_key[k] = position.get(item, -1)
    return per_key[codes]


def _tax_rule_codes(src: pd.DataFrame, taxed: np.ndarray, cfg: MappingConfig) -> np.ndarray:
    """Index into ``cfg.taxes.rules`` of each taxed charge's rule (-1: no rule or an unreadable geocode).

    As ``tax_rule_for``, the geocode is only read for tax classes with state-specific rules."""
    if not taxed.any():
        return np.zeros(0, dtype=np.int64)
    classes = _column(src, "tax_class_id")[taxed] if "tax_class_id" in src else np.full(taxed.sum(), None)
    columns = {"tax_class_id": classes}
    by_state = sorted({r.tax_class_id for r in cfg.taxes.rules if r.jurisdiction != "*"})
    if by_state:
        geocode = _column(src, "geocode")[taxed]
        reads = pd.Series(classes).isin(by_state).to_numpy()
        columns["geocode"] = np.where(reads, geocode, None)
    codes, rows = _distinct(columns, len(classes))
    rules = list(cfg.taxes.rules)
    per_key = np.full(len(rows), -1, dtype=np.int64)
    for k, row in enumerate(rows):
        tc = row["tax_class_id"]
        try:
            rule = cfg.tax_rule_for(None if tc is None else int(tc), row.get("geocode"))
        except (MappingMissing, RecordError, TypeError, ValueError):
            continue
        per_key[k] = rules.index(rule)
    return per_key[codes]


def _bill_amounts(bills: Sequence[Row] | pd.DataFrame, bill_ids: np.ndarray) -> Any:
    """Each bill's ``invoice_amount_cents`` (Int64, null for a bill not given; the last row of an id wins)."""
    if isinstance(bills, pd.DataFrame):
        ids = pd.to_numeric(bills["bill_id"]).to_numpy()
        amounts = pd.array(bills["invoice_amount_cents"].to_numpy(), dtype="Int64")
    else:
        ids = np.fromiter(map(itemgetter("bill_id"), bills), dtype=np.int64, count=len(bills))
        try:
            values = np.fromiter(map(itemgetter("invoice_amount_cents"), bills), np.int64, len(bills))
            amounts = pd.array(values, dtype="Int64")
        except (TypeError, ValueError):  # a null or non-integer amount: fails the totals rule, named
            amounts = pd.array([b.get("invoice_amount_cents") for b in bills], dtype="Int64")
    index = pd.Index(ids)
    if not index.is_unique:
        keep = ~index.duplicated(keep="last")
        index, amounts = index[keep], amounts[keep]
    pos = index.get_indexer(bill_ids)
    out = amounts.take(np.where(pos >= 0, pos, 0))
    out[pos < 0] = pd.NA
    return out


def invoice_frames(
    bills: Sequence[Row] | pd.DataFrame,
    charges: Sequence[Row] | pd.DataFrame,
    cfg: MappingConfig,
    *,
    product_types: Mapping[int, Row] | None = None,
    products: Mapping[int, Row] | None = None,
) -> InvoiceFrames:
    """The staged charges of the billed ``bills``, their invoice lines and per-bill totals (see the module
    docstring). ``product_types`` / ``products`` are what ``invoice_payload`` gets (type-code rules)."""
    ch = _charges(charges)
    src = ch.src
    bill = ch.frame["bill_id"].to_numpy()
    cents = ch.frame["product_amount_cents"].to_numpy()
    tax = ch.frame["tax_amount_cents"].to_numpy()
    n = len(bill)
    starts = _group_starts(bill)
    n_bills = len(starts)
    bill_code = np.repeat(np.arange(n_bills, dtype=np.int64), np.diff(np.r_[starts, n]))
    bill_ids = bill[starts]

    names = list(cfg.items)
    accounts = sorted({spec.income_account for spec in cfg.items.values()})
    acct_pos = {a: i for i, a in enumerate(accounts)}
    item_account = np.array([acct_pos[cfg.items[n].income_account] for n in names] + [-1], dtype=np.int64)
    tax_names = set(cfg.tax_item_names())
    item_is_tax = np.array([n in tax_names for n in names] + [False], dtype=bool)
    liability = {a for a, spec in cfg.accounts.items() if spec.type in LIABILITY_TYPES}
    acct_liability = np.array([a in liability for a in accounts] + [False], dtype=bool)

    item = _item_codes(src, cfg, names, product_types, products)
    qty_m, qty_p, price = qty_and_price(
        ch.quantity, ch.quantity_missing, _column(src, "rate"), cents, _column(src, "quantity")
    )

    # tax lines: one per (bill, tax rule), sorted by bill then rule, as invoice_payload appends them
    lines_mode = cfg.taxes.mode == "lines"
    rules = list(cfg.taxes.rules)
    taxed = (tax != 0) if lines_mode else np.zeros(n, dtype=bool)
    rule = _tax_rule_codes(src, taxed, cfg)
    width = len(rules) + 1
    key = bill_code[taxed] * width + (rule + 1)
    order = np.argsort(key, kind="stable")
    key_sorted = key[order]
    k_starts = _group_starts(key_sorted)
    t_cents = np.add.reduceat(tax[taxed][order], k_starts) if len(k_starts) else np.zeros(0, np.int64)
    t_code = key_sorted[k_starts] // width
    rule_item = np.array([names.index(r.item) if r.item in names else -1 for r in rules] + [-1])
    t_item = rule_item[key_sorted[k_starts] % width - 1]
    n_t = len(t_code)
    t_bill_starts = _group_starts(t_code)
    items_per_bill = np.diff(np.r_[starts, n])
    t_line_num = items_per_bill[t_code] + _rank_in_group(t_bill_starts, n_t)

    line_item = np.concatenate([item, t_item]).astype(np.int64, copy=False)
    acct = item_account[line_item]  # -1 (unmapped) reads the sentinel at the end
    is_tax = item_is_tax[line_item]
    amounts = np.concatenate([cents, t_cents]).astype(np.int64, copy=False)
    charge_ids = np.concatenate([ch.frame["charge_id"].to_numpy(), np.zeros(n_t, dtype=np.int64)])
    lines = pd.DataFrame(
        {
            "bill_id": np.concatenate([bill, bill_ids[t_code]]),
            "line_num": np.concatenate([_rank_in_group(starts, n), t_line_num]),
            "charge_id": pd.arrays.IntegerArray(
                charge_ids, np.r_[np.zeros(n, dtype=bool), np.ones(n_t, dtype=bool)]
            ),
            "line_kind": pd.Categorical.from_codes(is_tax.astype(np.int8), ["item", "tax"]),
            "item_name": pd.Categorical.from_codes(line_item, names),
            "posting_account": pd.Categorical.from_codes(acct, accounts),
            "amount_cents": amounts,
            "qty_mantissa": np.concatenate([qty_m, np.ones(n_t, dtype=np.int64)]),
            "qty_places": np.concatenate([qty_p, np.zeros(n_t, dtype=np.int64)]),
            "unit_price_e5": np.concatenate([price, t_cents * 1000]),
            "is_tax": is_tax,
            "posting_is_liability": acct_liability[acct],
        },
        copy=False,
    )

    # per bill: all lines, the lines on tax items, the charges' tax (charge and tax lines sorted by bill)
    tax_amounts = np.where(is_tax, amounts, 0)
    lines_cents = np.add.reduceat(cents, starts) if n_bills else np.zeros(0, np.int64)
    tax_lines_cents = np.add.reduceat(tax_amounts[:n], starts) if n_bills else np.zeros(0, np.int64)
    if n_t:
        at = t_code[t_bill_starts]
        lines_cents[at] += np.add.reduceat(t_cents, t_bill_starts)
        tax_lines_cents[at] += np.add.reduceat(tax_amounts[n:], t_bill_starts)
    charge_tax = np.add.reduceat(tax, starts) if n_bills else np.zeros(0, dtype=np.int64)
    totals = pd.DataFrame(
        {
            "bill_id": bill_ids,
            "lines_cents": lines_cents,
            "tax_lines_cents": tax_lines_cents,
            "total_tax_cents": np.zeros(n_bills, np.int64) if lines_mode else charge_tax,
            "invoice_amount_cents": _bill_amounts(bills, bill_ids),
            "charge_tax_cents": charge_tax,
            "doc_number_chars": len(cfg.invoice.doc_number_prefix) + _digits(bill_ids) + (bill_ids < 0),
        },
        copy=False,
    )
    return InvoiceFrames(ch.frame, lines, totals)


# ----- failures -----------------------------------------------------------------------------------------


def decimal_text(mantissa: int, places: int) -> str:
    """``mantissa x 10^-places`` as plain text (``Decimal`` formatting)."""
    return format(Decimal(int(mantissa)).scaleb(-int(places)), "f")


def unit_price_text(e5: int) -> str:
    """A UnitPrice as posted: 2 places when whole cents, else up to 5 without trailing zeros."""
    d = Decimal(int(e5)).scaleb(-5)
    return format(d.quantize(CENT) if d == d.quantize(CENT) else d.normalize(), "f")


def _line_text(df: pd.DataFrame, i: int) -> str:
    r = df.iloc[i]
    places = int(r["qty_places"])
    qty = "?" if places == QTY_UNREADABLE else decimal_text(r["qty_mantissa"], places)
    charge = "" if pd.isna(r["charge_id"]) else f"charge_id={r['charge_id']}, "
    return (
        f"bill_id={r['bill_id']}, line_num={r['line_num']}, {charge}line_kind={r['line_kind']}, "
        f"item_name={r['item_name']}, posting_account={r['posting_account']}, "
        f"amount_cents={r['amount_cents']}, qty={qty}, unit_price={unit_price_text(r['unit_price_e5'])}"
    )


def _row_text(df: pd.DataFrame, i: int) -> str:
    if "line_num" in df.columns:
        return _line_text(df, i)
    return ", ".join(f"{c}={df.iat[i, k]}" for k, c in enumerate(df.columns))


def _failures(schema: Any, df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Every failing row of ``schema`` over ``df`` (validated in place: pandera's copy of a 1M-row frame
    would cost more than the checks), one table row per failing (check, row[, column])."""
    try:
        schema.validate(df, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases.copy()
        fc["schema"] = name
        pos = pd.to_numeric(fc["index"], errors="coerce")
        ok = pos.notna() & (pos >= 0) & (pos < len(df))
        bill_ids = pd.array([None] * len(fc), dtype="Int64")
        if ok.any():
            at = pos[ok].astype(np.int64).to_numpy()
            bill_ids[ok.to_numpy()] = df["bill_id"].to_numpy()[at]
        fc["bill_id"] = bill_ids
        fc["column"] = fc["column"].astype(object)
        fc["failure_case"] = fc["failure_case"].astype(object)
        whole_row = fc.duplicated(subset=["check", "index"], keep=False) | fc["column"].isna()
        whole_row &= ok
        fc.loc[whole_row, "column"] = "(row)"
        fc.loc[whole_row, "failure_case"] = [_row_text(df, int(i)) for i in pos[whole_row]]
        fc = fc.drop_duplicates(subset=["check", "index", "column"])
        return fc.reindex(columns=FAILURE_COLUMNS).reset_index(drop=True)
    return pd.DataFrame(columns=FAILURE_COLUMNS)


def frame_check_failures(frames: InvoiceFrames) -> pd.DataFrame:
    """``StagedCharges``, ``MappedLineFrame`` and ``StagedBillTotals`` failures as one table (the shape of
    ``invoice_check_failures``, schema names ``ChargeLines`` / ``MappedInvoiceLines`` / ``BillTotals``)."""
    found = [
        _failures(StagedCharges, frames.charges, "ChargeLines") if len(frames.charges) else None,
        _failures(MappedLineFrame, frames.lines, "MappedInvoiceLines") if len(frames.lines) else None,
        _failures(StagedBillTotals, frames.totals, "BillTotals") if len(frames.totals) else None,
    ]
    parts = [f for f in found if f is not None and len(f)]
    if not parts:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    return pd.concat(parts, ignore_index=True)
