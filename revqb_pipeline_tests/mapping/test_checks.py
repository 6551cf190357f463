"""mapping/checks.py: completeness report and the mapping-aware pandera rules (pure, no sandbox)."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pandas as pd
import pandera.errors
import pytest
import yaml

from revqb_pipeline.entities.invoices.mapping import invoice_payload
from revqb_pipeline.entities.invoices.sync import symbolic_item_refs
from revqb_pipeline.mapping.checks import (
    MappedInvoiceLines,
    completeness_from_revio,
    invoice_check_failures,
    mapped_lines_frame,
    mapping_completeness,
    mapping_problems,
    unmapped_summary,
)
from revqb_pipeline.mapping.config import MappingConfig, load_mapping, parse_mapping


@pytest.fixture(scope="module")
def cfg() -> MappingConfig:
    return load_mapping(None)


def strict_cfg(base: MappingConfig, **taxes: Any) -> MappingConfig:
    """The default mapping with product rules per product id (no catch-all) and optional tax changes."""
    data = yaml.safe_load(base.model_dump_json(by_alias=True))
    data["products"] = {
        "rules": [
            {"product_id": 101, "item": "Telecom Services"},
            {"product_id": 201, "item": "Usage"},
        ]
    }
    data["taxes"].update(taxes)
    return parse_mapping(data)


TYPES = [
    {"product_type_id": 10, "product_type_code": "MRC", "description": "Recurring", "one_time_flag": False},
    {"product_type_id": 20, "product_type_code": "USAGE", "description": "Usage", "one_time_flag": False},
    {"product_type_id": 40, "product_type_code": "FAX", "description": "Fax", "one_time_flag": False},
]
PRODUCTS = [
    {"product_id": 101, "product_type_id": 10, "description": "PBX Seat", "tax_class_id": 302},
    {"product_id": 201, "product_type_id": 20, "description": "LD Minutes", "tax_class_id": 101},
    {"product_id": 418, "product_type_id": 40, "description": "Fax to email", "tax_class_id": 999},
    {"product_id": 419, "product_type_id": 40, "description": "Fax later", "tax_class_id": None},
]


def raw_charge(charge_id: int, product_id: int, ptid: int, tax: str, tax_class: int | None, geo: str) -> dict:
    return {
        "charge_id": charge_id,
        "bill_id": 5000 + charge_id,
        "customer_id": 7,
        "product_id": product_id,
        "product_type_id": ptid,
        "quantity": 1,
        "rate": "10.00",
        "product_amount": "10.00",
        "tax_amount": tax,
        "amount": str(Decimal("10.00") + Decimal(tax)),
        "tax_class_id": tax_class,
        "geocode": geo,
    }


def test_completeness_names_every_missing_mapping(cfg: MappingConfig) -> None:
    mapping = strict_cfg(cfg)
    report = completeness_from_revio(
        mapping,
        products=PRODUCTS,
        product_types=TYPES,
        charges=[
            raw_charge(1, 101, 10, "0.75", 302, "US130890000"),
            raw_charge(2, 418, 40, "0.50", 999, "US481230000"),
            raw_charge(3, 418, 40, "0.00", None, "US481230000"),
            raw_charge(4, 101, 77, "0.00", None, "US481230000"),  # product type not in Rev.io's catalog
            raw_charge(5, 101, 10, "0.10", 101, "BAD"),  # unreadable geocode only matters per-state
        ],
        credits=[
            {"credit_memo_id": 9, "customer_id": 7, "amount": "-5.00", "atype": "ZZZ", "description": "x"},
            {"credit_memo_id": 10, "customer_id": 7, "amount": "-5.00", "atype": "MRC", "description": "x"},
        ],
        payments=[
            {
                "payment_id": 1,
                "customer_id": 7,
                "amount": "1.00",
                "method": "BITCOIN",
                "received_date": "2026-01-02",
            },
            {
                "payment_id": 2,
                "customer_id": 7,
                "amount": "1.00",
                "method": "ACH",
                "received_date": "2026-01-02",
            },
        ],
        payment_methods=[{"code": "ACH"}, {"code": "WIRE"}, {"code": "BITCOIN"}],
    )
    by_key = {(n.kind, n.key): n for n in report.missing}
    product = by_key[("product", "418")]
    assert product.records == 2 and "product 418 'Fax to email'" in product.message
    assert product.examples[0] == "charge 2 (bill 5002)"
    assert by_key[("product", "419")].records == 0  # only in the catalog
    assert by_key[("tax", "999")].records == 1
    assert "tax class 999" in by_key[("tax", "999")].message
    assert by_key[("product_type", "77")].records == 1
    assert by_key[("credit_type", "ZZZ")].examples == ["credit 9"]
    assert by_key[("payment_method", "BITCOIN")].examples == ["payment 1"]
    assert by_key[("payment_method", "WIRE")].records == 0
    assert not report.ok()
    assert {n.key for n in report.failing()} == {"418", "999", "77", "ZZZ", "BITCOIN"}
    assert {n.key for n in report.failing(strict=True)} >= {"419", "WIRE"}
    assert any("code FAX is not under product_type_codes" in n for n in report.notes)
    text = report.format()
    assert "[product 418]" in text and "NOT OK" in text and "charge 2 (bill 5002)" in text
    assert report.as_dict()["ok"] is False


def test_state_specific_tax_rules_are_checked_per_state(cfg: MappingConfig) -> None:
    data = yaml.safe_load(cfg.model_dump_json(by_alias=True))
    data["taxes"]["rules"] = [r for r in data["taxes"]["rules"] if r["tax_class_id"] != 201] + [
        {**next(r for r in cfg.taxes.model_dump()["rules"] if r["tax_class_id"] == 201), "jurisdiction": "GA"}
    ]
    mapping = parse_mapping(data)
    charges = [
        {"charge_id": 1, "bill_id": 1, "charge_kind": "one_time", "tax_amount_cents": 40, "tax_class_id": 201,
         "geocode": "US130890000"},
        {"charge_id": 2, "bill_id": 2, "charge_kind": "one_time", "tax_amount_cents": 62, "tax_class_id": 201,
         "geocode": "US482010000"},
        {"charge_id": 3, "bill_id": 3, "charge_kind": "one_time", "tax_amount_cents": 0, "tax_class_id": 201,
         "geocode": "US060370000"},  # no tax: nothing to map
    ]  # fmt: skip
    report = mapping_completeness(mapping, charges=charges)
    assert [(n.kind, n.key, n.records) for n in report.missing] == [("tax", "201/TX", 1)]
    assert "tax class 201 in TX" in report.missing[0].message
    # in total_tax_override mode tax rules are not used for posting, so nothing is missing
    override = parse_mapping({**data, "taxes": {**data["taxes"], "mode": "total_tax_override"}})
    assert mapping_completeness(override, charges=charges).ok()


def test_default_mapping_covers_the_sandbox_catalog(cfg: MappingConfig) -> None:
    report = completeness_from_revio(
        cfg,
        products=PRODUCTS[:2],
        product_types=TYPES[:2],
        charges=[raw_charge(1, 101, 10, "0.75", 302, "US130890000")],
        payments=[{"payment_id": 1, "customer_id": 7, "amount": "1.00", "method": "ACH",
                   "received_date": "2026-01-02"}],
    )  # fmt: skip
    assert report.ok(), report.format()
    assert any("mapped by charge_kind" in n for n in report.notes)


def test_revenue_rule_on_a_tax_item_is_a_problem(cfg: MappingConfig) -> None:
    assert mapping_problems(cfg) == []
    data = yaml.safe_load(cfg.model_dump_json(by_alias=True))
    data["products"]["rules"][0]["item"] = "E911 Fee"
    bad = parse_mapping(data)
    [problem] = mapping_problems(bad)
    assert problem.startswith("products.rules[0]: charges are posted to tax item 'E911 Fee'")
    assert not mapping_completeness(bad).ok()


def test_unmapped_summary_groups_bills_by_reason() -> None:
    reasons = {"12": "no mapping for product 418", "10": "no mapping for product 418", "11": "other"}
    assert unmapped_summary(reasons) == {"no mapping for product 418": ["10", "12"], "other": ["11"]}


# ----- MappedInvoiceLines / invoice_check_failures: each rule, failing and passing ---------------------


def bill_and_charges() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    charges = [
        {"charge_id": 1, "bill_id": 10, "customer_id": 7, "product_id": 101, "product_type_id": 10,
         "charge_kind": "recurring", "quantity": "2", "rate": "24.95", "product_amount_cents": 4990,
         "tax_amount_cents": 150, "amount_cents": 5140, "tax_class_id": 302, "geocode": "US130890000"},
        {"charge_id": 2, "bill_id": 10, "customer_id": 7, "product_id": 201, "product_type_id": 20,
         "charge_kind": "usage", "quantity": "48", "rate": None, "product_amount_cents": 45150,
         "tax_amount_cents": 3838, "amount_cents": 48988, "tax_class_id": 101, "geocode": "US130890000"},
    ]  # fmt: skip
    bill = {"bill_id": 10, "customer_id": 7, "bill_date": "2026-01-01", "invoice_amount_cents": 54128}
    return bill, charges


def payload_for(cfg: MappingConfig) -> dict[str, Any]:
    bill, charges = bill_and_charges()
    return invoice_payload(bill, charges, customer_ref="5", item_refs=symbolic_item_refs(cfg), cfg=cfg)


def checks_of(fc: pd.DataFrame) -> set[str]:
    return set(fc["check"])


@pytest.mark.parametrize("mode", ["lines", "total_tax_override"])
def test_built_payloads_pass_every_rule(cfg: MappingConfig, mode: str) -> None:
    mapping = cfg.model_copy(update={"taxes": cfg.taxes.model_copy(update={"mode": mode})})
    bill, charges = bill_and_charges()
    payload = payload_for(mapping)
    frame = mapped_lines_frame([payload], mapping)
    MappedInvoiceLines.validate(frame, lazy=True)
    assert invoice_check_failures([payload], [bill], charges, mapping).empty
    if mode == "lines":
        assert list(frame["line_kind"]) == ["item", "item", "tax", "tax"]
        assert set(frame.loc[frame["line_kind"] == "tax", "posting_account_type"]) == {
            "Other Current Liability"
        }


def mutate(payload: dict[str, Any], line: int, **detail: Any) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    ln = out["Line"][line]
    if "Amount" in detail:
        ln["Amount"] = detail.pop("Amount")
    ln["SalesItemLineDetail"].update(detail)
    return out


@pytest.mark.parametrize(
    ("change", "check"),
    [
        # every line maps to an item of the mapping file
        (lambda p: mutate(p, 0, ItemRef={"value": "item:Fax", "name": "Fax"}),
         "line item is not an item of the mapping file"),
        # ... and carries a QBO item id
        (lambda p: mutate(p, 0, ItemRef={"value": "", "name": "Telecom Services"}), "not_nullable"),
        # amounts are whole cents
        (lambda p: mutate(p, 0, Amount=Decimal("49.905"), Qty=Decimal(1), UnitPrice=Decimal("49.905")),
         "amount is not a whole number of cents"),
        # Qty x UnitPrice = Amount
        (lambda p: mutate(p, 0, UnitPrice=Decimal("24.96")), "qty * unit_price != amount (QBO error 6070)"),
        # no negative invoice lines (amount, and quantity)
        (lambda p: mutate(p, 0, Amount=Decimal("-49.90"), UnitPrice=Decimal("-24.95")),
         "greater_than_or_equal_to(0)"),
        (lambda p: mutate(p, 0, Qty=Decimal(-2), UnitPrice=Decimal("-24.95")),
         "qty is not a non-negative decimal (negative lines go to credit memos)"),
        # tax lines sum to the bill's tax (a tax line dropped, its amount moved onto a revenue line)
        (lambda p: {**mutate(p, 1, Amount=Decimal("489.88"), Qty=Decimal(1), UnitPrice=Decimal("489.88")),
                    "Line": [*mutate(p, 1, Amount=Decimal("489.88"), Qty=Decimal(1),
                                     UnitPrice=Decimal("489.88"))["Line"][:2], p["Line"][3]]},
         "invoice tax != sum of the bill's charge taxes"),
        # lines sum to the bill total
        (lambda p: mutate(p, 0, Amount=Decimal("50.90"), Qty=Decimal(1), UnitPrice=Decimal("50.90")),
         "invoice lines (+ TotalTax) != Rev.io invoice_amount"),
    ],
)  # fmt: skip
def test_each_payload_rule_fails_on_a_bad_frame(cfg: MappingConfig, change: Any, check: str) -> None:
    bill, charges = bill_and_charges()
    bad = change(payload_for(cfg))
    fc = invoice_check_failures([bad], [bill], charges, cfg)
    assert check in checks_of(fc), fc.to_string()
    assert set(fc["bill_id"].dropna()) == {10}


def test_tax_line_on_a_non_liability_item_fails(cfg: MappingConfig) -> None:
    """A tax item whose account is not a liability (possible only if the file is bypassed) is caught."""
    bill, charges = bill_and_charges()
    payload = payload_for(cfg)
    accounts = dict(cfg.accounts)
    accounts["Local Telecom Taxes Payable"] = accounts["Usage Revenue"]  # now an Income account
    broken = cfg.model_construct(**{**dict(cfg), "accounts": accounts})
    frame = mapped_lines_frame([payload], broken)
    with pytest.raises(pandera.errors.SchemaErrors, match="does not post to a liability account"):
        MappedInvoiceLines.validate(frame, lazy=True)
    fc = invoice_check_failures([payload], [bill], charges, broken)
    assert "tax line's item does not post to a liability account" in checks_of(fc)


def test_staged_charge_rule_is_part_of_the_check(cfg: MappingConfig) -> None:
    bill, charges = bill_and_charges()
    payload = payload_for(cfg)
    bad = [{**charges[0], "amount_cents": 5141}, charges[1]]
    fc = invoice_check_failures([payload], [bill], bad, cfg)
    assert "amount_cents != product_amount_cents + tax_amount_cents" in checks_of(fc)
    assert set(fc["schema"]) == {"ChargeLines"}


def test_revenue_posted_to_a_tax_item_fails_the_totals(cfg: MappingConfig) -> None:
    """The mapping mistake the blocking e2e test uses: revenue lines on a tax item break the tax total."""
    data = yaml.safe_load(cfg.model_dump_json(by_alias=True))
    rules = data["products"]["rules"]
    data["products"]["rules"] = [{"charge_kind": "recurring", "item": "E911 Fee"}, *rules[1:]]
    bad = parse_mapping(data)
    bill, charges = bill_and_charges()
    fc = invoice_check_failures([payload_for(bad)], [bill], charges, bad)
    assert checks_of(fc) == {"invoice tax != sum of the bill's charge taxes"}
