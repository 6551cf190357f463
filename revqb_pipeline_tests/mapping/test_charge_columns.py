"""The columnar read of a partition's staged bills and charges (staging/charges_frame.py) feeds the invoice
checks the same failures as the staged rows do, and the text columns it builds keep every value apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from revqb_pipeline.mapping._numeric import TextColumn, parse_column, text_column
from revqb_pipeline.mapping.checks import staged_invoice_check_failures
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.staging import charges_frame
from revqb_pipeline.staging.charges_frame import bill_columns, charge_columns
from revqb_pipeline.staging.db import stg_bills, stg_charges

CFG = load_mapping(None)
DAY, OTHER = "2026-01-01", "2026-01-02"
GA = "US130890000"


def charge(cid: int, bill_id: int, **over: Any) -> dict[str, Any]:
    row = {"charge_id": cid, "bill_id": bill_id, "customer_id": 7, "product_id": 101, "product_type_id": 10,
           "charge_kind": "recurring", "quantity": "2", "rate": "24.95", "product_amount_cents": 4990,
           "tax_amount_cents": 150, "amount_cents": 5140, "tax_class_id": 302, "geocode": GA}  # fmt: skip
    return {**row, **over}


def bill(bill_id: int, charges: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    total = sum(c["amount_cents"] or 0 for c in charges if c["bill_id"] == bill_id)
    return {"bill_id": bill_id, "customer_id": 7, "bill_date": DAY, "invoice_amount_cents": total, **over}


def stage(engine: sa.Engine, bills: list[dict[str, Any]], charges: list[dict[str, Any]]) -> None:
    extra = {"record_hash": "h", "raw_json": "{}"}
    with engine.begin() as conn:
        conn.execute(stg_bills.insert(), [{"partition_key": DAY, **b, **extra} for b in bills])
        conn.execute(stg_charges.insert(), [{"partition_key": DAY, **c, **extra} for c in charges])


def failures(fc: pd.DataFrame) -> list[tuple[Any, ...]]:
    return sorted((r.schema, int(r.bill_id), r.check) for r in fc.itertuples() if not pd.isna(r.bill_id))


def test_partition_columns_check_like_the_staged_rows(engine: sa.Engine) -> None:
    """Three bills of the day (one with a charge whose amount is not product + tax, one with a NULL
    quantity and tax class) and one of another day: the frames read from the DB give the checks the same
    failing bills and rules as the staged rows the invoices step holds."""
    charges = [
        charge(3, 10), charge(1, 10, quantity="48", rate=None, product_amount_cents=45150, tax_amount_cents=0,
                               amount_cents=45150, product_id=201, product_type_id=20, charge_kind="usage"),
        charge(5, 11, amount_cents=9999),
        charge(7, 12, quantity=None, tax_class_id=None, tax_amount_cents=0, amount_cents=4990),
        charge(9, 13),
    ]  # fmt: skip
    bills = [bill(10, charges), bill(11, charges), bill(12, charges), bill(13, charges, bill_date=OTHER)]
    stage(engine, bills[:3], charges[:4])
    stage(engine, [{**bills[3], "partition_key": OTHER}], [{**charges[4], "partition_key": OTHER}])

    got_charges, got_bills = charge_columns(engine, DAY), bill_columns(engine, DAY)
    assert got_charges["charge_id"].tolist() == [1, 3, 5, 7]  # by bill, then charge id; day 2 left out
    assert got_bills["bill_id"].tolist() == [10, 11, 12]
    assert got_charges["amount_cents"].dtype == np.int64
    assert got_charges["tax_class_id"].tolist() == [302, 302, 302, None]  # a NULL keeps objects
    assert isinstance(got_charges["quantity"].array, pd.Categorical)
    assert got_charges["quantity"].isna().tolist() == [False, False, False, True]

    from_db = staged_invoice_check_failures(got_bills, got_charges, CFG)
    from_rows = staged_invoice_check_failures(bills[:3], charges[:4], CFG)
    assert failures(from_db) == failures(from_rows)
    assert ("ChargeLines", 11, "amount_cents != product_amount_cents + tax_amount_cents") in failures(from_db)
    assert {b for _, b, _ in failures(from_db)} == {11, 12}


def test_only_the_billed_bills(engine: sa.Engine) -> None:
    charges = [charge(1, 10), charge(2, 11), charge(3, 12)]
    stage(engine, [bill(b, charges) for b in (10, 11, 12)], charges)
    assert charge_columns(engine, DAY, bill_ids=[12, 10])["charge_id"].tolist() == [1, 3]
    assert bill_columns(engine, DAY, bill_ids=[11])["bill_id"].tolist() == [11]
    empty = charge_columns(engine, OTHER)
    assert len(empty) == 0 and list(empty.columns) == list(charges_frame.CHARGE_COLUMNS)
    assert staged_invoice_check_failures(bill_columns(engine, OTHER), empty, CFG).empty


def test_read_in_blocks(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 2 rows: codes of a text column stay consistent across blocks."""
    monkeypatch.setattr(charges_frame, "FETCH_ROWS", 2)
    charges = [charge(i, 10 + i % 3, quantity=str(i % 2 + 1), amount_cents=4990 + 150, rate=None)
               for i in range(1, 8)]  # fmt: skip
    stage(engine, [bill(b, charges) for b in (10, 11, 12)], charges)
    got = charge_columns(engine, DAY)
    by_id = dict(zip(got["charge_id"], got["quantity"].astype(object), strict=True))
    assert by_id == {c["charge_id"]: c["quantity"] for c in charges}


def test_text_column_keeps_values_apart() -> None:
    """A column of text is categorical, None missing; any other value keeps the objects (True is not 1)."""
    col = text_column(["2", None, "2", "1.50", ""])
    assert isinstance(col, pd.Categorical)
    assert col.codes.tolist() == [0, -1, 0, 1, 2]
    parsed, missing = parse_column(col)
    assert missing.tolist() == [False, True, False, False, True]
    assert parsed.mantissa[[0, 3]].tolist() == [2, 15] and parsed.places[[0, 3]].tolist() == [0, 1]

    mixed = TextColumn()
    mixed.add(["1", None])
    mixed.add([True, 1])
    values = mixed.column()
    assert isinstance(values, np.ndarray)
    assert [(type(v), v) for v in values] == [(str, "1"), (type(None), None), (bool, True), (int, 1)]
    parsed, missing = parse_column(values)
    assert parsed.ok.tolist() == [True, False, False, True]
