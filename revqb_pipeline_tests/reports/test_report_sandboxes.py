"""The reconciliation report over both sandboxes after a demo-like sync (issue 16).

Its figures equal ``revqb reconcile --json`` to the cent; the AR aging sums to each side's open balance
(Rev.io: the bills' outstanding; QBO: the invoices' Balance, read independently); the HTML parses and
carries the SVG charts; the month-end Dagster run attaches the report; an invoice deleted in QBO through
its HTTP API is exactly one difference row naming the bill, with both amounts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from revqb_pipeline.cli import run_partitions
from revqb_pipeline.defs.revenue.assets import REPORT, REPORT_CHECK
from revqb_pipeline.entities import reconcile
from revqb_pipeline.money import cents_to_dollars, from_cents, to_cents
from revqb_pipeline.reports import build_report, render_csv, render_html
from revqb_pipeline.reports.model import BUCKET_COLUMNS
from revqb_pipeline_tests._harness import Pipeline, pipeline

pytestmark = pytest.mark.slow

AS_OF = date(2026, 2, 20)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    """Six customers, a month of billing (January 2026) and its payments, synced day by day."""
    tmp = tmp_path_factory.mktemp("report")
    with pipeline(f"sqlite:///{tmp / 'revqb.db'}", tmp, customers=6, seed=7) as p:
        assert p.run()
        yield p


class Doc(HTMLParser):
    """Tables (id -> rows of cell texts) and SVG elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs: list[str] = []
        self.rects = 0
        self._table = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._table = a.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "svg":
            self.svgs.append(a.get("id") or "")
        elif tag == "rect":
            self.rects += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Doc:
    doc = Doc()
    doc.feed(html)
    doc.close()
    return doc


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def qbo_open_balance(p: Pipeline) -> int:
    prefix = p.runtime().mapping.invoice.doc_number_prefix
    return sum(to_cents(i.get("Balance") or 0) for i in p.qbo_all("Invoice", f"DocNumber LIKE '{prefix}%'"))


def test_report_figures_equal_the_reconcile_json(synced: Pipeline) -> None:
    p = synced
    expected = [r.as_dict() for r in reconcile(p.runtime())]
    report = build_report(p.runtime(), as_of=AS_OF)
    by_entity = {e["entity"]: e for e in expected}
    rows = csv_rows(render_csv(report))
    summary = [r for r in rows if r["section"] == "summary"]
    assert [r["entity"] for r in summary] == [e["entity"] for e in expected]
    for row in summary:
        e = by_entity[row["entity"]]
        assert (int(row["revio_count"]), int(row["qbo_count"])) == (e["revio_count"], e["qbo_count"])
        if row["entity"] != "customers":  # no amounts: empty in the CSV, "0.00" in the JSON
            assert Decimal(row["revio_amount"]) == Decimal(e["revio_total"]), row
            assert Decimal(row["qbo_amount"]) == Decimal(e["qbo_total"]), row
        assert row["status"] == ("OK" if e["agrees"] else "DIFFERENT")
    differences = [r for r in rows if r["section"] == "difference"]
    assert [r["message"] for r in differences] == [d for e in expected for d in e["differences"]]
    assert all(e["agrees"] for e in expected), [e["differences"] for e in expected]

    doc = parse(render_html(report))
    totals = doc.tables["totals"]
    assert totals[0][:5] == ["entity", "Rev.io #", "QBO #", "Rev.io total", "QBO total"]
    for cells in totals[1:]:
        e = by_entity[cells[0]]
        assert cells[1:3] == [f"{e['revio_count']:,}", f"{e['qbo_count']:,}"]
        if cells[0] != "customers":
            assert cells[3] == cents_to_dollars(to_cents(e["revio_total"]))
            assert cells[4] == cents_to_dollars(to_cents(e["qbo_total"]))
    assert {"totals-chart", "aging-chart"} <= set(doc.svgs)
    assert doc.rects >= 2 * (len(expected) - 1)  # a bar per side per entity with amounts
    assert "<script" not in render_html(report) and "http" not in render_html(report).replace(
        "http://www.w3.org/2000/svg", ""
    )


def test_aging_sums_to_each_sides_open_balance(synced: Pipeline) -> None:
    p = synced
    [balances] = reconcile(p.runtime(), ["balances"])
    report = build_report(p.runtime(), as_of=AS_OF, results=[balances])
    revio, qbo = sum(report.aging_totals("revio")), sum(report.aging_totals("qbo"))
    assert revio == balances.revio_total_cents > 0
    assert qbo == qbo_open_balance(p) == balances.qbo_total_cents
    rows = csv_rows(render_csv(report))
    for side in ("Rev.io", "QBO"):
        lines = [r for r in rows if r["section"] == "aging" and r["side"] == side]
        [total] = [r for r in rows if r["section"] == "aging_total" and r["side"] == side]
        for r in lines:
            assert sum(Decimal(r[c]) for c in BUCKET_COLUMNS) == Decimal(r["total"])
        for c in (*BUCKET_COLUMNS, "total"):
            assert sum(Decimal(r[c]) for r in lines) == Decimal(total[c])
        assert Decimal(total["total"]) == from_cents(revio if side == "Rev.io" else qbo)
    # every customer's open balance is the same on both sides when everything agrees
    by_side = {(a.customer, a.side): a.buckets for a in report.aging}
    for customer, side in by_side:
        assert by_side[(customer, side)] == by_side.get((customer, "qbo" if side == "revio" else "revio"))


def test_month_end_run_attaches_the_report(synced: Pipeline) -> None:
    p = synced
    assert run_partitions(["2026-01-01"], job_name="month_end_revenue_job", instance=p.instance)
    event = p.instance.get_latest_materialization_event(REPORT)
    assert event is not None and event.asset_materialization is not None
    mat = event.asset_materialization
    assert mat.partition == "2026-01-01"
    meta = mat.metadata
    html_path = Path(meta["report_html"].value)
    assert html_path.is_file() and Path(meta["report_csv"].value).is_file()
    assert html_path.is_relative_to(Path(p.instance.storage_directory()))
    doc = parse(html_path.read_text(encoding="utf-8"))
    assert "totals-chart" in doc.svgs and "invoices" in [row[0] for row in doc.tables["totals"][1:]]
    summary = meta["summary"].value
    assert "| invoices |" in summary and "| entity | Rev.io # |" in summary
    assert meta["as_of"].value == "2026-01-31"
    assert meta["agrees"].value is True and meta["differences"].value == 0
    assert meta["revio_open_ar"].value == meta["qbo_open_ar"].value
    records = p.instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(REPORT, REPORT_CHECK), limit=1
    )
    assert records and records[0].evaluation and records[0].evaluation.passed
    assert records[0].evaluation.partition == "2026-01-01"  # the check result is attached to its month


def test_an_invoice_deleted_in_qbo_is_one_difference_row(synced: Pipeline) -> None:
    p = synced
    rt = p.runtime()
    prefix = rt.mapping.invoice.doc_number_prefix
    invoices = p.qbo_all("Invoice", f"DocNumber LIKE '{prefix}%'")
    victim = max(invoices, key=lambda i: (to_cents(i["Balance"]), int(i["Id"])))
    bill_id = str(victim["DocNumber"])[len(prefix) :]
    rt.qbo.delete("Invoice", victim["Id"], victim["SyncToken"], request_id="report-test-delete")
    report = build_report(p.runtime(), as_of=AS_OF)
    rows = [r for r in csv_rows(render_csv(report)) if r["section"] == "difference"]
    [row] = [r for r in rows if r["entity"] == "invoices"]
    assert row["kind"] == "missing_in_qbo"
    assert row["document"] == f"bill {bill_id}" and row["qbo_document"] == victim["DocNumber"]
    assert Decimal(row["revio_amount"]) == Decimal(str(victim["TotalAmt"])) and row["qbo_amount"] == ""
    assert Decimal(row["difference"]) == -Decimal(str(victim["TotalAmt"]))
    assert row["customer"]
    html = render_html(report)
    assert f"bill {bill_id}" in "".join(c for r in parse(html).tables["differences"] for c in r)
    # the aging shows the same hole: that customer's QBO side lacks the invoice's balance
    assert sum(report.aging_totals("revio")) - sum(report.aging_totals("qbo")) == to_cents(victim["Balance"])


def test_an_invoice_moved_to_another_customer_is_a_customer_difference(synced: Pipeline) -> None:
    p = synced
    rt = p.runtime()
    prefix = rt.mapping.invoice.doc_number_prefix
    invoices = p.qbo_all("Invoice", f"DocNumber LIKE '{prefix}%'")
    victim = min(invoices, key=lambda i: int(i["Id"]))
    mine = str(victim["CustomerRef"]["value"])
    other = next(str(i["CustomerRef"]["value"]) for i in invoices if str(i["CustomerRef"]["value"]) != mine)
    body = {"Id": victim["Id"], "SyncToken": victim["SyncToken"], "CustomerRef": {"value": other}}
    rt.qbo.update("Invoice", body, request_id="report-test-move")
    bill_id = str(victim["DocNumber"])[len(prefix) :]
    report = build_report(p.runtime(), as_of=AS_OF, entities=["invoices"])
    rows = [r for r in csv_rows(render_csv(report)) if r["section"] == "difference"]
    [row] = [r for r in rows if r["document"] == f"bill {bill_id}"]
    assert row["kind"] == "customer"
    assert row["qbo_document"] == f"Invoice {victim['Id']} ({victim['DocNumber']})"
    assert Decimal(row["revio_amount"]) == Decimal(row["qbo_amount"]) == Decimal(str(victim["TotalAmt"]))
    assert f"QBO customer {mine}" in row["message"] and "(Rev.io " in row["message"]
