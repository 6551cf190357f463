"""Seeded Rev.io data generator: determinism, money invariants to the cent, and scenario coverage."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest

from revqb_sandbox.revio.catalog import TAX_CLASSES, q2
from revqb_sandbox.revio.generator import SPECIAL_NAMES, generate
from revqb_sandbox.revio.state import RevioDataset

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def year() -> RevioDataset:
    return generate(seed=11, customers=40, start=date(2026, 1, 1), months=12)


def test_same_seed_gives_byte_identical_data_and_other_seeds_differ() -> None:
    a = generate(seed=3, customers=20, months=3).to_json()
    assert a == generate(seed=3, customers=20, months=3).to_json()
    assert a != generate(seed=4, customers=20, months=3).to_json()


def _money_fields_have_two_places(rec: dict, keys: tuple[str, ...]) -> bool:
    return all(rec[k] is None or rec[k].as_tuple().exponent == -2 for k in keys)


def test_charge_and_bill_invariants_to_the_cent(year: RevioDataset) -> None:
    assert year.charges and year.bills
    for c in year.charges:
        assert _money_fields_have_two_places(c, ("amount", "product_amount", "tax_amount"))
        assert c["amount"] == c["product_amount"] + c["tax_amount"]
        if c["is_tax_included"]:
            assert c["amount"] == q2(c["rate"] * c["quantity"])
        else:
            assert c["product_amount"] == q2(c["rate"] * c["quantity"])
        assert c["tax_class_id"] is None or c["tax_class_id"] in TAX_CLASSES
        assert isinstance(c["geocode"], str) and re.fullmatch(r"US\d{2}\d{3}0000", c["geocode"])
    for c in year.credits:
        assert c["amount"] == c["product_amount"] + c["tax_amount"] and c["amount"] > 0
    charges, credits = defaultdict(Decimal), defaultdict(Decimal)
    for c in year.charges:
        if c["bill_id"] is not None:
            charges[c["bill_id"]] += c["amount"]
    for c in year.credits:
        if c["bill_id"] is not None:
            credits[c["bill_id"]] += c["amount"]
    for b in year.bills:
        assert _money_fields_have_two_places(b, ("invoice_amount", "credit_memo_amount", "amount_due"))
        assert b["invoice_amount"] == charges[b["bill_id"]]
        assert b["credit_memo_amount"] == credits[b["bill_id"]]
        assert b["amount_due"] == b["invoice_amount"] - b["credit_memo_amount"]
        assert b["fields"][0]["label"] == "QBO Invoice Id"


def test_ids_follow_creation_time(year: RevioDataset) -> None:
    for recs in (year.bills, year.charges, year.credits, year.payments, year.customers):
        stamps = [r["created_date"] for r in recs]
        assert stamps == sorted(stamps)


def test_customers_include_the_awkward_cases() -> None:
    ds = generate(seed=5, customers=25)
    names = [c["billing_address"]["company_name"] for c in ds.customers]
    assert set(SPECIAL_NAMES) <= set(names)
    assert any("\\" in n for n in names) and any("'" in n for n in names) and any("é" in n for n in names)
    emails = [c["email"] for c in ds.customers]
    assert None in emails
    assert any(emails.count(e) == 2 for e in emails if e)
    assert all(
        isinstance(c["fields"], list) and c["fields"][0]["label"] == "QBO Customer Id" for c in ds.customers
    )
    assert len({c["account_number"] for c in ds.customers if c["account_number"]}) == len(
        [c for c in ds.customers if c["account_number"]]
    )


def test_catalog_product_type_codes() -> None:
    ds = generate(customers=2)
    codes = {pt["product_type_code"]: pt["one_time_flag"] for pt in ds.product_types}
    assert codes == {"MRC": False, "USAGE": False, "NRC": True}
    types = {pt["product_type_id"]: pt["product_type_code"] for pt in ds.product_types}
    descriptions = {types[p["product_type_id"]] + ":" + p["description"] for p in ds.products}
    assert {
        "MRC:Hosted PBX Seat",
        "MRC:SIP Trunk Channel",
        "USAGE:International Minutes",
        "NRC:Installation",
    } <= (descriptions)


def test_year_covers_revenue_and_collections_scenarios(year: RevioDataset) -> None:
    types = {pt["product_type_id"]: pt["product_type_code"] for pt in year.product_types}
    bills = {b["bill_id"]: b for b in year.bills}
    prorated = [c for c in year.charges if c["is_prorated"]]
    assert prorated
    for c in prorated:
        days = (date.fromisoformat(c["end_date"][:10]) - date.fromisoformat(c["start_date"][:10])).days + 1
        assert days < 31 and c["proration"] is None
    # recurring charges whose service period is not the bill month (prorated catch-up, day-15 cycles)
    mrc = [c for c in year.charges if types[c["product_type_id"]] == "MRC" and c["bill_id"]]
    assert any(c["start_date"][:7] != bills[c["bill_id"]]["created_date"][:7] for c in mrc)
    assert any(c["start_date"][:7] != c["end_date"][:7] for c in mrc)
    usage = [c for c in year.charges if types[c["product_type_id"]] == "USAGE" and c["bill_id"]]
    assert usage and all(c["end_date"] < bills[c["bill_id"]]["created_date"] for c in usage)
    assert any(types[c["product_type_id"]] == "NRC" for c in year.charges)
    assert any(b["is_final_bill"] for b in year.bills)
    assert any(c["status"] == "CLOSED" and c["close_date"] for c in year.customers)
    assert any(c["fields"][1]["value"] for c in year.customers)  # a collection step was reached
    assert {c["atype"] for c in year.credits} >= {"MRC", "OCC", "NRC", "ADJ"}
    assert any(c["is_bad_debt"] for c in year.credits)
    pays = year.payments
    assert {p["method"] for p in pays} == {"CREDIT_CARD", "ACH", "CHECK"}
    bounced = [p for p in pays if p["bounced"] and p["original_payment_id"] is None]
    assert bounced
    for p in bounced:
        rev = [r for r in pays if r["original_payment_id"] == p["payment_id"] and not r["refund_flag"]]
        assert len(rev) == 1 and rev[0]["amount"] == -p["amount"]
    assert any(p["refund_flag"] and p["amount"] < 0 and p["original_payment_id"] for p in pays)
    # over- and partial payments against a bill
    paid = defaultdict(Decimal)
    for p in pays:
        if p["bill_id"] and not p["refund_flag"] and p["original_payment_id"] is None:
            paid[p["bill_id"]] += p["amount"]
    assert any(v > bills[b]["amount_due"] for b, v in paid.items())
    assert any(0 < v < bills[b]["amount_due"] for b, v in paid.items())


def test_bills_false_gives_customers_and_catalog_only() -> None:
    ds = generate(customers=6, bills=False)
    assert len(ds.customers) == 6 and ds.products and ds.service_products
    assert not (ds.bills or ds.charges or ds.credits or ds.payments)
    assert ds.clock == "2026-01-01T00:00:00"
