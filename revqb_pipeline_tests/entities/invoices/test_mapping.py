"""Invoice payloads: totals equal Rev.io bill totals in both tax modes; Qty x UnitPrice == Amount."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from revqb_pipeline.entities.invoices.mapping import invoice_payload, invoice_update_payload, line_qty_price
from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.mapping.normalize import normalize_bill, normalize_charge, normalize_product_type


@pytest.fixture(scope="module")
def cfg() -> MappingConfig:
    return load_mapping(None)


@pytest.fixture(scope="module")
def override_cfg(cfg: MappingConfig) -> MappingConfig:
    return cfg.model_copy(update={"taxes": cfg.taxes.model_copy(update={"mode": "total_tax_override"})})


@pytest.fixture(scope="module")
def types(cfg: MappingConfig) -> dict[int, dict[str, Any]]:
    raws = [
        {"product_type_id": 12, "product_type_code": "MRC"},
        {"product_type_id": 13, "product_type_code": "NRC"},
        {"product_type_id": 14, "product_type_code": "USAGE"},
    ]
    return {r["product_type_id"]: normalize_product_type(r, cfg) for r in raws}


@pytest.fixture(scope="module")
def refs(cfg: MappingConfig) -> dict[str, str]:
    return {name: str(100 + i) for i, name in enumerate(cfg.items)}


def make_charge(types: dict[int, dict[str, Any]], cid: int, **over: Any) -> dict[str, Any]:
    raw = {
        "charge_id": cid,
        "bill_id": 90211,
        "customer_id": 5120,
        "product_id": 310,
        "product_type_id": 12,
        "description": f"Charge {cid}",
        "quantity": 1,
        "rate": 10,
        "product_amount": 10,
        "tax_amount": 0,
        "amount": 10,
        "geocode": "US130890000",
        "start_date": "2024-03-01T00:00:00",
        "end_date": "2024-03-31T00:00:00",
    }
    raw.update(over)
    return normalize_charge(raw, types)


def make_bill(charges: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    total = sum(Decimal(c["amount_cents"]) for c in charges) / 100
    raw = {
        "bill_id": 90211,
        "customer_id": 5120,
        "created_date": "2024-03-01T02:14:09",
        "due_date": "2024-03-21T00:00:00",
        "invoice_amount": total,
    }
    raw.update(over)
    return normalize_bill(raw)


@pytest.fixture
def charges(types: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        # deliberately out of order: lines follow charge_id
        make_charge(
            types,
            5,
            product_type_id=14,
            quantity=48,
            rate=None,
            product_amount="451.50",
            tax_amount="31.61",
            amount="483.11",
            tax_class_id=101,
        ),
        make_charge(
            types,
            3,
            quantity=4,
            rate=25,
            product_amount=100,
            tax_amount="8.62",
            amount="108.62",
            tax_class_id=201,
        ),
        make_charge(
            types,
            4,
            quantity=3,
            rate="0.333333",
            product_amount="1.00",
            tax_amount="0.07",
            amount="1.07",
            tax_class_id=201,
        ),
        make_charge(
            types, 6, product_type_id=13, quantity=1, rate=75, product_amount=75, amount=75, end_date=None
        ),
        make_charge(
            types,
            7,
            quantity=2,
            rate=5,
            product_amount=10,
            tax_amount="1.10",
            amount="11.10",
            tax_class_id=302,
            geocode="US480010000",
        ),
    ]


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


def check_6070(payload: dict[str, Any]) -> None:
    for line in payload["Line"]:
        d = line["SalesItemLineDetail"]
        assert Decimal(d["Qty"]) * Decimal(d["UnitPrice"]) == Decimal(line["Amount"]), line
        assert Decimal(line["Amount"]) == Decimal(line["Amount"]).quantize(Decimal("0.01"))
        assert Decimal(d["UnitPrice"]) == Decimal(d["UnitPrice"]).quantize(Decimal("0.00001"))
        assert d["TaxCodeRef"] == {"value": "NON"}


def test_invoice_lines_mode(cfg: MappingConfig, charges: list[dict[str, Any]], refs: dict[str, str]) -> None:
    bill = make_bill(charges)
    assert bill["invoice_amount_cents"] == 67890
    p = invoice_payload(bill, charges, customer_ref="58", item_refs=refs, cfg=cfg)
    assert p["DocNumber"] == "RV-90211" and p["TxnDate"] == "2024-03-01" and p["DueDate"] == "2024-03-21"
    assert p["CustomerRef"] == {"value": "58"} and p["PrivateNote"] == "revio:bill:90211"
    assert "TxnTaxDetail" not in p
    lines = p["Line"]
    assert [ln["Description"] for ln in lines] == [
        "Charge 3",
        "Charge 4",
        "Charge 5",
        "Charge 6",
        "Charge 7",
        "Federal Universal Service Fund",
        "State Sales Tax",
        "E911 Fee",
    ]
    amounts = [ln["Amount"] for ln in lines]
    assert amounts == [
        Decimal(x) for x in ("100.00", "1.00", "451.50", "75.00", "10.00", "31.61", "8.69", "1.10")
    ]
    assert sum(cents(a) for a in amounts) == bill["invoice_amount_cents"]
    q = [(ln["SalesItemLineDetail"]["Qty"], ln["SalesItemLineDetail"]["UnitPrice"]) for ln in lines[:5]]
    assert q == [
        (Decimal(4), Decimal("25.00")),
        (Decimal(1), Decimal("1.00")),  # 3 x 0.333333 != 1.00 and 1/3 is not exact at 5 places
        (Decimal(48), Decimal("9.40625")),  # 451.50 / 48 exactly
        (Decimal(1), Decimal("75.00")),
        (Decimal(2), Decimal("5.00")),
    ]
    items = [ln["SalesItemLineDetail"]["ItemRef"] for ln in lines]
    assert items[0] == {"value": refs["Telecom Services"], "name": "Telecom Services"}
    assert items[2]["name"] == "Usage" and items[3]["name"] == "Installation"
    assert [i["name"] for i in items[5:]] == ["Federal USF Surcharge", "State Sales Tax", "E911 Fee"]
    assert lines[3]["SalesItemLineDetail"]["ServiceDate"] == "2024-03-01"  # start date when no end date
    assert lines[0]["SalesItemLineDetail"]["ServiceDate"] == "2024-03-31"
    check_6070(p)


def test_invoice_total_tax_override_mode(
    override_cfg: MappingConfig, charges: list[dict[str, Any]], refs: dict[str, str]
) -> None:
    bill = make_bill(charges)
    p = invoice_payload(bill, charges, customer_ref="58", item_refs=refs, cfg=override_cfg)
    assert len(p["Line"]) == 5
    assert p["TxnTaxDetail"] == {"TotalTax": Decimal("41.40")}
    total = sum(cents(ln["Amount"]) for ln in p["Line"]) + cents(p["TxnTaxDetail"]["TotalTax"])
    assert total == bill["invoice_amount_cents"] == 67890
    check_6070(p)


@pytest.mark.parametrize(
    ("qty", "rate", "amount", "expected"),
    [
        ("48", None, "451.50", ("48", "9.40625")),
        ("3", "0.333333", "1.00", ("1", "1.00")),
        ("3", "0.33", "1.00", ("1", "1.00")),
        ("3", "0.3333333", "0.99", ("3", "0.33")),
        ("1200", "0.0125", "15.00", ("1200", "0.0125")),
        ("7", "0.0123456", "0.09", ("1", "0.09")),
        ("2.5", "4", "10.00", ("2.5", "4.00")),
        ("0", "5", "0.00", ("0", "5.00")),
        (None, None, "12.34", ("1", "12.34")),
        ("4", "26.50", "100.00", ("4", "25.00")),  # tax-included: product amount below qty x rate
    ],
)
def test_qty_unit_price_is_exact(
    qty: str | None, rate: str | None, amount: str, expected: tuple[str, str]
) -> None:
    q, p = line_qty_price(qty, rate, Decimal(amount))
    assert (q, p) == (Decimal(expected[0]), Decimal(expected[1]))
    assert q * p == Decimal(amount)


def test_negative_charge_is_rejected(
    cfg: MappingConfig, types: dict[int, dict[str, Any]], refs: dict[str, str]
) -> None:
    chs = [make_charge(types, 1), make_charge(types, 2, product_amount=-5, amount=-5, rate=-5)]
    with pytest.raises(
        RecordError, match=r"charge 2 is negative \(-5.00\); negative charges belong on a credit memo"
    ):
        invoice_payload(make_bill(chs), chs, customer_ref="58", item_refs=refs, cfg=cfg)


def test_total_mismatch_is_rejected(
    cfg: MappingConfig, types: dict[int, dict[str, Any]], refs: dict[str, str]
) -> None:
    chs = [make_charge(types, 1)]
    bill = make_bill(chs, invoice_amount="10.01")
    with pytest.raises(RecordError) as err:
        invoice_payload(bill, chs, customer_ref="58", item_refs=refs, cfg=cfg)
    assert err.value.reason == "bill 90211: invoice lines total 10.00 but Rev.io bill total is 10.01"


def test_doc_number_length(
    cfg: MappingConfig, types: dict[int, dict[str, Any]], refs: dict[str, str]
) -> None:
    chs = [make_charge(types, 1, bill_id=123456789012345678)]
    bill = make_bill(chs, bill_id=123456789012345678)
    p = invoice_payload(bill, chs, customer_ref="58", item_refs=refs, cfg=cfg)
    assert p["DocNumber"] == "RV-123456789012345678" and len(p["DocNumber"]) == 21
    chs = [make_charge(types, 1, bill_id=1234567890123456789)]
    bill = make_bill(chs, bill_id=1234567890123456789)
    with pytest.raises(RecordError, match="has 22 characters but QuickBooks allows 21"):
        invoice_payload(bill, chs, customer_ref="58", item_refs=refs, cfg=cfg)


def test_structural_errors(
    cfg: MappingConfig, types: dict[int, dict[str, Any]], refs: dict[str, str]
) -> None:
    chs = [make_charge(types, 1)]
    bill = make_bill(chs)
    with pytest.raises(RecordError, match="has no charges"):
        invoice_payload(bill, [], customer_ref="58", item_refs=refs, cfg=cfg)
    other = [make_charge(types, 2, bill_id=1)]
    with pytest.raises(RecordError, match="charge 2 belongs to bill 1"):
        invoice_payload(bill, other, customer_ref="58", item_refs=refs, cfg=cfg)
    with pytest.raises(MappingMissing) as err:
        invoice_payload(bill, chs, customer_ref="58", item_refs={}, cfg=cfg)
    assert err.value.kind == "qbo_item" and err.value.key == "Telecom Services"
    taxed = [make_charge(types, 3, tax_amount=1, amount=11, tax_class_id=999)]
    with pytest.raises(MappingMissing, match="no mapping for tax class 999"):
        invoice_payload(make_bill(taxed), taxed, customer_ref="58", item_refs=refs, cfg=cfg)


def test_tax_item_refs_are_separate(
    cfg: MappingConfig, types: dict[int, dict[str, Any]], refs: dict[str, str]
) -> None:
    chs = [make_charge(types, 1, tax_amount="0.50", amount="10.50", tax_class_id=101)]
    p = invoice_payload(
        make_bill(chs),
        chs,
        customer_ref="58",
        item_refs={"Telecom Services": "1"},
        cfg=cfg,
        tax_item_refs={"Federal USF Surcharge": "900"},
    )
    assert p["Line"][1]["SalesItemLineDetail"]["ItemRef"] == {"value": "900", "name": "Federal USF Surcharge"}


def test_update_payload(cfg: MappingConfig, charges: list[dict[str, Any]], refs: dict[str, str]) -> None:
    desired = invoice_payload(make_bill(charges), charges, customer_ref="58", item_refs=refs, cfg=cfg)
    # what QBO sends back: ids, line numbers, ref names, floats, a subtotal line, computed totals
    existing: dict[str, Any] = {
        **desired,
        "Id": "130",
        "SyncToken": "2",
        "TotalAmt": 678.9,
        "Balance": 678.9,
        "CustomerRef": {"value": "58", "name": "Acme"},
        "TxnTaxDetail": {"TotalTax": 0},
        "MetaData": {"CreateTime": "2024-03-01T00:00:00-08:00"},
        "Line": [
            {
                **ln,
                "Id": str(i),
                "LineNum": i,
                "Amount": float(ln["Amount"]),
                "SalesItemLineDetail": {
                    **ln["SalesItemLineDetail"],
                    "Qty": float(ln["SalesItemLineDetail"]["Qty"]),
                    "UnitPrice": float(ln["SalesItemLineDetail"]["UnitPrice"]),
                },
            }
            for i, ln in enumerate(desired["Line"], 1)
        ]
        + [{"Amount": 678.9, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}],
    }
    assert invoice_update_payload(existing, desired) is None
    changed = [dict(ln) for ln in existing["Line"]]
    changed[0] = {**changed[0], "Amount": 99.0}
    update = invoice_update_payload({**existing, "Line": changed, "DueDate": "2024-04-01"}, desired)
    assert update is not None
    assert set(update) == {"Id", "SyncToken", "sparse", "Line", "DueDate"}
    assert (
        update["Line"] == desired["Line"] and update["DueDate"] == "2024-03-21" and update["sparse"] is True
    )
    assert update["Id"] == "130" and update["SyncToken"] == "2"


def test_payload_hash_is_stable(
    cfg: MappingConfig, charges: list[dict[str, Any]], refs: dict[str, str]
) -> None:
    bill = make_bill(charges)
    a = invoice_payload(bill, charges, customer_ref="58", item_refs=refs, cfg=cfg)
    b = invoice_payload(bill, list(reversed(charges)), customer_ref="58", item_refs=refs, cfg=cfg)
    assert payload_hash(a) == payload_hash(b)
    c = invoice_payload(bill, charges, customer_ref="59", item_refs=refs, cfg=cfg)
    assert payload_hash(a) != payload_hash(c)
