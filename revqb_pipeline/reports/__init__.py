"""The reconciliation report (issue 16): Rev.io vs QBO per entity, every difference by document, AR aging
per customer on both sides and charts of the totals, as a self-contained HTML page and a CSV.

``gather`` reads (I/O); ``model``, ``aging``, ``chart``, ``tables`` and ``render`` are pure.
"""

from __future__ import annotations

from revqb_pipeline.reports.gather import build_report, write_report
from revqb_pipeline.reports.model import AgingLine, OpenItem, ReconciliationReport
from revqb_pipeline.reports.render import render_csv, render_html, summary_markdown
from revqb_pipeline.reports.tables import COLUMNS

__all__ = [
    "COLUMNS",
    "AgingLine",
    "OpenItem",
    "ReconciliationReport",
    "build_report",
    "render_csv",
    "render_html",
    "summary_markdown",
    "write_report",
]
