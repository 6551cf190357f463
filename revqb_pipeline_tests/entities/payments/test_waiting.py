"""A payment that reaches revqb before its bill's invoice waits (with the reason) and is applied once the
invoice lands, never dropped."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._books import BILL_DAY, assert_books_agree, invoice_balance
from revqb_pipeline_tests._harness import Pipeline

pytestmark = pytest.mark.slow


def test_payment_before_invoice_waits_then_applies(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    bills = env.bills()
    cid = min(bills)
    bill_id = int(bills[cid]["bill_id"])
    env.clock("2026-01-03T12:00:00")
    amount = Decimal("100.00")
    pid = env.pay(cid, amount, bill_id, "ACH")

    env.execute("2026-01-03")  # the payment's day first: its invoice is not in QBO yet
    rt = env.runtime()
    row = rt.ledger.get("payment", pid)
    assert row is not None and row.status == LedgerStatus.WAITING
    assert f"invoice of Rev.io bill {bill_id}" in (row.last_error or "")
    assert rt.ledger.get("customer", cid).status == LedgerStatus.SYNCED  # its customer was synced anyway
    env.execute("2026-01-03")  # still waiting, still recorded, nothing written
    assert rt.ledger.get("payment", pid).status == LedgerStatus.WAITING

    env.execute(BILL_DAY)  # the invoice lands; the same run applies the waiting payment
    row = rt.ledger.get("payment", pid)
    assert row.status == LedgerStatus.SYNCED, row
    assert invoice_balance(env, bill_id) == Decimal(str(bills[cid]["amount_due"])) - amount
    payment = rt.qbo.read("Payment", row.qbo_id)
    assert payment["Line"][0]["LinkedTxn"][0]["TxnId"] == rt.ledger.get("bill", bill_id).qbo_id
    assert [e.action for e in rt.ledger.events("payment", pid)][-1] == "waiting"  # oldest event last
    assert_books_agree(env, ("balances", "payments"))
