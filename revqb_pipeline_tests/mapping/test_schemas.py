"""pandera schemas: each rule with a passing and a failing frame."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.errors
import pytest

from revqb_pipeline.entities.invoices.mapping import invoice_payload
from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.mapping.normalize import normalize_bill, normalize_charge, normalize_product_type
from revqb_pipeline.mapping.schemas import (
    BillTotals,
    ChargeLines,
    InvoicePayloadLines,
    bill_totals_frame,
    invoice_lines_frame,
    validate_bill_totals,
)


@pytest.fixture(scope="module")
def cfg() -> MappingConfig:
    return load_mapping(None)


def fails(schema: Any, df: pd.DataFrame, text: str) -> None:
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        schema.validate(df, lazy=True)
    assert text in str(err.value), str(err.value)


# ----- ChargeLines ----------------------------------------------------------------------------------


def charges_df(**over: list[Any]) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        "charge_id": [1, 2],
        "bill_id": [10, 10],
        "product_amount_cents": [10000, 100],
        "tax_amount_cents": [862, 0],
        "amount_cents": [10862, 100],
        "quantity": ["4", "0.5"],
    }
    data.update(over)
    return pd.DataFrame(data)


def test_charge_lines_pass() -> None:
    ChargeLines.validate(charges_df(), lazy=True)


@pytest.mark.parametrize(
    ("over", "text"),
    [
        ({"charge_id": [1, 1]}, "charge_id"),
        ({"amount_cents": [10863, 100]}, "amount_cents != product_amount_cents + tax_amount_cents"),
        ({"product_amount_cents": [-100, 100], "amount_cents": [762, 100]}, "greater_than_or_equal_to(0)"),
        ({"quantity": ["four", "1"]}, "quantity is not a non-negative decimal number"),
        ({"quantity": ["-1", "1"]}, "quantity is not a non-negative decimal number"),
        ({"quantity": [None, "1"]}, "quantity"),
    ],
)
def test_charge_lines_fail(over: dict[str, list[Any]], text: str) -> None:
    fails(ChargeLines, charges_df(**over), text)


# ----- InvoicePayloadLines --------------------------------------------------------------------------


def lines_df(**over: list[Any]) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        "bill_id": [10, 10, 10],
        "doc_number": ["RV-10"] * 3,
        "line_num": [1, 2, 3],
        "line_kind": ["item", "item", "tax"],
        "item_name": ["Usage", "Telecom Services", "E911 Fee"],
        "item_ref": ["1", "2", "3"],
        "amount": ["451.50", "100.00", "1.10"],
        "amount_cents": [45150, 10000, 110],
        "qty": ["48", "4", "1"],
        "unit_price": ["9.40625", "25.00", "1.10"],
    }
    data.update(over)
    return pd.DataFrame(data)


def test_invoice_payload_lines_pass() -> None:
    InvoicePayloadLines.validate(lines_df(), lazy=True)


@pytest.mark.parametrize(
    ("over", "text"),
    [
        ({"unit_price": ["9.41", "25.00", "1.10"]}, "qty * unit_price != amount (QBO error 6070)"),
        (
            {
                "qty": ["3", "4", "1"],
                "unit_price": ["0.33333", "25.00", "1.10"],
                "amount": ["1.00", "100.00", "1.10"],
                "amount_cents": [100, 10000, 110],
            },
            "qty * unit_price != amount",
        ),
        (
            {"unit_price": ["9.406250001", "25.00", "1.10"]},
            "unit_price is not a decimal with at most 5 places",
        ),
        ({"amount": ["451.505", "100.00", "1.10"]}, "amount is not a whole number of cents"),
        ({"amount_cents": [45151, 10000, 110]}, "amount_cents does not match amount"),
        (
            {
                "amount": ["-1.00", "100.00", "1.10"],
                "amount_cents": [-100, 10000, 110],
                "qty": ["1", "4", "1"],
                "unit_price": ["-1.00", "25.00", "1.10"],
            },
            "greater_than_or_equal_to(0)",
        ),
        ({"item_ref": ["", "2", "3"]}, "item_ref"),
        ({"item_ref": [None, "2", "3"]}, "item_ref"),
        ({"item_name": [None, "Telecom Services", "E911 Fee"]}, "item_name"),
        ({"line_kind": ["item", "fee", "tax"]}, "isin"),
        ({"doc_number": ["RV-" + "9" * 19] * 3}, "str_length"),
    ],
)
def test_invoice_payload_lines_fail(over: dict[str, list[Any]], text: str) -> None:
    fails(InvoicePayloadLines, lines_df(**over), text)


# ----- BillTotals -----------------------------------------------------------------------------------


def totals_df(**over: list[Any]) -> pd.DataFrame:
    data: dict[str, list[Any]] = {
        "bill_id": [10, 11],
        "lines_cents": [55260, 1000],
        "tax_lines_cents": [110, 0],
        "total_tax_cents": [0, 50],
        "invoice_amount_cents": [55260, 1050],
        "charge_tax_cents": [110, 50],
    }
    data.update(over)
    return pd.DataFrame(data)


def test_bill_totals_pass() -> None:
    BillTotals.validate(totals_df(), lazy=True)


@pytest.mark.parametrize(
    ("over", "text"),
    [
        ({"invoice_amount_cents": [55261, 1050]}, "invoice lines (+ TotalTax) != Rev.io invoice_amount"),
        ({"charge_tax_cents": [111, 50]}, "invoice tax != sum of the bill's charge taxes"),
        ({"bill_id": [10, 10]}, "bill_id"),
    ],
)
def test_bill_totals_fail(over: dict[str, list[Any]], text: str) -> None:
    fails(BillTotals, totals_df(**over), text)


# ----- frames built from real payloads --------------------------------------------------------------


def test_frames_from_payloads_validate(cfg: MappingConfig) -> None:
    types = {12: normalize_product_type({"product_type_id": 12, "product_type_code": "USAGE"}, cfg)}
    raw_charges = [
        {
            "charge_id": 1,
            "quantity": 48,
            "product_amount": "451.50",
            "tax_amount": "3.10",
            "tax_class_id": 302,
        },
        {
            "charge_id": 2,
            "quantity": 3,
            "rate": "0.333333",
            "product_amount": "1.00",
            "tax_amount": "0.05",
            "tax_class_id": 101,
        },
    ]
    charges = [
        normalize_charge({"bill_id": 10, "customer_id": 7, "product_type_id": 12, **c}, types)
        for c in raw_charges
    ]
    bill = normalize_bill(
        {"bill_id": 10, "customer_id": 7, "created_date": "2024-03-01", "invoice_amount": Decimal("455.65")}
    )
    refs = {name: "1" for name in cfg.items}
    payload = invoice_payload(bill, charges, customer_ref="5", item_refs=refs, cfg=cfg)
    lines = invoice_lines_frame([payload], cfg)
    assert list(lines["line_kind"]) == ["item", "item", "tax", "tax"]
    assert list(lines["qty"]) == ["48", "1", "1", "1"] and lines["unit_price"].iloc[0] == "9.40625"
    InvoicePayloadLines.validate(lines, lazy=True)
    totals = bill_totals_frame([payload], [bill], charges, cfg)
    assert totals.iloc[0].to_dict() == {
        "bill_id": 10,
        "lines_cents": 45565,
        "tax_lines_cents": 315,
        "total_tax_cents": 0,
        "invoice_amount_cents": 45565,
        "charge_tax_cents": 315,
    }
    BillTotals.validate(totals, lazy=True)
    ChargeLines.validate(pd.DataFrame(charges), lazy=True)

    override = cfg.model_copy(update={"taxes": cfg.taxes.model_copy(update={"mode": "total_tax_override"})})
    payload = invoice_payload(bill, charges, customer_ref="5", item_refs=refs, cfg=override)
    totals = bill_totals_frame([payload], pd.DataFrame([bill]), pd.DataFrame(charges), override)
    assert totals.iloc[0]["total_tax_cents"] == 315 and totals.iloc[0]["tax_lines_cents"] == 0
    BillTotals.validate(totals, lazy=True)

    # a tampered payload is caught by the schemas
    payload["Line"][0]["SalesItemLineDetail"]["UnitPrice"] = Decimal("9.41")
    payload["Line"][0]["Amount"] = Decimal("451.51")
    fails(InvoicePayloadLines, invoice_lines_frame([payload], override), "qty * unit_price != amount")
    fails(
        BillTotals,
        bill_totals_frame([payload], [bill], charges, override),
        "invoice lines (+ TotalTax) != Rev.io invoice_amount",
    )


def test_validate_bill_totals_from_lines_frame(cfg: MappingConfig) -> None:
    types = {12: normalize_product_type({"product_type_id": 12, "product_type_code": "MRC"}, cfg)}
    raw = {"charge_id": 1, "bill_id": 10, "customer_id": 7, "product_type_id": 12, "quantity": 1}
    charges = [
        normalize_charge({**raw, "product_amount": "20.00", "tax_amount": "1.50", "tax_class_id": 201}, types)
    ]
    bill = normalize_bill(
        {"bill_id": 10, "customer_id": 7, "created_date": "2024-03-01", "invoice_amount": "21.50"}
    )
    refs = {name: "1" for name in cfg.items}
    override = cfg.model_copy(update={"taxes": cfg.taxes.model_copy(update={"mode": "total_tax_override"})})
    for mapping in (cfg, override):
        payload = invoice_payload(bill, charges, customer_ref="5", item_refs=refs, cfg=mapping)
        # the asset check's call pattern: lines frame without cfg, bills only
        totals = validate_bill_totals(invoice_lines_frame([payload]), [bill])
        assert totals.iloc[0]["lines_cents"] + totals.iloc[0]["total_tax_cents"] == 2150
        # with cfg and charges the tax rule is checked too
        validate_bill_totals(invoice_lines_frame([payload], mapping), [bill], charges)
    short = {**bill, "invoice_amount_cents": 2151}
    with pytest.raises(pandera.errors.SchemaErrors, match="invoice lines"):
        validate_bill_totals(invoice_lines_frame([payload]), [short])
    wrong_tax = [{**charges[0], "tax_amount_cents": 149}]
    with pytest.raises(pandera.errors.SchemaErrors, match="invoice tax != sum"):
        validate_bill_totals(invoice_lines_frame([payload], override), [bill], wrong_tax)
