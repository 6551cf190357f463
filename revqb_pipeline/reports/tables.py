"""The report's rows, shared by the HTML and the CSV: one list of cells per line, amounts still in cents.

Pure. CSV columns (``COLUMNS``), one row per line, ``section`` saying which kind:

- ``summary``: one row per entity: ``entity``, ``revio_count``, ``qbo_count``, ``revio_amount``,
  ``qbo_amount`` (totals; empty for customers, which have no amounts), ``difference`` (QBO - Rev.io),
  ``status`` (OK / DIFFERENT).
- ``difference``: one row per difference by document: ``entity``, ``kind`` (missing_in_qbo,
  missing_in_revio, amount, customer, duplicate, other), ``document`` (the Rev.io record or month),
  ``qbo_document``, ``customer``, ``revio_amount`` / ``qbo_amount`` (empty: no amount on that side),
  ``difference``, ``message`` (the line `revqb reconcile` prints).
- ``aging``: one row per customer and side: ``customer``, ``side`` (Rev.io / QBO), the open balance per
  bucket of days past due as of ``as_of`` (``current``, ``days_1_30``, ``days_31_60``, ``days_61_90``,
  ``days_over_90``) and ``total``.
- ``aging_total``: the same per side over every customer (``customer`` empty).

Amounts are exact dollars with two places and no separator (``-1234.50``).
"""

from __future__ import annotations

from revqb_pipeline.money import from_cents
from revqb_pipeline.reports.model import BUCKET_COLUMNS, SIDE_NAMES, SIDES, ReconciliationReport

COLUMNS = (
    "section",
    "entity",
    "kind",
    "document",
    "qbo_document",
    "customer",
    "side",
    "revio_count",
    "qbo_count",
    "revio_amount",
    "qbo_amount",
    "difference",
    *BUCKET_COLUMNS,
    "total",
    "status",
    "as_of",
    "message",
)


def amount(cents: int | None) -> str:
    """Exact dollars, two places (``""`` for no amount)."""
    return "" if cents is None else str(from_cents(cents))


def _delta(revio: int | None, qbo: int | None) -> int | None:
    return None if revio is None and qbo is None else (qbo or 0) - (revio or 0)


def rows(report: ReconciliationReport) -> list[dict[str, str]]:
    """Every CSV row as ``column -> text`` (missing columns are empty)."""
    out: list[dict[str, str]] = []
    as_of = report.as_of.isoformat()
    for r in report.results:
        revio = r.revio_total_cents if r.has_total else None
        qbo = r.qbo_total_cents if r.has_total else None
        out.append(
            {
                "section": "summary",
                "entity": r.entity,
                "revio_count": str(r.revio_count),
                "qbo_count": str(r.qbo_count),
                "revio_amount": amount(revio),
                "qbo_amount": amount(qbo),
                "difference": amount(_delta(revio, qbo)),
                "status": "OK" if r.agrees else "DIFFERENT",
                "as_of": as_of,
            }
        )
    for d in report.differences:
        out.append(
            {
                "section": "difference",
                "entity": d.entity,
                "kind": d.kind,
                "document": d.document,
                "qbo_document": d.qbo_document,
                "customer": d.customer,
                "revio_amount": amount(d.revio_cents),
                "qbo_amount": amount(d.qbo_cents),
                "difference": amount(_delta(d.revio_cents, d.qbo_cents)),
                "as_of": as_of,
                "message": d.message,
            }
        )
    for line in report.aging:
        row = {"section": "aging", "customer": line.customer, "side": SIDE_NAMES[line.side], "as_of": as_of}
        row.update({col: amount(c) for col, c in zip(BUCKET_COLUMNS, line.buckets, strict=True)})
        row["total"] = amount(line.total_cents)
        out.append(row)
    for side in SIDES:
        totals = report.aging_totals(side)
        row = {"section": "aging_total", "side": SIDE_NAMES[side], "as_of": as_of}
        row.update({col: amount(c) for col, c in zip(BUCKET_COLUMNS, totals, strict=True)})
        row["total"] = amount(sum(totals))
        out.append(row)
    return [{col: row.get(col, "") for col in COLUMNS} for row in out]
