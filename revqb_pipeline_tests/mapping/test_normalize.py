"""Rev.io models and normalizers: good records to the cent, malformed records with readable reasons."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.hashing import payload_hash, record_hash
from revqb_pipeline.mapping.normalize import (
    bill_date_of,
    normalize_bill,
    normalize_charge,
    normalize_credit,
    normalize_customer,
    normalize_payment,
    normalize_product,
    normalize_product_type,
)
from revqb_pipeline.models.revio import RevioCharge, RevioCustomer


@pytest.fixture(scope="module")
def cfg() -> MappingConfig:
    return load_mapping(None)


@pytest.fixture(scope="module")
def product_types(cfg: MappingConfig) -> dict[int, dict[str, Any]]:
    raws = [
        {"product_type_id": 12, "product_type_code": "MRC", "description": "Monthly", "one_time_flag": False},
        {"product_type_id": 13, "product_type_code": "NRC", "one_time_flag": True},
        {"product_type_id": 14, "product_type_code": "USAGE"},
    ]
    return {r["product_type_id"]: normalize_product_type(r, cfg) for r in raws}


def charge(**over: Any) -> dict[str, Any]:
    base = {
        "charge_id": 771001,
        "bill_id": 90211,
        "customer_id": 5120,
        "service_product_id": 44120,
        "product_id": 310,
        "product_type_id": 12,
        "description": "Hosted PBX seat",
        "quantity": 4,
        "rate": 25.00,
        "product_amount": 100.00,
        "tax_amount": 8.62,
        "amount": 108.62,
        "is_tax_included": False,
        "tax_class_id": 201,
        "geocode": "US130890000",
        "is_prorated": False,
        "created_date": "2024-02-28T23:05:11",
        "start_date": "2024-03-01T00:00:00",
        "end_date": "2024-03-31T00:00:00",
    }
    base.update(over)
    return base


def bill(**over: Any) -> dict[str, Any]:
    base = {
        "bill_id": 90211,
        "parent_bill_id": None,
        "bill_type": "NORMAL",
        "customer_id": 5120,
        "created_date": "2024-03-01T02:14:09",
        "due_date": "2024-03-21T00:00:00",
        "invoice_amount": 118.62,
        "credit_memo_amount": 10.00,
        "amount_due": 108.62,
    }
    base.update(over)
    return base


# ----- models ---------------------------------------------------------------------------------------


def test_models_coerce_geocode_fields_and_decimals() -> None:
    c = RevioCharge.model_validate({"charge_id": "7", "geocode": 130890000, "amount": 0.1, "unknown": 1})
    assert c.charge_id == 7 and c.geocode == "130890000"
    assert c.amount == Decimal("0.1")
    cust = RevioCustomer.model_validate(
        {"customer_id": 1, "fields": {"field_id": 3, "label": "x", "value": 5}}
    )
    assert cust.fields[0].field_id == 3 and cust.fields[0].value == "5"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"customer_id": 1, "billing_address": {"company_name": " Acme LLC "}}, "Acme LLC"),
        (
            {"customer_id": 1, "listing_address": {"company_name": "List Co"}, "service_address": {}},
            "List Co",
        ),
        ({"customer_id": 1, "service_address": {"first_name": "Zoë", "last_name": "O'Neil"}}, "Zoë O'Neil"),
        ({"customer_id": 42}, "Rev.io customer 42"),
    ],
)
def test_display_name_rules(raw: dict[str, Any], expected: str) -> None:
    assert RevioCustomer.model_validate(raw).display_name() == expected


# ----- customers / products -------------------------------------------------------------------------


def test_normalize_customer() -> None:
    raw = {
        "customer_id": 5120,
        "account_number": "A-5120",
        "email": " ap@acme.example ",
        "status": "open",
        "suspended": False,
        "billing_address": {
            "company_name": "Acme Telecom LLC",
            "first_name": "Ann",
            "last_name": "Lee",
            "line_1": "1 Main St",
            "city": "Austin",
            "state_or_province": "TX",
            "postal_code": "78701",
            "postal_code_extension": "1234",
            "country_code": 235,
        },
        "finance": {"amount_due": 108.62, "amount_overdue": 0, "balance": "-5.10"},
        "updated_date": "2024-03-02T10:00:00Z",
    }
    row = normalize_customer(raw)
    assert row["display_name"] == "Acme Telecom LLC"
    assert (row["first_name"], row["last_name"], row["email"]) == ("Ann", "Lee", "ap@acme.example")
    assert row["bill_postal_code"] == "78701-1234" and row["bill_country"] == "235"
    assert (row["amount_due_cents"], row["amount_overdue_cents"], row["balance_cents"]) == (10862, 0, -510)
    assert row["status"] == "OPEN" and row["suspended"] is False
    assert row["updated_date"] == "2024-03-02T10:00:00+00:00"
    assert row["record_hash"] == record_hash(raw)
    assert json.loads(row["raw_json"])["customer_id"] == 5120


def test_normalize_customer_errors() -> None:
    with pytest.raises(RecordError, match="has no customer id"):
        normalize_customer({"email": "x@y.com"})
    with pytest.raises(RecordError, match=r"customer 9: .*balance 1\.005 has a fraction of a cent"):
        normalize_customer({"customer_id": 9, "finance": {"balance": "1.005"}})
    with pytest.raises(RecordError, match="not a JSON object"):
        normalize_customer(["nope"])  # type: ignore[arg-type]


def test_normalize_product_and_type(cfg: MappingConfig) -> None:
    row = normalize_product(
        {"product_id": 418, "product_type_id": 12, "description": "Fax to email", "rate": 9.990}
    )
    assert row["rate"] == "9.99" and row["active"] is True
    t = normalize_product_type(
        {"product_type_id": 99, "product_type_code": "odd", "one_time_flag": True}, cfg
    )
    assert t["charge_kind"] == "one_time" and t["product_type_code"] == "ODD"
    t = normalize_product_type({"product_type_id": 98, "product_type_code": "FOO"}, cfg)
    assert t["charge_kind"] == "recurring"
    assert (
        normalize_product_type({"product_type_id": 14, "product_type_code": "usage"}, cfg)["charge_kind"]
        == "usage"
    )


# ----- bills ----------------------------------------------------------------------------------------


def test_normalize_bill() -> None:
    row = normalize_bill(bill())
    assert row["bill_date"] == "2024-03-01" and row["due_date"] == "2024-03-21"
    assert row["partition_key"] == "2024-03-01"
    assert (row["invoice_amount_cents"], row["credit_memo_amount_cents"], row["amount_due_cents"]) == (
        11862,
        1000,
        10862,
    )
    assert row["parent_bill_id"] is None and row["is_reversed"] is False
    assert normalize_bill(bill(), "2024-03-02")["partition_key"] == "2024-03-02"
    assert bill_date_of(bill(created_date="2024-03-31T23:59:59-05:00")) == date(2024, 3, 31)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"customer_id": None}, "bill 90211 has no customer"),
        ({"customer_id": 0}, "bill 90211 has no customer"),
        ({"bill_id": None}, "has no bill id"),
        ({"created_date": None}, "bill 90211 has no created date"),
        ({"created_date": "03/01/2024"}, "'03/01/2024' is not a date"),
        ({"invoice_amount": "12.345"}, "invoice amount 12.345 has a fraction of a cent"),
        ({"invoice_amount": "twelve"}, "'twelve' is not a number"),
        ({"invoice_amount": None}, "has no invoice amount"),
    ],
)
def test_normalize_bill_errors(over: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError) as err:
        normalize_bill(bill(**over))
    assert reason in err.value.reason


# ----- charges --------------------------------------------------------------------------------------


def test_normalize_charge(product_types: dict[int, dict[str, Any]]) -> None:
    row = normalize_charge(charge(), product_types, "2024-03-01")
    assert (row["product_amount_cents"], row["tax_amount_cents"], row["amount_cents"]) == (10000, 862, 10862)
    assert (row["quantity"], row["rate"]) == ("4", "25")
    assert (row["start_date"], row["end_date"]) == ("2024-03-01", "2024-03-31")
    assert row["charge_kind"] == "recurring" and row["geocode"] == "US130890000"
    assert row["partition_key"] == "2024-03-01"
    usage = normalize_charge(
        charge(
            product_type_id=14, quantity="1200", rate="0.0125", product_amount=15, tax_amount=0, amount=15
        ),
        product_types,
    )
    assert usage["charge_kind"] == "usage" and usage["quantity"] == "1200" and usage["rate"] == "0.0125"
    unposted = normalize_charge(charge(bill_id=0), product_types)
    assert unposted["bill_id"] is None


def test_charge_takes_product_type_from_product(product_types: dict[int, dict[str, Any]]) -> None:
    row = normalize_charge(
        charge(product_type_id=None), product_types, products={310: {"product_type_id": 13}}
    )
    assert row["product_type_id"] == 13 and row["charge_kind"] == "one_time"


def test_charge_missing_tax_and_product_amounts_are_derived(product_types: dict[int, dict[str, Any]]) -> None:
    row = normalize_charge(charge(tax_amount=None, product_amount=None, amount=10), product_types)
    assert (row["product_amount_cents"], row["tax_amount_cents"], row["amount_cents"]) == (1000, 0, 1000)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"charge_id": None}, "has no charge id"),
        ({"customer_id": None}, "charge 771001 has no customer"),
        (
            {"amount": 108.63},
            "charge 771001: amount 108.63 is not product amount 100.0 + tax 8.62 (= 108.62)",
        ),
        (
            {"amount": "10.001", "product_amount": None, "tax_amount": 0},
            "amount 10.001 has a fraction of a cent",
        ),
        ({"tax_amount": "abc"}, "tax_amount: 'abc' is not a number"),
        ({"quantity": -2}, "charge 771001 has a negative quantity (-2)"),
        ({"quantity": None}, "charge 771001 has no quantity"),
        ({"start_date": "31/02/2024"}, "start_date: '31/02/2024' is not a date"),
        ({"amount": None, "product_amount": None}, "charge 771001 has no amount"),
        ({"product_type_id": None}, "has no product type"),
    ],
)
def test_normalize_charge_errors(
    product_types: dict[int, dict[str, Any]], over: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RecordError) as err:
        normalize_charge(charge(**over), product_types)
    assert reason in err.value.reason


def test_charge_with_unknown_product_type_is_mapping_missing(
    product_types: dict[int, dict[str, Any]],
) -> None:
    with pytest.raises(MappingMissing) as err:
        normalize_charge(charge(product_type_id=77), product_types)
    assert err.value.kind == "product_type" and err.value.key == 77
    assert "product type 77" in err.value.reason


def test_negative_charge_is_kept_for_the_invoice_builder_to_reject(
    product_types: dict[int, dict[str, Any]],
) -> None:
    row = normalize_charge(
        charge(product_amount=-5, tax_amount=0, amount=-5, quantity=1, rate=-5), product_types
    )
    assert row["amount_cents"] == -500


# ----- credits --------------------------------------------------------------------------------------


def credit(**over: Any) -> dict[str, Any]:
    base = {
        "credit_memo_id": 3001,
        "customer_id": 5120,
        "bill_id": 90211,
        "atype": "MRC",
        "is_bad_debt": False,
        "description": "Outage credit",
        "quantity": 1,
        "rate": 10,
        "amount": 10.00,
        "product_amount": 9.20,
        "tax_amount": 0.80,
        "start_date": "2024-03-01T00:00:00",
        "end_date": "2024-03-31T00:00:00",
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "kind"),
    [
        ({}, "service_credit"),
        ({"atype": "fcc"}, "service_credit"),
        ({"atype": "OCC"}, "dispute"),
        ({"atype": "NRC"}, "promotion"),
        ({"atype": "ADJ"}, "adjustment"),
        ({"atype": "ADJ", "is_bad_debt": True}, "bad_debt"),
        ({"atype": "MRC", "description": "Customer DISPUTE of March usage"}, "dispute"),
    ],
)
def test_credit_kind(cfg: MappingConfig, over: dict[str, Any], kind: str) -> None:
    assert normalize_credit(credit(**over), "2024-03-01", cfg)["credit_kind"] == kind


def test_credit_negative_amounts_become_magnitudes(cfg: MappingConfig) -> None:
    row = normalize_credit(
        credit(amount=-10, product_amount=-9.2, tax_amount=-0.8, quantity=-1, rate=-10), None, cfg
    )
    assert (row["amount_cents"], row["product_amount_cents"], row["tax_amount_cents"]) == (1000, 920, 80)
    assert row["quantity"] == "1" and row["rate"] == "10"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"atype": "XYZ"}, "credit type 'XYZ' has no entry under credits.atype_kinds"),
        ({"atype": None}, "a credit with no credit type (atype) has no entry under credits.atype_kinds"),
        ({"customer_id": None}, "credit 3001 has no customer"),
        ({"amount": 10.01}, "credit 3001: amount 10.01 is not product amount 9.2 + tax 0.8"),
        ({"amount": 10, "product_amount": 11, "tax_amount": -1}, "must have the same sign"),
    ],
)
def test_credit_errors(cfg: MappingConfig, over: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordError) as err:
        normalize_credit(credit(**over), None, cfg)
    assert reason in err.value.reason


# ----- payments -------------------------------------------------------------------------------------


def test_normalize_payment() -> None:
    raw = {
        "payment_id": 601,
        "customer_id": 5120,
        "bill_id": 90211,
        "method": "ach",
        "amount": 108.62,
        "received_date": "2024-03-10T00:00:00",
        "created_date": "2024-03-10T08:00:00",
        "reference_number": "ACH-88123",
    }
    row = normalize_payment(raw, "2024-03-01")
    assert row["amount_cents"] == 10862 and row["method"] == "ACH" and row["received_date"] == "2024-03-10"
    assert row["refund_flag"] is False and row["bounced"] is False and row["original_payment_id"] is None
    refund = normalize_payment(
        {**raw, "payment_id": 602, "amount": -20, "refund_flag": True, "original_payment_id": 601}
    )
    assert refund["amount_cents"] == -2000 and refund["original_payment_id"] == 601
    no_received = normalize_payment({**raw, "received_date": None})
    assert no_received["received_date"] == "2024-03-10"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"customer_id": None}, "payment 601 has no customer"),
        ({"amount": None}, "payment 601 has no amount"),
        ({"amount": "1.999"}, "amount 1.999 has a fraction of a cent"),
        ({"received_date": None, "created_date": None}, "neither a received date nor a created date"),
    ],
)
def test_payment_errors(over: dict[str, Any], reason: str) -> None:
    raw = {"payment_id": 601, "customer_id": 5120, "amount": 5, "received_date": "2024-03-10"}
    raw.update(over)
    with pytest.raises(RecordError) as err:
        normalize_payment(raw)
    assert reason in err.value.reason


# ----- hashing --------------------------------------------------------------------------------------


def test_hashes_are_canonical() -> None:
    assert record_hash({"b": 1, "a": Decimal("1.50")}) == record_hash({"a": Decimal("1.50"), "b": 1})
    assert payload_hash({"Amount": Decimal("1.50")}) != payload_hash({"Amount": Decimal("1.5")})
    assert payload_hash({"x": [1, {"b": 2, "a": 1}]}) == payload_hash({"x": [1, {"a": 1, "b": 2}]})
