"""Issue 16: load metadata a finance person can read: the documents a run wrote (amounts in dollars, QBO
ids, links to QBO) with totals per action, and dollars instead of cents in Dagster metadata."""

from __future__ import annotations

from decimal import Decimal

import dagster as dg
import pytest

from revqb_pipeline.defs._results import dagster_metadata, merge_days
from revqb_pipeline.money import to_decimal
from revqb_pipeline.sync.steps import (
    cents_to_dollars,
    documents_table,
    dollars,
    qbo_link,
    report_metadata,
)
from revqb_pipeline.sync.writer import WriteReport, payload_amount
from revqb_pipeline_tests._harness import pipeline

INVOICES = dg.AssetKey(["quickbooks", "invoices"])
APP = "https://app.qbo.intuit.com/app"


def test_qbo_link_is_the_qbo_web_page_of_the_document() -> None:
    assert qbo_link("Invoice", "42") == "https://app.qbo.intuit.com/app/invoice?txnId=42"
    assert qbo_link("Payment", "7") == "https://app.qbo.intuit.com/app/recvpayment?txnId=7"
    assert qbo_link("CreditMemo", "8") == "https://app.qbo.intuit.com/app/creditmemo?txnId=8"
    assert qbo_link("JournalEntry", "9") == "https://app.qbo.intuit.com/app/journal?txnId=9"
    assert qbo_link("Customer", "3") == "https://app.qbo.intuit.com/app/customerdetail?nameId=3"
    assert qbo_link("Invoice", "") == "" and qbo_link("Widget", "1") == ""


def test_dollars_are_exact_with_separators_and_sign() -> None:
    assert dollars(Decimal("1234.56")) == "$1,234.56"
    assert dollars(Decimal("-1234.5")) == "-$1,234.50"
    assert dollars(Decimal("0")) == "$0.00"
    assert dollars(Decimal("1234567.891")) == "$1,234,567.891"  # never rounded away
    assert cents_to_dollars(1568401) == "$15,684.01" and cents_to_dollars(-5) == "-$0.05"


def test_payload_amount_total_lines_tax_or_amount() -> None:
    assert payload_amount({"TotalAmt": "10.10", "Line": [{"Amount": 1}]}) == Decimal("10.10")
    invoice = {
        "Line": [{"Amount": Decimal("0.10")}, {"Amount": "0.20"}],
        "TxnTaxDetail": {"TotalTax": "0.03"},
    }
    assert payload_amount(invoice) == Decimal("0.33")  # exact: 0.1 + 0.2 + 0.03
    journal = {
        "Line": [
            {"Amount": "5.00", "JournalEntryLineDetail": {"PostingType": "Debit"}},
            {"Amount": "5.00", "JournalEntryLineDetail": {"PostingType": "Credit"}},
        ]
    }
    assert payload_amount(journal) == Decimal("5.00")
    assert payload_amount({"Amount": "2.50"}) == Decimal("2.50")
    assert payload_amount({"DisplayName": "Acme"}) is None
    assert payload_amount({"TotalAmt": "NaN"}) is None


def test_documents_table_first_rows_and_totals_per_action() -> None:
    report = WriteReport()
    report.record("b1", "created", qbo_id="10", entity="Invoice", amount=Decimal("1234.56"))
    report.record("b2", "updated", qbo_id="11", entity="Invoice", amount=Decimal("0.44"))
    report.record("b3", "unchanged", qbo_id="12")
    report.record("b4", "quarantined", "6000 bad|item", entity="Invoice", amount=Decimal("-3.00"))
    report.record("b5", "voided", qbo_id="13")
    report.record("b6", "created", qbo_id="14", entity="Invoice", amount=Decimal("1000"))
    built = documents_table(report, limit=4)
    assert built is not None
    table, totals = built
    assert table.splitlines() == [
        "| record | action | QBO document | amount | link |",
        "|---|---|---|---:|---|",
        f"| b1 | created | Invoice 10 | $1,234.56 | [open in QBO]({APP}/invoice?txnId=10) |",
        f"| b2 | updated | Invoice 11 | $0.44 | [open in QBO]({APP}/invoice?txnId=11) |",
        "| b4 | quarantined | Invoice | -$3.00 |  |",
        "| b5 | voided | 13 |  |  |",
        "",
        "first 4 of 5",
    ]
    assert totals.splitlines()[2:] == [
        "| created | 2 | $2,234.56 |",
        "| updated | 1 | $0.44 |",
        "| voided | 1 | $0.00 |",
        "| quarantined | 1 | -$3.00 |",
    ]
    only_unchanged = WriteReport()
    only_unchanged.record("b3", "unchanged", qbo_id="12")
    assert documents_table(only_unchanged) is None
    assert "documents" not in report_metadata(only_unchanged)


def test_dagster_metadata_shows_cents_as_dollars() -> None:
    out = dagster_metadata({"billed_cents": 1568401, "recognized_cents": 0, "created": 3, "flag_cents": True})
    assert out == {"billed": "$15,684.01", "recognized": "$0.00", "created": 3, "flag_cents": True}


def _rows(markdown: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in markdown.splitlines()[2:]
        if line.startswith("|")
    ]


@pytest.mark.slow
def test_a_real_run_tables_every_invoice_it_created_to_the_cent(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=6, seed=17) as p:
        assert p.run()
        bills = {str(b["bill_id"]): b for b in p.revio().iter_records("Bills")}
        invoices = {str(i["DocNumber"]): i for i in p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")}
        assert bills and len(invoices) == len(bills)
        seen: dict[str, list[str]] = {}
        for day in p.partitions():
            records = p.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=INVOICES, asset_partitions=[day]), limit=1
            ).records
            meta = records[0].asset_materialization.metadata
            if not meta["created"].value:
                assert "documents" not in meta
                continue
            day_total = Decimal(0)
            for sid, action, document, amount, link in _rows(meta["documents"].value):
                invoice = invoices[f"RV-{sid}"]
                assert action == "created" and document == f"Invoice {invoice['Id']}"
                assert amount == dollars(to_decimal(invoice["TotalAmt"]))
                assert to_decimal(invoice["TotalAmt"]) == to_decimal(bills[sid]["invoice_amount"])
                assert link == f"[open in QBO](https://app.qbo.intuit.com/app/invoice?txnId={invoice['Id']})"
                day_total += to_decimal(invoice["TotalAmt"])
                seen[sid] = [action, day]
            assert _rows(meta["totals"].value) == [
                ["created", str(meta["created"].value), dollars(day_total)]
            ]
        assert set(seen) == set(bills)  # every bill's invoice listed once, on its day


def test_a_range_run_merges_the_days_into_one_table_of_the_first_rows() -> None:
    days = []
    for day, ids in (("2026-01-01", ("1", "2")), ("2026-01-02", ("3", "4"))):
        report = WriteReport()
        for sid in ids:
            report.record(sid, "created", qbo_id=f"9{sid}", entity="Invoice", amount=Decimal(f"{sid}.01"))
        metadata = report_metadata(report)
        days.append((day, {"documents": documents_table(report, limit=3)[0], "totals": metadata["totals"]}))
    merged = merge_days(days)
    assert [r[0] for r in _rows(merged["documents"])] == ["1", "2", "3"]  # first 3 over all days
    assert _rows(merged["totals"]) == [["created", "4", "$10.04"]]
    shown = dagster_metadata(merged)["documents"]
    assert isinstance(shown, dg.MarkdownMetadataValue) and "first 3 of 4" in shown.value
