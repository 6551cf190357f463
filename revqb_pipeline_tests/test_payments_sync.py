"""Payments and credits of every kind through the real Dagster job over both sandboxes (HTTP).

After the sync every QBO invoice Balance and customer Balance equals Rev.io's to the cent, nothing is
duplicated, also after re-runs and with injected QBO faults (drop_after_commit, 503).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import httpx
import pytest

from revqb_pipeline.clients.jsonutil import loads
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.reconcile import reconcile
from revqb_pipeline.sync.runtime import Runtime
from revqb_sandbox.revio.settings import RevioSandboxSettings
from revqb_sandbox.servers import Sandboxes, sandboxes

BILL_DAY = "2026-01-01"
PAY_DAY = "2026-01-05"


@dataclass
class Env:
    """Both sandboxes, the pipeline's job against them, and admin helpers."""

    sb: Sandboxes
    db_url: str
    instance: dg.DagsterInstance

    def __post_init__(self) -> None:
        self.revio_admin = httpx.Client(base_url=self.sb.revio_url + "/_admin", timeout=30)
        self.qbo_admin = httpx.Client(base_url=self.sb.qbo_url + "/_admin", timeout=30)

    @property
    def job(self) -> Any:
        from revqb_pipeline.definitions import defs

        return defs().resolve_job_def("revqb_sync_job")

    def run(self, partition: str) -> dg.ExecuteInProcessResult:
        result = self.job.execute_in_process(
            partition_key=partition, instance=self.instance, raise_on_error=False
        )
        failures = [
            f"{e.step_key}: {e.event_specific_data.error.message[:400]}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        assert result.success, failures
        return result

    def runtime(self) -> Runtime:
        return Runtime(RevqbSettings.from_env())

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.revio_admin.post(path, json=body or {})
        assert r.status_code == 200, r.text
        return loads(r.content)

    def clock(self, now: str) -> None:
        self.admin("/clock", {"now": now})

    def pay(self, customer: int, amount: Decimal, bill: int | None = None, method: str = "CHECK") -> int:
        body: dict[str, Any] = {"customer_id": customer, "amount": str(amount), "method": method}
        body["reference_number"] = f"REF-{customer}-{amount}"
        if bill is not None:
            body["bill_id"] = bill
        return int(self.admin("/payments", body)["payment"]["payment_id"])

    def credit(self, customer: int, amount: Decimal, bill: int | None = None, **kw: Any) -> int:
        body: dict[str, Any] = {"customer_id": customer, "amount": str(amount), **kw}
        if bill is not None:
            body["bill_id"] = bill
        return int(self.admin("/credits", body)["credit"]["credit_memo_id"])

    def bills(self) -> dict[int, dict[str, Any]]:
        rt = self.runtime()
        return {int(b["customer_id"]): b for b in rt.revio.iter_records("Bills")}

    def qbo_faults(self, rules: list[dict[str, Any]]) -> None:
        r = self.qbo_admin.post("/faults", json={"rules": rules})
        assert r.status_code == 200, r.text

    def entity_counts(self) -> dict[str, int]:
        rt = self.runtime()
        return {e: rt.qbo.count(e) for e in ("Payment", "CreditMemo", "Invoice", "Customer")}


@pytest.fixture
def env(tmp_path, monkeypatch) -> Iterator[Env]:
    revio = RevioSandboxSettings(
        customers=6,
        bills=False,
        freeze_clock=True,
        now=datetime(2026, 1, 1, 0, 0),
        start=datetime(2026, 1, 1).date(),
    )
    with sandboxes(revio_settings=revio, customers=6) as sb, dg.instance_for_test() as instance:
        for key, value in sb.env().items():
            monkeypatch.setenv(key, value)
        db_url = f"sqlite:///{tmp_path / 'revqb.db'}"
        monkeypatch.setenv("REVQB_DB_URL", db_url)
        yield Env(sb, db_url, instance)


def seed_every_kind(env: Env) -> dict[str, Any]:
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


def assert_books_agree(
    env: Env, entities: tuple[str, ...] = ("balances", "payments", "credits")
) -> dict[str, Any]:
    """The payments / credits / balances reconcilers agree (and compared something)."""
    results = {r.entity: r for r in reconcile(env.runtime(), list(entities))}
    for name, r in results.items():
        assert r.agrees, (name, r.differences)
        assert r.revio_count > 0, name
    return results


def invoice_balance(env: Env, bill_id: int) -> Decimal:
    rt = env.runtime()
    row = rt.ledger.get("bill", bill_id)
    assert row is not None and row.qbo_id
    return Decimal(str(rt.qbo.read("Invoice", row.qbo_id)["Balance"]))


def test_every_kind_of_payment_and_credit_ties_out_and_reruns_are_harmless(env: Env) -> None:
    ids = seed_every_kind(env)
    env.run(BILL_DAY)
    env.run(PAY_DAY)
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
    env.run(BILL_DAY)
    env.run(PAY_DAY)
    env.run(PAY_DAY)
    assert env.entity_counts() == before
    assert_books_agree(env)
    assert not rt.ledger.problems(), rt.ledger.problems()


def test_injected_faults_never_duplicate(env: Env) -> None:
    ids = seed_every_kind(env)
    env.run(BILL_DAY)
    c, bills = ids["customers"], ids["bills"]
    env.qbo_faults(
        [
            {"kind": "drop_after_commit", "count": 1, "path_regex": "/batch"},
            {"kind": "http_503", "count": 2, "path_regex": "/batch"},
        ]
    )
    env.run(PAY_DAY)
    injected = env.qbo_admin.get("/stats").json()["faults_injected"]
    assert injected.get("drop_after_commit") == 1 and injected.get("http_503") == 2, injected
    env.clock("2026-01-06T09:00:00")
    env.pay(c[1], Decimal("5.00"), bills[c[1]], "CHECK")
    env.credit(c[2], Decimal("3.00"), None, atype="ADJ", description="Goodwill")
    # more lost responses than the client retries: the writer must find the committed writes by marker
    env.qbo_faults([{"kind": "drop_after_commit", "count": 6, "path_regex": "/batch"}])
    env.run("2026-01-06")
    env.qbo_faults([])
    env.run(PAY_DAY)
    env.run("2026-01-06")
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
