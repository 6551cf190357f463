"""Pure payment/credit decisions, allocation and payloads (no I/O)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from revqb_pipeline.entities.payments.credit_mapping import credit_memo_payload, credit_memo_total_cents
from revqb_pipeline.entities.payments.mapping import (
    allocate,
    allocate_bill,
    credit_application_payload,
    is_voided,
    markers_in,
    payment_payload,
    payment_update_payload,
    plan_payments,
)
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.mapping.errors import MappingMissing

CFG = load_mapping()


def pay(pid: int, cents: int, bill: int | None = 50001, **kw: Any) -> dict[str, Any]:
    row = {
        "payment_id": pid,
        "customer_id": 1001,
        "bill_id": bill,
        "method": "CHECK",
        "reference_number": f"CHK-{pid}",
        "amount_cents": cents,
        "received_date": "2026-01-10",
        "refund_flag": False,
        "bounced": False,
        "original_payment_id": None,
    }
    row.update(kw)
    return row


def test_decisions_for_every_kind() -> None:
    rows = [
        pay(1, 10000),
        pay(2, 5000, bounced=True),
        pay(3, -5000, bounced=True, original_payment_id=2),
        pay(4, 8000),
        pay(5, -3000, refund_flag=True, original_payment_id=4),
        pay(6, 2000),
        pay(7, -2000, refund_flag=True, original_payment_id=6),
        pay(8, -100),
        pay(9, -100, refund_flag=True),
    ]
    d = plan_payments(rows)
    assert d[1].action == "post" and d[1].net_cents == 10000
    assert d[2].action == "void"
    assert d[3].action == "fold" and d[3].original_payment_id == 2
    assert d[4].action == "post" and d[4].net_cents == 5000 and d[4].refund_ids == (5,)
    assert d[5].action == "fold"
    assert d[6].action == "void" and "refunded in full" in d[6].reason
    assert d[8].action == "reject" and d[9].action == "reject"


def test_reversal_only_mode_voids_original() -> None:
    d = plan_payments([pay(1, 1000), pay(2, -1000, bounced=True, original_payment_id=1)])
    assert d[1].action == "void"


def test_allocation_partial_over_and_credit_first() -> None:
    a = allocate_bill(50001, 10000, [(30001, 1500)], [(1, 5000), (2, 6000)])
    assert a.credits == {30001: 1500}
    assert a.payments == {1: 5000, 2: 3500}  # the overpayment's excess stays unapplied
    assert a.open_cents == 0
    assert allocate_bill(50001, 10000, [], [(1, 4000)]).open_cents == 6000
    big = allocate_bill(50001, 1000, [(30001, 1500)], [(1, 500)])
    assert big.credits == {30001: 1000} and big.payments == {1: 0}


def test_allocate_skips_reversed_bills_and_non_posted() -> None:
    bills = {50001: {"invoice_amount_cents": 10000}, 50002: {"invoice_amount_cents": 1, "is_reversed": True}}
    rows = [pay(1, 3000), pay(2, 9000, bounced=True)]
    allocs = allocate(bills, [], plan_payments(rows), rows)
    assert set(allocs) == {50001}
    assert allocs[50001].payments == {1: 3000}


def test_payment_payload_applied_and_unapplied() -> None:
    rows = [pay(1, 12000), pay(2, -2000, refund_flag=True, original_payment_id=1)]
    d = plan_payments(rows)
    body = payment_payload(rows[0], d[1], 7000, CFG)
    assert body["TotalAmt"] == Decimal("100.00")
    assert body["Line"] == [
        {"Amount": Decimal("70.00"), "LinkedTxn": [{"TxnId": "revio-bill:50001", "TxnType": "Invoice"}]}
    ]
    assert body["PrivateNote"].startswith("revio:payment:1\n")
    assert body["PaymentMethodRef"] == {"value": "payment-method:Check"}
    assert body["DepositToAccountRef"] == {"value": "account:Undeposited Funds"}
    assert body["PaymentRefNum"] == "CHK-1"
    on_account = payment_payload(pay(3, 500, bill=None), plan_payments([pay(3, 500, bill=None)])[3], 0, CFG)
    assert on_account["Line"] == []


def test_unknown_method_is_mapping_missing() -> None:
    row = pay(1, 100, method="BITCOIN")
    with pytest.raises(MappingMissing):
        payment_payload(row, plan_payments([row])[1], 100, CFG)


def test_markers_and_void_detection() -> None:
    assert markers_in("Voided - revio:payment:80001\nRev.io refund", "revio:payment:") == ["80001"]
    assert markers_in("revio:payment:800011", "revio:payment:") == ["800011"]
    assert markers_in("xrevio:payment:1", "revio:payment:") == []
    assert is_voided({"PrivateNote": "Voided - revio:payment:1"})


def test_payment_update_payload() -> None:
    desired = {"TotalAmt": Decimal("50.00"), "Line": [], "PrivateNote": "revio:payment:1"}
    existing = {
        "Id": "9",
        "SyncToken": "2",
        "TotalAmt": 50,
        "PrivateNote": "revio:payment:1",
        "Line": [{"Amount": 50, "LinkedTxn": [{"TxnId": "3", "TxnType": "Invoice"}]}],
    }
    upd = payment_update_payload(existing, desired)
    assert upd == {"Id": "9", "SyncToken": "2", "sparse": True, "Line": [], "TotalAmt": Decimal("50.00")}
    existing["Line"] = []
    assert payment_update_payload(existing, desired) is None


def credit(cid: int, kind: str, product: int, tax: int = 0, bill: int | None = 50001) -> dict[str, Any]:
    return {
        "credit_memo_id": cid,
        "customer_id": 1001,
        "bill_id": bill,
        "description": f"{kind} credit",
        "quantity": "1",
        "rate": str(Decimal(product) / 100),
        "amount_cents": product + tax,
        "product_amount_cents": product,
        "tax_amount_cents": tax,
        "tax_class_id": 201 if tax else None,
        "geocode": "US-TX",
        "start_date": "2026-01-05",
        "end_date": "2026-01-05",
        "created_date": "2026-01-05T10:00:00",
        "credit_kind": kind,
    }


@pytest.mark.parametrize("kind", ["service_credit", "dispute", "promotion", "bad_debt", "adjustment"])
def test_credit_memo_every_kind(kind: str) -> None:
    body = credit_memo_payload(credit(30001, kind, 1000, 83), CFG)
    assert body["DocNumber"] == "RVC-30001"
    assert body["TxnDate"] == "2026-01-05"
    assert body["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] == f"item:{CFG.credits.items[kind]}"
    assert body["Line"][1]["SalesItemLineDetail"]["ItemRef"]["value"] == "item:State Sales Tax"
    assert credit_memo_total_cents(body) == 1083


def test_credit_memo_tax_override_mode() -> None:
    cfg = CFG.model_copy(update={"taxes": CFG.taxes.model_copy(update={"mode": "total_tax_override"})})
    body = credit_memo_payload(credit(30001, "service_credit", 1000, 83), cfg)
    assert len(body["Line"]) == 1 and body["TxnTaxDetail"] == {"TotalTax": Decimal("0.83")}
    assert credit_memo_total_cents(body) == 1083


def test_credit_application_payload() -> None:
    body = credit_application_payload(credit(30001, "dispute", 1000), 700)
    assert body is not None
    assert body["TotalAmt"] == Decimal("0.00") and body["PrivateNote"] == "revio:credit-apply:30001"
    assert [ln["Amount"] for ln in body["Line"]] == [Decimal("7.00"), Decimal("7.00")]
    assert body["Line"][1]["LinkedTxn"] == [{"TxnId": "revio-credit:30001", "TxnType": "CreditMemo"}]
    assert credit_application_payload(credit(30002, "dispute", 1000, bill=None), 1000) is None
    assert credit_application_payload(credit(30003, "dispute", 1000), 0) is None
