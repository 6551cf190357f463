"""What a finance person sees, in a real browser (headless Debian Chromium, Selenium).

One demo sync per module (both sandboxes, four customers, every day with Rev.io activity and the month
end, as ``revqb demo`` runs them) into a Dagster instance, then ``dagster-webserver`` over that instance:

- the loaded invoices' page shows the posted documents of a day as a table, each amount in dollars equal
  to the QBO invoice's TotalAmt and linked to the invoice in QBO, with the day's totals;
- the blocking invoice-lines check shows its result on its partition, and its history one row per day.

Screenshots go to the test's tmp dir (and ``$REVQB_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from revqb_pipeline.cli import run_partitions
from revqb_pipeline.money import dollars
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests.ui._browser import (
    chromium,
    dagster_webserver,
    require_chromium,
    screenshot,
    wait_for,
    wait_for_text,
)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
INVOICES = dg.AssetKey(["quickbooks", "invoices"])
PAYLOADS = dg.AssetKey(["quickbooks", "invoice_payloads"])
LINES_CHECK = "invoice_lines_valid"
REPORT = dg.AssetKey(["revenue", "reconciliation_report"])
DOLLARS = re.compile(r"-?\$\d{1,3}(,\d{3})*\.\d{2}")


@dataclass
class Demo:
    """The synced sandboxes, the days run and the UI's base URL."""

    pipeline: Pipeline
    days: list[str]
    url: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_chromium()  # before the sync, not after it
    tmp = tmp_path_factory.mktemp("ui")
    with pipeline(f"sqlite:///{tmp / 'revqb.db'}", tmp, customers=4, seed=7) as p:
        days = p.partitions()
        report = run_partitions(days, instance=p.instance)
        assert report and not report.quarantined, report.summary()
        months = sorted({f"{d[:7]}-01" for d in days})
        assert run_partitions(months, job_name="month_end_revenue_job", instance=p.instance)
        env = dict(os.environ)  # the sandboxes' settings (pipeline() put them there), as `revqb demo` does
        with dagster_webserver(p.home, REPO / "workspace.yaml", env, tmp / "webserver.log") as url:
            yield Demo(pipeline=p, days=days, url=url)


@pytest.fixture(scope="module")
def browser(demo: Demo) -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def _documents_by_day(instance: dg.DagsterInstance) -> dict[str, str]:
    """The ``documents`` markdown of each day's latest materialization of quickbooks/invoices."""
    records = instance.fetch_materializations(INVOICES, limit=1000).records
    found: dict[str, str] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        mat = record.asset_materialization
        if mat is not None and mat.partition and "documents" in mat.metadata:
            found[mat.partition] = str(mat.metadata["documents"].value)
    return found


def _cells(row) -> list[str]:
    return [c.text.strip() for c in row.find_elements(By.TAG_NAME, "td")]


def test_invoices_page_shows_posted_documents_in_dollars_with_qbo_links(
    demo: Demo, browser: WebDriver, tmp_path: Path
) -> None:
    documents = _documents_by_day(demo.pipeline.instance)
    assert documents, "no materialization of quickbooks/invoices lists documents"
    day = min(documents)  # the billing day: the invoices created
    invoices = {str(i["Id"]): i for i in demo.pipeline.qbo_all("Invoice")}

    browser.get(f"{demo.url}/assets/quickbooks/invoices?view=partitions&partition={day}")
    wait_for_text(browser, day, "Latest materialization", "documents", "totals", "open in QBO")
    table = wait_for(browser, "//th[normalize-space()='QBO document']/ancestor::table[1]")
    heads = [h.text.strip() for h in table.find_elements(By.TAG_NAME, "th")]
    assert heads == ["record", "action", "QBO document", "amount", "link"], heads
    rows = table.find_elements(By.XPATH, "./tbody/tr")
    assert len(rows) == documents[day].count("open in QBO") > 0

    shown_total = Decimal(0)
    for row in rows:
        record, action, document, amount, link_text = _cells(row)
        entity, qbo_id = document.split()
        assert (action, entity, link_text) == ("created", "Invoice", "open in QBO"), _cells(row)
        invoice = invoices[qbo_id]
        assert str(invoice["DocNumber"]).endswith(record), (record, invoice["DocNumber"])
        assert DOLLARS.fullmatch(amount), amount
        assert amount == dollars(Decimal(str(invoice["TotalAmt"]))), (amount, invoice["TotalAmt"])
        href = row.find_element(By.TAG_NAME, "a").get_attribute("href")
        assert href == f"https://app.qbo.intuit.com/app/invoice?txnId={qbo_id}", href
        shown_total += Decimal(str(invoice["TotalAmt"]))

    totals = wait_for(browser, "//th[normalize-space()='documents']/ancestor::table[1]")
    created = [_cells(r) for r in totals.find_elements(By.XPATH, "./tbody/tr")]
    assert created == [["created", str(len(rows)), dollars(shown_total)]], created

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", table)
    shot = screenshot(browser, tmp_path, "dagster-invoices-documents")
    assert shot.exists()


def _value_after(text: str, label: str) -> str:
    """The line after the line ``label`` in the page text (the UI lays a label above its value)."""
    lines = [ln.strip() for ln in text.splitlines()]
    return lines[lines.index(label) + 1]


def test_invoice_lines_check_result_is_shown_on_its_partition(
    demo: Demo, browser: WebDriver, tmp_path: Path
) -> None:
    browser.get(f"{demo.url}/assets/quickbooks/invoice_payloads?view=checks")
    wait_for(browser, f"//*[normalize-space(text())='{LINES_CHECK}']").click()
    text = wait_for_text(browser, "This is a blocking asset check", "Latest execution", "Passed", "Partition")
    latest_partition = _value_after(text, "Partition")
    screenshot(browser, tmp_path, "dagster-check-latest")

    wait_for(browser, "//*[normalize-space(text())='Execution history']").click()
    history = wait_for_text(browser, "Evaluation result", "Target materialization")
    screenshot(browser, tmp_path, "dagster-check-history")

    assert latest_partition == demo.days[-1], latest_partition
    rows = wait_for(browser, "//th[normalize-space()='Partition']/ancestor::table[1]").find_elements(
        By.XPATH, "./tbody/tr"
    )
    shown = sorted(c[3] for c in map(_cells, rows) if len(c) > 3)
    assert shown == sorted(demo.days), (shown, history[:2000])
    assert all(_cells(r)[0] == "Passed" for r in rows)


def _revqb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The ``revqb`` command with this process's environment (the sandboxes' settings)."""
    revqb = Path(sys.executable).with_name("revqb")
    return subprocess.run(
        [str(revqb), *args], cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def reconciled(demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """``revqb reconcile --json`` over the synced sandboxes."""
    done = _revqb("reconcile", "--json", cwd=tmp_path_factory.mktemp("reconcile"))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(done.stdout)


def _cli_report(tmp_path: Path) -> Path:
    """The HTML ``revqb reconcile --report FILE.html`` writes."""
    path = tmp_path / "reconciliation.html"
    done = _revqb("reconcile", "--report", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return path


def _month_end_report(instance: dg.DagsterInstance) -> Path:
    """The HTML the month-end run attached to revenue/reconciliation_report."""
    records = instance.fetch_materializations(REPORT, limit=10).records
    assert records, "the month-end run materialized no revenue/reconciliation_report"
    return Path(str(records[0].asset_materialization.metadata["report_html"].value))


def _rendered_size(browser: WebDriver, element) -> tuple[float, float]:
    box = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", element
    )
    return float(box[0]), float(box[1])


@pytest.mark.parametrize("source", ["revqb reconcile --report", "month-end run"])
def test_reconciliation_report_renders_totals_and_chart(
    demo: Demo, browser: WebDriver, reconciled: list[dict], source: str, tmp_path: Path
) -> None:
    results = reconciled
    cli = source.startswith("revqb")
    if cli:
        path = _cli_report(tmp_path)
    else:  # the month-end run's report: its path and summary are on the asset's page in Dagster
        path = _month_end_report(demo.pipeline.instance)
        month = f"{demo.days[0][:7]}-01"
        browser.get(f"{demo.url}/assets/revenue/reconciliation_report?view=partitions&partition={month}")
        wait_for_text(browser, month, "report_html", str(path), "summary")
        screenshot(browser, tmp_path, "dagster-month-end-report")
    assert path.is_file(), path
    browser.get(path.as_uri())
    wait_for_text(browser, "Totals per entity", "Rev.io and QBO agree", "AR aging per customer")

    table = wait_for(browser, "//table[@id='totals']")
    width, height = _rendered_size(browser, table)
    assert width > 0 and height > 0, (width, height)
    heads = [h.text for h in table.find_elements(By.XPATH, "./thead/tr/th")]
    assert heads[:5] == ["entity", "Rev.io #", "QBO #", "Rev.io total", "QBO total"], heads
    shown = {c[0]: c for c in map(_cells, table.find_elements(By.XPATH, "./tbody/tr"))}
    assert sorted(shown) == sorted(r["entity"] for r in results), shown
    with_totals = []
    for r in results:
        cells = shown[r["entity"]]
        assert cells[1:3] == [f"{r['revio_count']:,}", f"{r['qbo_count']:,}"], (r, cells)
        assert cells[-1] == "OK", cells
        if cells[3] == "-":  # an entity without amounts (customers)
            assert r["revio_total_cents"] == r["qbo_total_cents"] == 0, r
            continue
        with_totals.append(r["entity"])
        assert cells[3] == dollars(Decimal(r["revio_total"])), (r, cells)
        assert cells[4] == dollars(Decimal(r["qbo_total"])), (r, cells)
    assert with_totals, shown

    chart = wait_for(browser, "//*[local-name()='svg' and @id='totals-chart']")
    width, height = _rendered_size(browser, chart)
    assert width > 100 and height > 50, (width, height)
    bars = chart.find_elements(By.XPATH, "./*[local-name()='rect' and *[local-name()='title']]")
    assert len(bars) == 2 * len(with_totals), len(bars)
    nonzero = [b for b in bars if _rendered_size(browser, b)[0] > 0]
    assert len(nonzero) == len(bars), "a bar of a non-zero total is not drawn"
    labels = chart.text
    for r in results:
        if r["entity"] in with_totals:
            assert dollars(Decimal(r["qbo_total"])) in labels, (r["entity"], labels)

    browser.execute_script("window.scrollTo(0, 0)")  # title, status, totals and chart
    screenshot(browser, tmp_path, "report-cli" if cli else "report-month-end")
