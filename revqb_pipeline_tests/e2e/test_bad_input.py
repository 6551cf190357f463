"""Issue 12, bad input end to end: malformed Rev.io values (raw overwrites through the sandbox's admin
endpoint) quarantine only their record and what depends on it, named with the field, the value and the
cause; every good invoice, payment and credit memo of the same day reaches QBO to the cent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from revqb_pipeline.money import to_cents
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._harness import Pipeline, pipeline

pytestmark = pytest.mark.slow

DAY = "2026-01-01"
PARKED = (LedgerStatus.QUARANTINED, LedgerStatus.WAITING)


def run_job(p: Pipeline, partition: str) -> Any:
    """One in-process run of the sync job (the ExecuteInProcessResult, for its events)."""
    from revqb_pipeline.definitions import defs

    job = defs().resolve_job_def("revqb_sync_job")
    return job.execute_in_process(partition_key=partition, instance=p.instance, raise_on_error=False)


def day_bills(p: Pipeline, day: str) -> list[dict[str, Any]]:
    return sorted(
        (b for b in p.revio().iter_records("Bills") if str(b["created_date"])[:10] == day),
        key=lambda b: int(b["bill_id"]),
    )


def overwrite(p: Pipeline, table: str, rid: Any, json_text: str) -> None:
    """Raw overwrite of fields of one Rev.io record; ``json_text`` may hold NaN/Infinity literals."""
    r = httpx.post(
        f"{p.sb.revio_url}/_admin/records/{table}/{rid}",
        content=json_text.encode(),
        headers={"content-type": "application/json"},
    )
    r.raise_for_status()


def ledger_reason(p: Pipeline, source_type: str, sid: Any) -> tuple[LedgerStatus | None, str]:
    row = p.runtime().ledger.get(source_type, str(sid))
    return (row.status, row.last_error or "") if row else (None, "")


def qbo_total_cents(p: Pipeline, entity: str, source_type: str, sid: Any) -> int:
    row = p.runtime().ledger.get(source_type, str(sid))
    assert row is not None and row.status == LedgerStatus.SYNCED and row.qbo_id, (source_type, sid, row)
    return to_cents(p.runtime().qbo.read(entity, row.qbo_id)["TotalAmt"])


def test_malformed_amounts_and_unknown_product_quarantine_their_bills_and_the_day_syncs(
    sqlite_url: str, tmp_path: Path
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=8, seed=21) as p:
        bills = day_bills(p, DAY)
        assert len(bills) >= 5
        abc, frac, nan, unknown, *good = bills
        charge = {int(b["bill_id"]): list(p.revio().charges(bill_id=int(b["bill_id"]))) for b in bills}
        ch_abc = charge[int(abc["bill_id"])][0]["charge_id"]
        ch_frac = charge[int(frac["bill_id"])][0]["charge_id"]
        ch_unknown = charge[int(unknown["bill_id"])][0]["charge_id"]
        # payments and credits on a good bill and on two bad ones (children of the day's bills)
        g = good[0]
        pay_good = p.revio_admin(
            "payments", {"customer_id": g["customer_id"], "bill_id": g["bill_id"], "amount": "10.00"}
        )["payment"]
        pay_nan = p.revio_admin(
            "payments", {"customer_id": nan["customer_id"], "bill_id": nan["bill_id"], "amount": "20.00"}
        )["payment"]
        pay_abc = p.revio_admin(
            "payments", {"customer_id": abc["customer_id"], "bill_id": abc["bill_id"], "amount": "30.00"}
        )["payment"]
        cr_good = p.revio_admin(
            "credits", {"customer_id": g["customer_id"], "bill_id": g["bill_id"], "amount": "5.00"}
        )["credit"]
        cr_frac = p.revio_admin(
            "credits", {"customer_id": frac["customer_id"], "bill_id": frac["bill_id"], "amount": "6.00"}
        )["credit"]

        # the malformed values
        p.revio_admin(f"records/charges/{ch_abc}", {"amount": "abc"})
        p.revio_admin(f"records/charges/{ch_frac}", {"amount": 12.345})
        overwrite(p, "bills", nan["bill_id"], '{"invoice_amount": NaN}')
        p.revio_admin(f"records/charges/{ch_unknown}", {"product_id": 999, "product_type_id": None})

        # the bills' day, then the day the payments and credits were entered (they are read on both)
        entered = str(pay_good["created_date"])[:10]
        assert entered != DAY
        results = [run_job(p, DAY), run_job(p, entered)]
        for result in results:
            failures = [e.step_key for e in result.all_events if e.is_step_failure]
            assert result.success and not failures, failures
        result = results[0]

        # each bad record: quarantined, the reason names the field, the value and the cause
        status, why = ledger_reason(p, "charge", ch_abc)
        assert status == LedgerStatus.QUARANTINED and "amount" in why and "'abc'" in why, why
        assert "not a number" in why
        status, why = ledger_reason(p, "charge", ch_frac)
        assert status == LedgerStatus.QUARANTINED and "amount 12.345" in why and "fraction of a cent" in why
        status, why = ledger_reason(p, "bill", nan["bill_id"])
        assert status == LedgerStatus.QUARANTINED and "invoice_amount" in why and "nan" in why.lower(), why
        status, why = ledger_reason(p, "charge", ch_unknown)
        assert status == LedgerStatus.QUARANTINED and "product 999" in why, why
        # ... and the bills that depend on a bad charge name the charge and its cause
        for bill, cid, cause in (
            (abc, ch_abc, "'abc'"),
            (frac, ch_frac, "12.345"),
            (unknown, ch_unknown, "999"),
        ):
            status, why = ledger_reason(p, "bill", bill["bill_id"])
            assert status == LedgerStatus.QUARANTINED, (bill["bill_id"], status, why)
            assert f"charge {cid}" in why and cause in why and "invoice lines total" not in why, why
        # the unknown product names the product: its id and the charge's description of it
        name = charge[int(unknown["bill_id"])][0]["description"]
        assert f"product 999 '{name}'" in ledger_reason(p, "bill", unknown["bill_id"])[1]
        # payments and credits of the held-back bills wait or are quarantined, naming the bill
        for source_type, rec, bill in (
            ("payment", pay_nan, nan),
            ("payment", pay_abc, abc),
            ("credit_application", cr_frac, frac),
        ):
            sid = rec["payment_id"] if source_type == "payment" else rec["credit_memo_id"]
            status, why = ledger_reason(p, source_type, sid)
            assert status in PARKED and f"bill {bill['bill_id']}" in why, (source_type, sid, status, why)
        assert "invoice_amount" in ledger_reason(p, "payment", pay_nan["payment_id"])[1]

        # every good record of the day reached QBO, to the cent
        for bill in good:
            assert qbo_total_cents(p, "Invoice", "bill", bill["bill_id"]) == to_cents(bill["invoice_amount"])
        assert qbo_total_cents(p, "Payment", "payment", pay_good["payment_id"]) == 1000
        assert qbo_total_cents(p, "CreditMemo", "credit", cr_good["credit_memo_id"]) == 500
        assert ledger_reason(p, "credit_application", cr_good["credit_memo_id"])[0] == LedgerStatus.SYNCED
        # the credit memo of a quarantined bill is itself fine: it posts (its application waits)
        assert qbo_total_cents(p, "CreditMemo", "credit", cr_frac["credit_memo_id"]) == 600
        invoices = {str(i["DocNumber"]) for i in p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")}
        assert invoices == {f"RV-{b['bill_id']}" for b in good}

        # the quarantine is visible in the staging asset's metadata too
        meta = {
            e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
            for e in result.all_events
            if e.is_step_materialization
        }
        assert meta["staging/charges"]["quarantined"].value == 3


def test_malformed_customer_holds_back_its_bills_named_and_a_fixed_charge_posts_on_the_next_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=8, seed=21) as p:
        bills = day_bills(p, DAY)
        held_bill, charged, *good = bills
        cust = held_bill["customer_id"]
        assert all(b["customer_id"] != cust for b in [charged, *good])
        charge = next(iter(p.revio().charges(bill_id=int(charged["bill_id"]))))
        address = p.revio().get("Customers", cust)["billing_address"]
        p.revio_admin(f"records/customers/{cust}", {"billing_address": [1, 2]})
        p.revio_admin(f"records/charges/{charge['charge_id']}", {"amount": "abc"})

        result = run_job(p, DAY)
        assert result.success, [e.step_key for e in result.all_events if e.is_step_failure]
        status, why = ledger_reason(p, "customer", cust)
        assert status == LedgerStatus.QUARANTINED and "billing_address" in why and "[1, 2]" in why, why
        status, why = ledger_reason(p, "bill", held_bill["bill_id"])
        assert status in PARKED and f"customer {cust}" in why and "billing_address" in why, why
        assert ledger_reason(p, "bill", charged["bill_id"])[0] == LedgerStatus.QUARANTINED
        for bill in good:
            assert qbo_total_cents(p, "Invoice", "bill", bill["bill_id"]) == to_cents(bill["invoice_amount"])

        # fixed in Rev.io: the next run of the day posts both bills, to the cent, and clears the quarantine
        p.revio_admin(f"records/customers/{cust}", {"billing_address": address})
        p.revio_admin(f"records/charges/{charge['charge_id']}", {"amount": str(charge["amount"])})
        assert run_job(p, DAY).success
        for bill in (held_bill, charged):
            assert qbo_total_cents(p, "Invoice", "bill", bill["bill_id"]) == to_cents(bill["invoice_amount"])
        assert not p.runtime().store.quarantined("Charges")
        # the charge's own ledger row is resolved too, so `revqb status` / `retry` stop listing it
        assert ledger_reason(p, "charge", charge["charge_id"])[0] == LedgerStatus.SYNCED
        assert ledger_reason(p, "customer", cust)[0] == LedgerStatus.SYNCED
        invoices = [i for i in p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")]
        assert sorted(str(i["DocNumber"]) for i in invoices) == sorted(f"RV-{b['bill_id']}" for b in bills)
