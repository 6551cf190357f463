"""Gathering the report (I/O): the registered reconciliations and the open receivables on both sides.

Rev.io side: each staged, non-reversed bill's outstanding (amount due less net payments, read through the
Rev.io API as ``revqb reconcile``'s balances do), due on the bill's due date. QBO side: each invoice
with the revqb DocNumber prefix and a non-zero Balance, due on its DueDate. Balances are as read now; the
buckets count days past due as of ``as_of``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from revqb_pipeline.entities import reconcile
from revqb_pipeline.entities.customers.reconcile import Customers, customers_of
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.money import to_cents
from revqb_pipeline.reports.aging import age
from revqb_pipeline.reports.model import QBO, REVIO, OpenItem, ReconciliationReport
from revqb_pipeline.reports.render import render_csv, render_html
from revqb_pipeline.sync.reconcile import EntityReconciliation
from revqb_pipeline.sync.runtime import Runtime


def _date(value: object) -> date | None:
    text = str(value or "")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def revio_open_items(rt: Runtime, names: Customers) -> list[OpenItem]:
    """Each staged Rev.io bill with an outstanding amount."""
    staged = {int(b["bill_id"]) for b in rt.store.rows("stg_bills")}
    bills = [norm.normalize_bill(b) for b in rt.revio.iter_records("Bills") if int(b["bill_id"]) in staged]
    payments = [norm.normalize_payment(p) for p in rt.revio.iter_records("Payments")]
    owed = pm.revio_outstanding(bills, payments)
    return [
        OpenItem(REVIO, names.label(b["customer_id"]), f"bill {b['bill_id']}", _date(b["due_date"]), cents)
        for b in bills
        if (cents := owed.get(int(b["bill_id"]), 0))
    ]


def qbo_open_items(rt: Runtime, names: Customers) -> list[OpenItem]:
    """Each revqb QBO invoice (DocNumber prefix) with a Balance; its customer named as on the Rev.io side."""
    prefix = rt.mapping.invoice.doc_number_prefix
    revio_of = names.by_qbo_id()
    out = []
    for inv in rt.qbo.query_all("Invoice", where=f"DocNumber LIKE '{prefix}%'"):
        cents = to_cents(inv.get("Balance") or 0)
        if not cents:
            continue
        ref = inv.get("CustomerRef") or {}
        rid = revio_of.get(str(ref.get("value")))
        who = names.label(rid) if rid else f"{ref.get('name') or ''} (QBO {ref.get('value')})".strip()
        due = _date(inv.get("DueDate")) or _date(inv.get("TxnDate"))
        out.append(OpenItem(QBO, who, f"Invoice {inv['Id']} ({inv.get('DocNumber', '')})", due, cents))
    return out


def build_report(
    rt: Runtime,
    *,
    as_of: date | None = None,
    entities: list[str] | None = None,
    results: list[EntityReconciliation] | None = None,
    title: str | None = None,
) -> ReconciliationReport:
    """The reconciliation report: ``results`` (default: run the registered reconcilers, all or
    ``entities``) plus AR aging per customer on both sides as of ``as_of`` (default: today)."""
    if results is None:
        results = reconcile(rt, entities)
    names = customers_of(rt)
    items = revio_open_items(rt, names) + qbo_open_items(rt, names)
    when = as_of or date.today()
    report = ReconciliationReport(when, datetime.now(UTC), list(results), age(items, when))
    if title:
        report.title = title
    return report


def write_report(
    report: ReconciliationReport, html: str | Path | None = None, csv: str | Path | None = None
) -> list[Path]:
    """Write the HTML and / or the CSV (parent folders created); the paths written."""
    written = []
    for path, render in ((html, render_html), (csv, render_csv)):
        if path is None:
            continue
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(report), encoding="utf-8")
        written.append(target)
    return written
