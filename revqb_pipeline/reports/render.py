"""Rendering the report: a self-contained HTML page (inline CSS and SVG, no script), the CSV and a markdown
summary of the differences (Dagster metadata). Pure: text in, text out."""

from __future__ import annotations

import csv
import io
from html import escape

from revqb_pipeline.money import cents_to_dollars
from revqb_pipeline.reports.chart import grouped_bars
from revqb_pipeline.reports.model import BUCKETS, QBO, REVIO, SIDE_NAMES, ReconciliationReport
from revqb_pipeline.reports.tables import COLUMNS, rows

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #cbd5e0;padding:3px 8px}
th{background:#edf2f7;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.bad td{background:#fff5f5}.ok{color:#276749;font-weight:bold}.bad{color:#c53030;font-weight:bold}
"""


DIFF_HEAD = [
    "entity",
    "kind",
    "document",
    "QBO document",
    "customer",
    "Rev.io",
    "QBO",
    "difference",
    "detail",
]


def _money(cents: int | None) -> str:
    return "" if cents is None else cents_to_dollars(cents)


def _table(
    head: list[str],
    body: list[list[str]],
    numeric: set[int],
    bad: list[bool] | None = None,
    table_id: str = "",
) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    trs = []
    for i, cells in enumerate(body):
        tds = "".join(
            f'<td class="n">{escape(c)}</td>' if j in numeric else f"<td>{escape(c)}</td>"
            for j, c in enumerate(cells)
        )
        cls = ' class="bad"' if bad and bad[i] else ""
        trs.append(f"<tr{cls}>{tds}</tr>")
    return f'<table id="{table_id}"><thead><tr>{th}</tr></thead><tbody>{"".join(trs)}</tbody></table>'


def totals_chart(report: ReconciliationReport) -> str:
    """Rev.io vs QBO totals of every entity with amounts."""
    shown = [r for r in report.results if r.has_total]
    return grouped_bars(
        "totals-chart",
        "Totals: Rev.io vs QBO",
        [r.entity for r in shown],
        [("Rev.io", [r.revio_total_cents for r in shown]), ("QBO", [r.qbo_total_cents for r in shown])],
    )


def aging_chart(report: ReconciliationReport) -> str:
    """Open receivables per aging bucket on both sides."""
    return grouped_bars(
        "aging-chart",
        f"AR aging as of {report.as_of.isoformat()}",
        list(BUCKETS),
        [("Rev.io", list(report.aging_totals(REVIO))), ("QBO", list(report.aging_totals(QBO)))],
    )


def render_html(report: ReconciliationReport) -> str:
    """The whole report as one HTML document that opens offline."""
    status = (
        '<span class="ok">Rev.io and QBO agree</span>'
        if report.agrees
        else f'<span class="bad">{len(report.differences)} difference(s)</span>'
    )
    summary = _table(
        ["entity", "Rev.io #", "QBO #", "Rev.io total", "QBO total", "difference", "status"],
        [
            [
                r.entity,
                f"{r.revio_count:,}",
                f"{r.qbo_count:,}",
                _money(r.revio_total_cents) if r.has_total else "-",
                _money(r.qbo_total_cents) if r.has_total else "-",
                _money(r.qbo_total_cents - r.revio_total_cents) if r.has_total else "-",
                "OK" if r.agrees else "DIFFERENT",
            ]
            for r in report.results
        ],
        {1, 2, 3, 4, 5},
        [not r.agrees for r in report.results],
        "totals",
    )
    diffs = report.differences
    differences = (
        _table(
            DIFF_HEAD,
            [
                [
                    d.entity,
                    d.kind,
                    d.document,
                    d.qbo_document,
                    d.customer,
                    _money(d.revio_cents),
                    _money(d.qbo_cents),
                    ""
                    if d.revio_cents is None and d.qbo_cents is None
                    else _money((d.qbo_cents or 0) - (d.revio_cents or 0)),
                    d.message,
                ]
                for d in diffs
            ],
            {5, 6, 7},
            table_id="differences",
        )
        if diffs
        else "<p>None.</p>"
    )
    aging_body: list[list[str]] = []
    aging_bad: list[bool] = []
    by_customer: dict[str, dict[str, int]] = {}
    for line in report.aging:
        by_customer.setdefault(line.customer, {})[line.side] = line.total_cents
    for line in report.aging:
        sides = by_customer[line.customer]
        cells = [_money(c) for c in line.buckets]
        aging_body.append([line.customer, SIDE_NAMES[line.side], *cells, _money(line.total_cents)])
        aging_bad.append(sides.get(REVIO, 0) != sides.get(QBO, 0))
    for side in (REVIO, QBO):
        totals = report.aging_totals(side)
        cells = [_money(c) for c in totals]
        aging_body.append(["All customers", SIDE_NAMES[side], *cells, _money(sum(totals))])
        aging_bad.append(False)
    head = ["customer", "side", *BUCKETS, "total"]
    aging = _table(head, aging_body, {2, 3, 4, 5, 6, 7}, aging_bad, "aging")
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(report.title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<h1>{escape(report.title)}</h1>"
        f"<p>Generated {escape(report.generated_at.isoformat(timespec='seconds'))}; "
        f"aging as of {escape(report.as_of.isoformat())}. {status}</p>"
        f"<h2>Totals per entity</h2>{summary}{totals_chart(report)}"
        f"<h2>Differences by document</h2>{differences}"
        f"<h2>AR aging per customer (days past due)</h2>"
        "<p>Rev.io: each bill's outstanding (amount due less net payments); QBO: each invoice's Balance.</p>"
        f"{aging}{aging_chart(report)}"
        "</body></html>\n"
    )


def render_csv(report: ReconciliationReport) -> str:
    """The report as CSV (columns: ``tables.COLUMNS``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(report))
    return buf.getvalue()


def summary_markdown(report: ReconciliationReport, limit: int = 50) -> str:
    """Totals per entity and the first ``limit`` differences as markdown (Dagster metadata)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "| entity | Rev.io # | QBO # | Rev.io total | QBO total | status |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in report.results:
        revio = _money(r.revio_total_cents) if r.has_total else "-"
        qbo = _money(r.qbo_total_cents) if r.has_total else "-"
        ok = "OK" if r.agrees else "**DIFFERENT**"
        lines.append(f"| {r.entity} | {r.revio_count:,} | {r.qbo_count:,} | {revio} | {qbo} | {ok} |")
    diffs = report.differences
    lines.append("")
    if not diffs:
        lines.append("No differences.")
        return "\n".join(lines)
    lines += [
        f"**{len(diffs)} difference(s)**" + (f" (first {limit})" if len(diffs) > limit else ""),
        "",
        "| entity | kind | document | QBO document | customer | Rev.io | QBO |",
        "|---|---|---|---|---|---:|---:|",
    ]
    for d in diffs[:limit]:
        cells = [d.entity, d.kind, d.document, d.qbo_document, d.customer, _money(d.revio_cents)]
        lines.append("| " + " | ".join(cell(c) for c in [*cells, _money(d.qbo_cents)]) + " |")
    return "\n".join(lines)
