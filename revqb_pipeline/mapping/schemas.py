"""pandera DataFrameModels over staging and payload frames (integer cents), used by the Dagster asset checks.

Frames: ``stg_charges`` rows (``ChargeLines``), built invoice payloads flattened with
``invoice_lines_frame`` (``InvoicePayloadLines``), and per-bill totals from ``bill_totals_frame``
(``BillTotals``). Validate with ``Schema.validate(df, lazy=True)`` to collect every failing row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.money import UNIT_PRICE_PLACES, MoneyError, to_cents, to_decimal


def _decimal_or_none(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or (isinstance(value, float) and value != value):
        return None
    try:
        d = to_decimal(value)
    except MoneyError:
        return None
    return d if d.is_finite() else None


def _cents_or_none(value: Any) -> int | None:
    d = _decimal_or_none(value)
    if d is None:
        return None
    try:
        return to_cents(d)
    except MoneyError:
        return None


class ChargeLines(pa.DataFrameModel):
    """``stg_charges`` rows. Guarantees: ``charge_id`` is unique; ``amount_cents`` equals
    ``product_amount_cents + tax_amount_cents`` on every row; no product amount is negative (negative charges
    belong on credit memos); ``quantity`` is a non-negative decimal string."""

    charge_id: Series[int] = pa.Field(unique=True)
    product_amount_cents: Series[int] = pa.Field(ge=0)
    tax_amount_cents: Series[int]
    amount_cents: Series[int]
    quantity: Series[str]

    @pa.check("quantity", element_wise=True, error="quantity is not a non-negative decimal number")
    def quantity_parseable(cls, value: Any) -> bool:
        d = _decimal_or_none(value)
        return d is not None and d >= 0

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

    @pa.check("amount", element_wise=True, error="amount is not a whole number of cents")
    def amount_whole_cents(cls, value: Any) -> bool:
        return _cents_or_none(value) is not None

    @pa.check("unit_price", element_wise=True, error="unit_price is not a decimal with at most 5 places")
    def unit_price_places(cls, value: Any) -> bool:
        d = _decimal_or_none(value)
        return d is not None and d == d.quantize(UNIT_PRICE_PLACES)

    @pa.dataframe_check(error="amount_cents does not match amount")
    def amount_matches_cents(cls, df: pd.DataFrame) -> Series[bool]:
        return pd.Series(
            [_cents_or_none(a) == c for a, c in zip(df["amount"], df["amount_cents"], strict=True)],
            index=df.index,
        )

    @pa.dataframe_check(error="qty * unit_price != amount (QBO error 6070)")
    def qty_times_price_is_amount(cls, df: pd.DataFrame) -> Series[bool]:
        out = []
        for q, p, c in zip(df["qty"], df["unit_price"], df["amount_cents"], strict=True):
            dq, dp = _decimal_or_none(q), _decimal_or_none(p)
            out.append(dq is not None and dp is not None and dq * dp * 100 == Decimal(int(c)))
        return pd.Series(out, index=df.index)

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
    rows = []
    for payload in payloads:
        bill_id = _bill_id_of(payload, marker)
        override = _cents_or_none((payload.get("TxnTaxDetail") or {}).get("TotalTax")) or 0
        num = 0
        for line in payload.get("Line") or []:
            if line.get("DetailType") != "SalesItemLineDetail":
                continue
            num += 1
            detail = line.get("SalesItemLineDetail") or {}
            ref = detail.get("ItemRef") or {}
            name = ref.get("name")
            rows.append(
                {
                    "bill_id": bill_id,
                    "doc_number": payload.get("DocNumber"),
                    "line_num": num,
                    "line_kind": "tax" if name in tax_items else "item",
                    "item_name": name,
                    "item_ref": None if ref.get("value") in (None, "") else str(ref.get("value")),
                    "amount": _text(line.get("Amount")),
                    "amount_cents": _cents_or_none(line.get("Amount")),
                    "qty": _text(detail.get("Qty")),
                    "unit_price": _text(detail.get("UnitPrice")),
                    "txn_total_tax_cents": override,
                }
            )
    df = pd.DataFrame(rows, columns=_LINE_COLUMNS)
    df["amount_cents"] = df["amount_cents"].astype("Int64")
    df["bill_id"] = df["bill_id"].astype("Int64")
    return df


def _records(data: pd.DataFrame | Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(data, pd.DataFrame):
        return data.to_dict("records")
    return list(data)


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
    bill_amounts = {int(b["bill_id"]): int(b["invoice_amount_cents"]) for b in _records(bills)}
    charge_tax: dict[int, int] | None = None
    if charges is not None:
        charge_tax = {}
        for ch in _records(charges):
            bid = ch.get("bill_id")
            if bid is not None and bid == bid:  # skip None / NaN
                charge_tax[int(bid)] = charge_tax.get(int(bid), 0) + int(ch.get("tax_amount_cents") or 0)
    rows = []
    for bill_id, mine in lines.dropna(subset=["bill_id"]).groupby("bill_id", sort=True):
        bid = int(bill_id)
        tax_lines = int(mine.loc[mine["line_kind"] == "tax", "amount_cents"].fillna(0).sum())
        override = int(mine["txn_total_tax_cents"].fillna(0).max()) if "txn_total_tax_cents" in mine else 0
        rows.append(
            {
                "bill_id": bid,
                "lines_cents": int(mine["amount_cents"].fillna(0).sum()),
                "tax_lines_cents": tax_lines,
                "total_tax_cents": override,
                "invoice_amount_cents": bill_amounts.get(bid),
                "charge_tax_cents": charge_tax.get(bid, 0)
                if charge_tax is not None
                else tax_lines + override,
            }
        )
    columns = ["bill_id", "lines_cents", "tax_lines_cents", "total_tax_cents", "invoice_amount_cents"]
    df = pd.DataFrame(rows, columns=[*columns, "charge_tax_cents"])
    df["invoice_amount_cents"] = df["invoice_amount_cents"].astype("Int64")
    return df


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
