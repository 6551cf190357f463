"""Month-end revenue end to end: Rev.io sandbox -> daily Dagster sync -> monthly Dagster job -> QBO sandbox.

Checked on the QBO side only (independent of staging): after the month's journal, each revenue account's
activity for the month (invoice lines credited to it, plus the journal) equals the revenue earned in the
month computed day by day from the Rev.io charges.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest

from revqb_pipeline.cli import run_partitions
from revqb_pipeline.entities import reconcile
from revqb_pipeline.entities.journals.revenue import Month, charge_from_rows
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.mapping.normalize import normalize_bill, normalize_charge, normalize_product_type
from revqb_pipeline.money import to_cents
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._mappings import deferred_mapping
from revqb_pipeline_tests._revenue_oracle import day_by_day

pytestmark = pytest.mark.slow

MONTHS = [Month(2025, 1), Month(2025, 2), Month(2025, 3)]


def revenue_activity(p: Pipeline, month: Month) -> dict[str, int]:
    """Net credits per account name for the month: invoice lines by their item's income account + the JE."""
    accounts = {str(a["Id"]): str(a["Name"]) for a in p.qbo_all("Account")}
    income = {str(i["Id"]): str(i["IncomeAccountRef"]["value"]) for i in p.qbo_all("Item")}
    window = f"TxnDate >= '{month.first_day}' AND TxnDate <= '{month.last_day}'"
    out: dict[str, int] = defaultdict(int)
    for inv in p.qbo_all("Invoice", window):
        for line in inv["Line"]:
            if line.get("DetailType") != "SalesItemLineDetail":
                continue
            account = income[str(line["SalesItemLineDetail"]["ItemRef"]["value"])]
            out[accounts[account]] += to_cents(line["Amount"])
    for je in p.qbo_all("JournalEntry", window):
        for line in je["Line"]:
            detail = line["JournalEntryLineDetail"]
            sign = 1 if detail["PostingType"] == "Credit" else -1
            out[accounts[str(detail["AccountRef"]["value"])]] += sign * to_cents(line["Amount"])
    return dict(out)


def earned_day_by_day(p: Pipeline, mapping_file: str) -> dict[tuple[Month, str], int]:
    """Revenue earned per (month, kind) from the Rev.io API's bills and charges, day by day."""
    cfg = load_mapping(mapping_file)
    revio = p.revio()
    types = {
        int(t["product_type_id"]): normalize_product_type(t, cfg) for t in revio.iter_records("ProductTypes")
    }
    bills = {int(b["bill_id"]): normalize_bill(b) for b in revio.iter_records("Bills")}
    earned: dict[tuple[Month, str], int] = defaultdict(int)
    for raw in revio.iter_records("Charges"):
        row = normalize_charge(raw, types)
        bill = bills.get(row["bill_id"]) if row["bill_id"] else None
        if bill is None or bill["is_reversed"]:
            continue
        charge = charge_from_rows(row, bill)
        deferred = cfg.revenue.by_charge_kind[charge.kind].deferred  # type: ignore[index]
        for month, cents in day_by_day(charge, deferred).items():
            earned[(month, charge.kind)] += cents
    return earned


def test_month_end_over_both_sandboxes(db_url: str, tmp_path: Path) -> None:
    mapping_file = deferred_mapping(tmp_path)
    # qbo_empty: the default sandbox company has its own "Installation" item posting to "Services", which
    # revqb would reuse; a fresh company gets the mapping's items and accounts.
    with pipeline(
        db_url, tmp_path, customers=8, seed=11, months=3, start=date(2025, 1, 1), qbo_empty=True
    ) as p:
        os.environ["REVQB_MAPPING_FILE"] = mapping_file
        p.env["REVQB_MAPPING_FILE"] = mapping_file
        assert p.run()  # the daily sync fills staging and posts the invoices
        keys = [m.first_day.isoformat() for m in MONTHS]
        for _ in range(2):  # a backfill of the quarter, twice
            assert run_partitions(keys, job_name="month_end_revenue_job", instance=p.instance)
        entries = p.qbo_all("JournalEntry")
        docs = Counter(str(e["DocNumber"]) for e in entries)
        assert set(docs) <= {f"REVREC-{m.key}" for m in MONTHS} and max(docs.values()) == 1
        assert len(docs) >= 2
        cfg = load_mapping(mapping_file).revenue
        earned = earned_day_by_day(p, mapping_file)
        for month in MONTHS:
            activity = revenue_activity(p, month)
            for kind, rule in cfg.by_charge_kind.items():
                assert activity.get(rule.account, 0) == earned.get((month, kind), 0), (month.key, kind)
        results = reconcile(p.runtime(), ["journals", "invoices"])
        assert all(r.agrees for r in results), [r.differences for r in results]
