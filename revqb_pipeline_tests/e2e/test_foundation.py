"""Issue 3 end to end: Rev.io customers and bills -> QBO through the Dagster job, over both sandboxes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from revqb_pipeline.entities import reconcile
from revqb_pipeline.money import to_cents
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_sandbox.faults import FaultRule

pytestmark = pytest.mark.slow


def _assert_one_each(p: Pipeline) -> None:
    """Exactly one QBO customer per synced Rev.io customer and one invoice per bill, totals to the cent."""
    rt = p.runtime()
    bills = {str(b["bill_id"]): b for b in p.revio().iter_records("Bills")}
    invoices = p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")
    docs = Counter(str(i["DocNumber"]) for i in invoices)
    assert docs and max(docs.values()) == 1, f"duplicate invoices: {docs.most_common(3)}"
    assert set(docs) == {f"RV-{b}" for b in bills}
    for inv in invoices:
        bill = bills[str(inv["DocNumber"])[3:]]
        assert to_cents(inv["TotalAmt"]) == to_cents(bill["invoice_amount"]), inv["DocNumber"]
    customers = p.qbo_all("Customer", "Active IN (true, false)")
    markers = Counter(
        line
        for c in customers
        for line in str(c.get("Notes", "")).splitlines()
        if line.startswith("revio:account:")
    )
    assert markers and max(markers.values()) == 1, f"duplicate customers: {markers.most_common(3)}"
    billed_customers = {str(b["customer_id"]) for b in bills.values()}
    synced = {r.source_id for r in rt.ledger.rows(source_type="customer", statuses=[LedgerStatus.SYNCED])}
    assert billed_customers <= synced
    results = reconcile(rt, ["customers", "invoices"])
    assert all(r.agrees for r in results), [r.differences for r in results]


def test_sync_twice_leaves_one_of_each_and_totals_to_the_cent(db_url: str, tmp_path) -> None:
    with pipeline(db_url, tmp_path, customers=12, seed=11) as p:
        assert p.run()
        _assert_one_each(p)
        rt = p.runtime()
        attempts = {r.source_id: r.attempts for r in rt.ledger.rows(source_type="bill")}
        qbo_ids = {r.source_id: r.qbo_id for r in rt.ledger.rows(source_type="bill")}
        assert p.run()
        _assert_one_each(p)
        again = rt.ledger.rows(source_type="bill")
        assert {r.source_id: r.attempts for r in again} == attempts  # nothing re-written
        assert {r.source_id: r.qbo_id for r in again} == qbo_ids
        # the QBO invoice id was written back to each Rev.io bill
        for bill in p.revio().iter_records("Bills"):
            labels = {f["label"]: f.get("value") for f in bill.get("fields") or []}
            assert labels.get("QBO Invoice Id") == qbo_ids[str(bill["bill_id"])]


def test_lost_responses_and_server_errors_never_duplicate(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=12, seed=12) as p:
        p.qbo_faults(
            [
                FaultRule(kind="drop_after_commit", count=3, path_regex="batch"),
                FaultRule(kind="http_503", count=2, path_regex="batch"),
                FaultRule(kind="reset_before_write", count=1, path_regex="batch"),
            ]
        )
        p.run()  # may leave records failed/in flight; that is what the re-run is for
        p.run()
        _assert_one_each(p)


def test_commit_then_drop_beyond_client_retries_is_resolved_by_lookup(sqlite_url: str, tmp_path) -> None:
    """Every retry of a committed write loses its response: the ledger's business-key lookup links it."""
    with pipeline(sqlite_url, tmp_path, customers=6, seed=13) as p:
        p.qbo_faults([FaultRule(kind="drop_after_commit", count=40, path_regex="batch")])
        p.run()
        p.qbo_faults([])
        p.run()
        _assert_one_each(p)
        events = p.runtime().ledger.events(source_type="bill")
        assert any(e.action == "linked" for e in events) or any(e.action == "created" for e in events)


def test_killed_half_way_then_rerun(sqlite_url: str, tmp_path) -> None:
    """SIGKILL a `revqb sync` mid-run (slowed by the sandbox), run again: exactly one of each."""
    with pipeline(sqlite_url, tmp_path, customers=40, seed=14) as p:
        partitions = p.partitions()
        p.qbo_faults([FaultRule(kind="slow", probability=1.0, delay_s=0.4, path_regex="batch|customer|item")])
        cmd = [sys.executable, "-m", "revqb_pipeline.cli", "sync"]
        for pk in partitions:
            cmd += ["--partition", pk]
        env = {**os.environ, "DAGSTER_HOME": str(p.home)}
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rt = p.runtime()
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                synced = rt.ledger.rows(statuses=[LedgerStatus.SYNCED, LedgerStatus.IN_FLIGHT])
                if any(r.source_type == "customer" for r in synced):
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed"
        p.qbo_faults([])
        assert p.run(partitions)
        _assert_one_each(p)


def test_existing_customers_are_linked_not_duplicated(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=16, seed=7) as p:
        rt = p.runtime()
        customers = {str(c["customer_id"]): c for c in rt.revio.iter_records("Customers")}
        billed = {str(b["customer_id"]) for b in rt.revio.iter_records("Bills")}
        from revqb_pipeline.mapping.normalize import normalize_customer

        rows = [normalize_customer(customers[c]) for c in sorted(billed, key=int)]
        by_email = next(r for r in rows if r["email"])
        by_name = next(r for r in rows if r["customer_id"] != by_email["customer_id"])
        pre_email = rt.qbo.create(
            "Customer",
            {"DisplayName": "Someone Else Entirely", "PrimaryEmailAddr": {"Address": by_email["email"]}},
            request_id="pre-email",
        )
        pre_name = rt.qbo.create("Customer", {"DisplayName": by_name["display_name"]}, request_id="pre-name")
        # an inactive namesake must be found, linked and reactivated (not duplicated, not a 6240)
        pre_name = rt.qbo.update(
            "Customer",
            {
                "Id": pre_name["Id"],
                "SyncToken": pre_name["SyncToken"],
                "sparse": True,
                "Active": False,
                "DisplayName": by_name["display_name"],
            },
            request_id="pre-name-off",
        )
        assert p.run()
        ledger = p.runtime().ledger
        assert ledger.get("customer", by_email["customer_id"]).qbo_id == str(pre_email["Id"])
        assert ledger.get("customer", by_name["customer_id"]).qbo_id == str(pre_name["Id"])
        named = p.qbo_query(
            "SELECT * FROM Customer WHERE DisplayName = '"
            + by_name["display_name"].replace("\\", "\\\\").replace("'", "\\'")
            + "' AND Active IN (true, false)"
        )
        assert len(named) == 1 and named[0]["Active"] is True
        _assert_one_each(p)


def test_names_with_quotes_and_backslashes_round_trip(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=30, seed=7) as p:
        assert p.run()
        names = {str(c["DisplayName"]) for c in p.qbo_all("Customer", "Active IN (true, false)")}
        tricky = [n for n in names if "'" in n or "\\" in n]
        assert any("'" in n for n in tricky) and any("\\" in n for n in tricky), names
        for name in tricky:
            escaped = name.replace("\\", "\\\\").replace("'", "\\'")
            assert [
                c["DisplayName"]
                for c in p.qbo_query(f"SELECT * FROM Customer WHERE DisplayName = '{escaped}'")
            ] == [name]


def test_malformed_record_is_quarantined_and_the_rest_syncs(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=10, seed=15) as p:
        rt = p.runtime()
        charge = next(iter(rt.revio.iter_records("Charges")))
        # Corrupt one charge in Rev.io: its amount no longer equals product amount + tax.
        p.revio_admin(f"records/charges/{charge['charge_id']}", {"amount": 99999.99})
        p.run()
        ledger = p.runtime().ledger
        row = ledger.get("charge", str(charge["charge_id"]))
        assert row is not None and row.status == LedgerStatus.QUARANTINED
        assert "amount" in (row.last_error or "")
        bad_bill = str(charge["bill_id"])
        bills = [r for r in ledger.rows(source_type="bill") if r.source_id != bad_bill]
        assert bills and all(r.status == LedgerStatus.SYNCED for r in bills)
        assert ledger.get("bill", bad_bill).status != LedgerStatus.SYNCED


def test_changed_bill_updates_and_reversed_bill_voids_the_invoice(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=8, seed=16) as p:
        assert p.run()
        rt = p.runtime()
        bills = list(rt.revio.iter_records("Bills"))
        changed, reversed_ = bills[0], bills[1]
        charge = next(c for c in rt.revio.charges(bill_id=changed["bill_id"]))
        p.revio_admin(f"records/charges/{charge['charge_id']}", {"description": "Hosted PBX seat (renamed)"})
        p.revio_admin(f"bills/{reversed_['bill_id']}/reverse", {})
        before = p.qbo_query(f"SELECT * FROM Invoice WHERE DocNumber = 'RV-{changed['bill_id']}'")[0]
        assert p.run()
        after = p.qbo_query(f"SELECT * FROM Invoice WHERE DocNumber = 'RV-{changed['bill_id']}'")
        assert len(after) == 1 and after[0]["Id"] == before["Id"]
        assert int(after[0]["SyncToken"]) > int(before["SyncToken"])
        assert "Hosted PBX seat (renamed)" in [ln.get("Description") for ln in after[0]["Line"]]
        assert to_cents(after[0]["TotalAmt"]) == to_cents(changed["invoice_amount"])
        voided = p.qbo_query(f"SELECT * FROM Invoice WHERE DocNumber = 'RV-{reversed_['bill_id']}'")
        assert len(voided) == 1 and to_cents(voided[0]["TotalAmt"]) == 0
        assert "Voided" in voided[0].get("PrivateNote", "")
        assert p.runtime().ledger.get("bill", str(reversed_["bill_id"])).status == LedgerStatus.VOIDED
        assert p.run()  # and a third run changes nothing
        assert p.runtime().ledger.get("bill", str(changed["bill_id"])).attempts == 2


def test_cli_status_and_reconcile(sqlite_url: str, tmp_path, capsys) -> None:
    from revqb_pipeline.cli import main

    with pipeline(sqlite_url, tmp_path, customers=6, seed=17) as p:
        assert p.run()
        capsys.readouterr()
        assert main(["reconcile", "--json", "--entity", "customers", "--entity", "invoices"]) == 0
        data = json.loads(capsys.readouterr().out)
        invoices = next(r for r in data if r["entity"] == "invoices")
        assert invoices["agrees"] and invoices["revio_count"] == invoices["qbo_count"] > 0
        assert invoices["revio_total"] == invoices["qbo_total"]
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert "bill" in out and "synced" in out
        # quarantine one record and see it with its reason
        p.runtime().ledger.quarantine("bill", "424242", reason="no mapping for product 9 'Fax'")
        assert main(["status", "--type", "bill"]) == 0
        assert "no mapping for product 9 'Fax'" in capsys.readouterr().out


def test_name_taken_by_a_vendor_gets_a_deterministic_suffix(sqlite_url: str, tmp_path) -> None:
    """DisplayName is unique across customers, vendors and employees: a 6240 is resolved, not fatal."""
    with pipeline(sqlite_url, tmp_path, customers=6, seed=18) as p:
        rt = p.runtime()
        bill = next(iter(rt.revio.iter_records("Bills")))
        from revqb_pipeline.mapping.normalize import normalize_customer

        row = normalize_customer(rt.revio.get("Customers", bill["customer_id"]))
        vendor = rt.qbo.create("Vendor", {"DisplayName": row["display_name"]}, request_id="vendor-clash")
        assert p.run()
        linked = p.runtime().ledger.get("customer", row["customer_id"])
        customer = p.qbo_query(f"SELECT * FROM Customer WHERE Id = '{linked.qbo_id}'")[0]
        assert customer["DisplayName"] == f"{row['display_name']} (Rev.io {row['customer_id']})"
        assert customer["Id"] != vendor["Id"]
        assert p.run()  # the suffixed customer is recognised by its marker on the next run
        assert p.runtime().ledger.get("customer", row["customer_id"]).qbo_id == linked.qbo_id
        _assert_one_each(p)
