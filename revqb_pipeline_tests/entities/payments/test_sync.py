"""Payments and credits of every kind through the real Dagster job over both sandboxes (HTTP).

After the sync every QBO invoice Balance and customer Balance equals Rev.io's to the cent, nothing is
duplicated, also after re-runs and with injected QBO faults (drop_after_commit, 503).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._books import BILL_DAY, assert_books_agree, invoice_balance
from revqb_pipeline_tests._harness import Pipeline

pytestmark = pytest.mark.slow

PAY_DAY = "2026-01-05"


def seed_every_kind(env: Pipeline) -> dict[str, Any]:
    """A billing cycle on 2026-01-01, then on 2026-01-05 payments and credits of every kind."""
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    bills = env.bills()
    c = sorted(bills)
    due = {cid: Decimal(str(bills[cid]["amount_due"])) for cid in c}
    env.clock(f"{PAY_DAY}T10:00:00")
    ids: dict[str, Any] = {}
    ids["full"] = env.pay(c[0], due[c[0]], bills[c[0]]["bill_id"], "CHECK")
    ids["partial"] = env.pay(
        c[1], (due[c[1]] * Decimal("0.4")).quantize(Decimal("0.01")), bills[c[1]]["bill_id"], "ACH"
    )
    ids["over"] = env.pay(c[2], due[c[2]] + Decimal("50.00"), bills[c[2]]["bill_id"], "CREDIT_CARD")
    ids["no_bill"] = env.pay(c[3], Decimal("25.00"), None, "CASH")
    ids["bounced"] = env.pay(c[3], due[c[3]], bills[c[3]]["bill_id"], "ACH")
    env.admin(f"/payments/{ids['bounced']}/bounce")
    ids["refunded"] = env.pay(c[4], due[c[4]], bills[c[4]]["bill_id"], "CREDIT_CARD")
    env.admin(f"/payments/{ids['refunded']}/refund", {"amount": "30.00"})
    product = int(env.runtime().revio.iter_records("Products").__next__()["product_id"])
    ids["service_credit"] = env.credit(
        c[5],
        Decimal("20.00"),
        bills[c[5]]["bill_id"],
        atype="MRC",
        product_id=product,
        with_tax=True,
        description="Outage credit",
    )
    ids["dispute"] = env.credit(
        c[5], Decimal("15.00"), bills[c[5]]["bill_id"], atype="OCC", description="Billing dispute"
    )
    ids["promotion"] = env.credit(c[5], Decimal("12.50"), None, atype="NRC", description="Spring promo")
    ids["bad_debt"] = env.credit(
        c[1], Decimal("10.00"), bills[c[1]]["bill_id"], kind="bad_debt", description="Write-off"
    )
    ids["adjustment"] = env.credit(
        c[4], Decimal("7.25"), bills[c[4]]["bill_id"], atype="ADJ", description="Adjustment"
    )
    ids["customers"] = c
    ids["bills"] = {cid: int(bills[cid]["bill_id"]) for cid in c}
    ids["due"] = due
    return ids


def test_every_kind_of_payment_and_credit_ties_out_and_reruns_are_harmless(env: Pipeline) -> None:
    ids = seed_every_kind(env)
    env.execute(BILL_DAY)
    env.execute(PAY_DAY)
    assert_books_agree(env)

    rt = env.runtime()
    c, bills, due = ids["customers"], ids["bills"], ids["due"]
    assert invoice_balance(env, bills[c[0]]) == 0  # full
    partial = (due[c[1]] * Decimal("0.4")).quantize(Decimal("0.01"))
    assert invoice_balance(env, bills[c[1]]) == due[c[1]] - Decimal("10.00") - partial  # partial + bad debt
    assert invoice_balance(env, bills[c[2]]) == 0  # over: the excess is unapplied credit
    assert invoice_balance(env, bills[c[3]]) == due[c[3]]  # bounced: voided, nothing applied
    assert invoice_balance(env, bills[c[4]]) == Decimal("30.00") - Decimal("7.25")  # refund reopens
    statuses = {
        k: rt.ledger.get("payment", ids[k]).status for k in ("full", "partial", "over", "no_bill", "refunded")
    }
    assert set(statuses.values()) == {LedgerStatus.SYNCED}, statuses
    assert rt.ledger.get("payment", ids["bounced"]).status == LedgerStatus.VOIDED
    for kind in ("service_credit", "dispute", "promotion", "bad_debt", "adjustment"):
        assert rt.ledger.get("credit", ids[kind]).status == LedgerStatus.SYNCED, kind
    kinds = {r["credit_kind"] for r in rt.store.rows("stg_credits")}
    assert kinds == {"service_credit", "dispute", "promotion", "bad_debt", "adjustment"}
    # every decision is in the ledger's event log
    assert any("bounced" in e.detail for e in rt.ledger.events("payment", ids["bounced"]))

    before = env.entity_counts()
    env.execute(BILL_DAY)
    env.execute(PAY_DAY)
    env.execute(PAY_DAY)
    assert env.entity_counts() == before
    assert_books_agree(env)
    assert not rt.ledger.problems(), rt.ledger.problems()


def test_injected_faults_never_duplicate(env: Pipeline) -> None:
    ids = seed_every_kind(env)
    env.execute(BILL_DAY)
    c, bills = ids["customers"], ids["bills"]
    env.qbo_faults(
        [
            {"kind": "drop_after_commit", "count": 1, "path_regex": "/batch"},
            {"kind": "http_503", "count": 2, "path_regex": "/batch"},
        ]
    )
    env.execute(PAY_DAY)
    injected = env.qbo_stats()["faults_injected"]
    assert injected.get("drop_after_commit") == 1 and injected.get("http_503") == 2, injected
    env.clock("2026-01-06T09:00:00")
    env.pay(c[1], Decimal("5.00"), bills[c[1]], "CHECK")
    env.credit(c[2], Decimal("3.00"), None, atype="ADJ", description="Goodwill")
    # more lost responses than the client retries: the writer must find the committed writes by marker
    env.qbo_faults([{"kind": "drop_after_commit", "count": 6, "path_regex": "/batch"}])
    env.execute("2026-01-06")
    env.qbo_faults([])
    env.execute(PAY_DAY)
    env.execute("2026-01-06")
    assert_books_agree(env)

    rt = env.runtime()
    lost = [e for e in rt.ledger.events("payment") if e.action == "linked" and "response lost" in e.detail]
    assert lost, "the writer should have found a committed payment by its marker"
    markers = Counter()
    for p in rt.qbo.query_all("Payment"):
        markers[str(p.get("PrivateNote", "")).split("\n")[0]] += 1
    assert all(n == 1 for n in markers.values()), markers
    docs = Counter(str(m["DocNumber"]) for m in rt.qbo.query_all("CreditMemo"))
    assert all(n == 1 for n in docs.values()), docs
