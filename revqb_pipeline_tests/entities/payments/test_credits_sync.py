"""Credits over the sandboxes: a credit posted on an already-paid bill takes its share of the invoice
(the payment's application shrinks, the excess becomes unapplied), a credit without a bill stays available,
and every application is a visible zero-total Payment linking the memo and the invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._books import BILL_DAY, assert_books_agree, invoice_balance
from revqb_pipeline_tests._harness import Pipeline

pytestmark = pytest.mark.slow


def test_credit_on_a_paid_bill_and_an_unposted_credit(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    bills = env.bills()
    cid = min(bills)
    bill_id = int(bills[cid]["bill_id"])
    due = Decimal(str(bills[cid]["amount_due"]))
    env.clock("2026-01-03T10:00:00")
    pid = env.pay(cid, due, bill_id, "CHECK")
    env.execute(BILL_DAY)
    env.execute("2026-01-03")
    assert invoice_balance(env, bill_id) == 0

    env.clock("2026-01-04T10:00:00")
    on_bill = env.credit(cid, Decimal("10.00"), bill_id, atype="OCC", description="Billing dispute: roaming")
    free = env.credit(cid, Decimal("4.00"), None, atype="ADJ", description="Goodwill")
    env.execute("2026-01-04")
    assert_books_agree(env)

    rt = env.runtime()
    payment = rt.qbo.read("Payment", rt.ledger.get("payment", pid).qbo_id)
    assert Decimal(str(payment["UnappliedAmt"])) == Decimal("10.00")  # the credit took 10 of the invoice
    app = rt.ledger.get("credit_application", on_bill)
    assert app is not None and app.status == LedgerStatus.SYNCED
    zero = rt.qbo.read("Payment", app.qbo_id)
    assert Decimal(str(zero["TotalAmt"])) == 0
    links = {ln["LinkedTxn"][0]["TxnType"]: ln["LinkedTxn"][0]["TxnId"] for ln in zero["Line"]}
    assert links == {
        "Invoice": rt.ledger.get("bill", bill_id).qbo_id,
        "CreditMemo": rt.ledger.get("credit", on_bill).qbo_id,
    }
    memo = rt.qbo.read("CreditMemo", rt.ledger.get("credit", free).qbo_id)
    assert Decimal(str(memo["RemainingCredit"])) == Decimal("4.00")  # stays available credit
    assert rt.ledger.get("credit_application", free) is None

    env.execute("2026-01-04")  # re-run: nothing changes
    assert rt.ledger.get("credit_application", on_bill).attempts == 1
    assert_books_agree(env)
