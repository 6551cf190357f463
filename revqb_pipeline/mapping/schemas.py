"""pandera DataFrameModels over staging and payload frames (integer cents), used by the Dagster asset checks.

Frames: ``stg_charges`` rows (``ChargeLines``), built invoice payloads flattened with
``invoice_lines_frame`` (``InvoicePayloadLines``), and per-bill totals from ``bill_totals_frame``
(``BillTotals``). Validate with ``Schema.validate(df, lazy=True)`` to collect every failing row.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from revqb_pipeline.mapping._numeric import parse_decimals, product_equals_cents
from revqb_pipeline.mapping.config import MappingConfig


def _ints(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values with 0 for nulls, not-null mask) of an integer column (nullable or not)."""
    known = series.notna().to_numpy(dtype=bool)
    values = pd.to_numeric(series, errors="coerce").fillna(0)
    return values.to_numpy(dtype=np.int64, na_value=0), known


def non_negative(series: pd.Series) -> Series[bool]:
    """Vectorized: each value is decimal text (or a number) ``>= 0``."""
    parsed = parse_decimals(series)
    return pd.Series(parsed.ok & (parsed.mantissa >= 0), index=series.index)


class ChargeLines(pa.DataFrameModel):
    """``stg_charges`` rows. Guarantees: ``charge_id`` is unique; ``amount_cents`` equals
    ``product_amount_cents + tax_amount_cents`` on every row; no product amount is negative (negative charges
    belong on credit memos); ``quantity`` is a non-negative decimal string."""

    charge_id: Series[int] = pa.Field(unique=True)
    product_amount_cents: Series[int] = pa.Field(ge=0)
    tax_amount_cents: Series[int]
    amount_cents: Series[int]
    quantity: Series[str]

    @pa.check("quantity", error="quantity is not a non-negative decimal number")
    def quantity_parseable(cls, series: pd.Series) -> Series[bool]:
        return non_negative(series)

    @pa.dataframe_check(error="amount_cents != product_amount_cents + tax_amount_cents")
    def amount_is_product_plus_tax(cls, df: pd.DataFrame) -> Series[bool]:
        return df["amount_cents"] == df["product_amount_cents"] + df["tax_amount_cents"]

    class Config:
        coerce = True
        strict = False


class InvoicePayloadLines(pa.DataFrameModel):
    """One row per sales line of a built invoice payload (see ``invoice_lines_frame``). Guarantees: every
    line names an item and carries a QBO item id; ``amount`` is whole cents and equals ``amount_cents``;
    no line is negative; ``unit_price`` has at most 5 decimals; ``qty * unit_price == amount`` exactly
    (QBO rejects anything else with error 6070)."""

    bill_id: Series[int]
    doc_number: Series[str] = pa.Field(str_length={"min_value": 1, "max_value": 21})
    line_num: Series[int] = pa.Field(ge=1)
    line_kind: Series[str] = pa.Field(isin=["item", "tax"])
    item_name: Series[str] = pa.Field(str_length={"min_value": 1})
    item_ref: Series[str] = pa.Field(str_length={"min_value": 1})
    amount: Series[str]
    amount_cents: Series[int] = pa.Field(ge=0)
    qty: Series[str]
    unit_price: Series[str]

    @pa.check("amount", error="amount is not a whole number of cents")
    def amount_whole_cents(cls, series: pd.Series) -> Series[bool]:
        return pd.Series(parse_decimals(series).at_most(2), index=series.index)

    @pa.check("unit_price", error="unit_price is not a decimal with at most 5 places")
    def unit_price_places(cls, series: pd.Series) -> Series[bool]:
        return pd.Series(parse_decimals(series).at_most(5), index=series.index)

    @pa.dataframe_check(error="amount_cents does not match amount")
    def amount_matches_cents(cls, df: pd.DataFrame) -> Series[bool]:
        amount = parse_decimals(df["amount"])
        cents, known = _ints(df["amount_cents"])
        return pd.Series(amount.at_most(2) & known & (amount.scaled(2) == cents), index=df.index)

    @pa.dataframe_check(error="qty * unit_price != amount (QBO error 6070)")
    def qty_times_price_is_amount(cls, df: pd.DataFrame) -> Series[bool]:
        cents, known = _ints(df["amount_cents"])
        qty, price = parse_decimals(df["qty"]), parse_decimals(df["unit_price"])
        return pd.Series(product_equals_cents(qty, price, cents, known), index=df.index)

    class Config:
        coerce = True
        strict = False


class BillTotals(pa.DataFrameModel):
    """One row per bill (see ``bill_totals_frame``). Guarantees: the invoice's lines (plus any
    ``TotalTax`` override) add up to Rev.io's ``invoice_amount_cents``, and the tax on the invoice (tax lines
    plus override) equals the sum of the bill's charge taxes, to the cent."""

    bill_id: Series[int] = pa.Field(unique=True)
    lines_cents: Series[int]
    tax_lines_cents: Series[int]
    total_tax_cents: Series[int]
    invoice_amount_cents: Series[int]
    charge_tax_cents: Series[int]

    @pa.dataframe_check(error="invoice lines (+ TotalTax) != Rev.io invoice_amount")
    def invoice_total_matches_bill(cls, df: pd.DataFrame) -> Series[bool]:
        return df["lines_cents"] + df["total_tax_cents"] == df["invoice_amount_cents"]

    @pa.dataframe_check(error="invoice tax != sum of the bill's charge taxes")
    def tax_matches_charges(cls, df: pd.DataFrame) -> Series[bool]:
        return df["tax_lines_cents"] + df["total_tax_cents"] == df["charge_tax_cents"]

    class Config:
        coerce = True
        strict = False


# ----- frames from payloads -------------------------------------------------------------------------

_LINE_COLUMNS = [
    "bill_id",
    "doc_number",
    "line_num",
    "line_kind",
    "item_name",
    "item_ref",
    "amount",
    "amount_cents",
    "qty",
    "unit_price",
    "txn_total_tax_cents",
]


def _bill_id_of(payload: Mapping[str, Any], marker: str) -> int | None:
    for line in str(payload.get("PrivateNote") or "").splitlines():
        line = line.strip()
        if line.startswith(marker):
            m = re.match(r"\d+", line[len(marker) :].strip())
            if m:
                return int(m.group())
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def invoice_lines_frame(
    payloads: Iterable[Mapping[str, Any]], cfg: MappingConfig | None = None
) -> pd.DataFrame:
    """Flatten built invoice payloads into one row per ``SalesItemLineDetail`` line (``InvoicePayloadLines``).

    ``bill_id`` comes from the ``revio:bill:<id>`` PrivateNote marker; ``line_kind`` is ``tax`` when the
    line's item is one of the mapping's tax items (pass ``cfg``; without it every line is ``item``).
    Amounts are kept as exact strings next to integer cents (``amount_cents`` is null when not whole cents);
    ``txn_total_tax_cents`` repeats the payload's ``TxnTaxDetail.TotalTax`` (0 in ``lines`` mode).
    """
    marker = cfg.invoice.bill_note_marker if cfg else "revio:bill:"
    tax_items = set(cfg.tax_item_names()) if cfg else set()
    cols: dict[str, list[Any]] = {c: [] for c in _LINE_COLUMNS if c not in _COMPUTED}
    overrides: list[Any] = []
    counts: list[int] = []
    for payload in payloads:
        lines = [ln for ln in payload.get("Line") or [] if ln.get("DetailType") == "SalesItemLineDetail"]
        if not lines:
            continue
        n = len(lines)
        counts.append(n)
        cols["bill_id"] += [_bill_id_of(payload, marker)] * n
        cols["doc_number"] += [payload.get("DocNumber")] * n
        cols["line_num"] += range(1, n + 1)
        overrides.append(_text((payload.get("TxnTaxDetail") or {}).get("TotalTax")))
        details = [ln.get("SalesItemLineDetail") or {} for ln in lines]
        refs = [d.get("ItemRef") or {} for d in details]
        cols["item_name"] += [r.get("name") for r in refs]
        cols["item_ref"] += [None if r.get("value") in (None, "") else str(r.get("value")) for r in refs]
        cols["amount"] += [_text(ln.get("Amount")) for ln in lines]
        cols["qty"] += [_text(d.get("Qty")) for d in details]
        cols["unit_price"] += [_text(d.get("UnitPrice")) for d in details]
    df = pd.DataFrame(cols)
    df["line_kind"] = np.where(df["item_name"].isin(tax_items), "tax", "item") if len(df) else []
    amount = parse_decimals(df["amount"])
    cents = amount.scaled(2)
    df["amount_cents"] = pd.array(cents, dtype="Int64")
    df.loc[~amount.at_most(2), "amount_cents"] = pd.NA
    override = parse_decimals(overrides)
    per_payload = np.where(override.at_most(2), override.scaled(2), 0)
    df["txn_total_tax_cents"] = np.repeat(per_payload, counts).astype(np.int64)
    df["bill_id"] = df["bill_id"].astype("Int64")
    return df.reindex(columns=_LINE_COLUMNS)


_COMPUTED = ("line_kind", "amount_cents", "txn_total_tax_cents")


def bill_totals_from_lines(
    lines: pd.DataFrame,
    bills: pd.DataFrame | Sequence[Mapping[str, Any]],
    charges: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Per bill in an ``invoice_lines_frame``: Σ line cents, Σ tax line cents, the ``TotalTax`` override, the
    bill's ``invoice_amount_cents`` and Σ its charges' ``tax_amount_cents`` (``BillTotals``).

    Without ``charges`` the charge tax is taken to be the invoice's own tax (so only the bill-total rule is
    really checked); tax lines are only recognised when the lines frame was built with the mapping config.
    """
    bill_df = bills if isinstance(bills, pd.DataFrame) else pd.DataFrame(list(bills))
    amounts = (
        pd.Series(
            bill_df["invoice_amount_cents"].astype("int64").to_numpy(),
            index=bill_df["bill_id"].astype("int64").to_numpy(),
        )
        if len(bill_df)
        else pd.Series(dtype="int64")
    )
    amounts = amounts[~amounts.index.duplicated(keep="last")]  # as the dict it replaces: the last row wins
    known = lines.dropna(subset=["bill_id"])
    cents = known["amount_cents"].astype("Int64").fillna(0).astype("int64")
    keyed = pd.DataFrame(
        {
            "bill_id": known["bill_id"].astype("int64"),
            "lines_cents": cents,
            "tax_lines_cents": cents.where(known["line_kind"] == "tax", 0),
            "total_tax_cents": (
                known["txn_total_tax_cents"].fillna(0).astype("int64")
                if "txn_total_tax_cents" in known
                else 0
            ),
        }
    )
    df = keyed.groupby("bill_id", sort=True).agg(
        lines_cents=("lines_cents", "sum"),
        tax_lines_cents=("tax_lines_cents", "sum"),
        total_tax_cents=("total_tax_cents", "max"),
    )
    df = df.reset_index()
    df["invoice_amount_cents"] = pd.array(df["bill_id"].map(amounts), dtype="Int64")
    if charges is not None:
        charge_df = charges if isinstance(charges, pd.DataFrame) else pd.DataFrame(list(charges))
        if len(charge_df) and "bill_id" in charge_df:
            taxed = charge_df.dropna(subset=["bill_id"])
            tax = pd.to_numeric(taxed.get("tax_amount_cents"), errors="coerce").fillna(0).astype("int64")
            per_bill = tax.groupby(taxed["bill_id"].astype("int64")).sum()
        else:
            per_bill = pd.Series(dtype="int64")
        df["charge_tax_cents"] = df["bill_id"].map(per_bill).fillna(0).astype("int64")
    else:
        df["charge_tax_cents"] = df["tax_lines_cents"] + df["total_tax_cents"]
    columns = ["bill_id", "lines_cents", "tax_lines_cents", "total_tax_cents", "invoice_amount_cents"]
    return df.reindex(columns=[*columns, "charge_tax_cents"])


def bill_totals_frame(
    payloads: Iterable[Mapping[str, Any]],
    bills: pd.DataFrame | Sequence[Mapping[str, Any]],
    charges: pd.DataFrame | Sequence[Mapping[str, Any]],
    cfg: MappingConfig | None = None,
) -> pd.DataFrame:
    """``bill_totals_from_lines`` over flattened ``payloads`` (pass ``cfg`` to recognise tax lines)."""
    return bill_totals_from_lines(invoice_lines_frame(payloads, cfg), bills, charges)


def validate_bill_totals(
    lines: pd.DataFrame,
    bills: pd.DataFrame | Sequence[Mapping[str, Any]],
    charges: pd.DataFrame | Sequence[Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Build the per-bill totals from an ``invoice_lines_frame`` and validate them with ``BillTotals``
    (lazy: raises ``pandera.errors.SchemaErrors`` listing every failing bill). Returns the totals frame."""
    return BillTotals.validate(bill_totals_from_lines(lines, bills, charges), lazy=True)


# ----- column schemas of the staging tables (shown in the Dagster UI) ---------------------------------

#: The pandera model whose checks hold for a staging table's rows (the rest: types and nullability only).
STAGING_MODELS: dict[str, type[pa.DataFrameModel]] = {"stg_charges": ChargeLines}

_PANDAS_TYPES = (
    ("int", "Int64"),
    ("bool", "boolean"),
    ("datetime", "datetime64[ns, UTC]"),
    ("timestamp", "datetime64[ns, UTC]"),
)


def _pandas_type(sql_type: str) -> str:
    return next((pd_type for word, pd_type in _PANDAS_TYPES if word in sql_type.lower()), "str")


def _column_description(name: str, primary_key: bool) -> str | None:
    if primary_key:
        return "Rev.io id (primary key)"
    if name.endswith("_cents"):
        return "integer cents"
    if name == "partition_key":
        return "bill-date partition (YYYY-MM-DD) that staged the row"
    return None


def _described(checks: Iterable[Any]) -> list[Any]:
    """Copies of pandera checks; a custom one (its error is a sentence) is described "fails if <error>"."""
    out = []
    for chk in checks:
        shown = copy.copy(chk)
        if not shown.description and isinstance(shown.error, str) and " " in shown.error:  # a custom rule
            shown.description = f"fails if {shown.error}"
        out.append(shown)
    return out


def staging_schema(table: str, columns: Iterable[Any]) -> pa.DataFrameSchema:
    """A pandera schema of staging table ``table`` from its columns (objects with ``name``, ``sql_type``,
    ``nullable``, ``primary_key``: ``staging.columns.table_columns``), carrying the checks of its model in
    :data:`STAGING_MODELS` (unique ids, non-negative amounts, amount = product + tax, ...)."""
    model = STAGING_MODELS.get(table)
    base = model.to_schema() if model is not None else None
    out: dict[str, pa.Column] = {}
    for col in columns:
        known = base.columns.get(col.name) if base is not None else None
        out[col.name] = pa.Column(
            _pandas_type(col.sql_type),
            checks=_described(known.checks) if known is not None else None,
            nullable=col.nullable,
            unique=col.primary_key or bool(known is not None and known.unique),
            description=_column_description(col.name, col.primary_key),
            name=col.name,
        )
    return pa.DataFrameSchema(
        out,
        checks=_described(base.checks) if base is not None else None,
        name=table,
        description=model.__doc__ if model is not None else f"{table} rows (integer cents)",
    )
