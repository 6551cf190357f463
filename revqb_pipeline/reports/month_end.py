"""The report of a month-end run (I/O): built, written beside the run's other files, summarized as metadata.

The Dagster asset ``revenue/reconciliation_report`` calls :func:`month_end_report` with a folder under the
instance's storage; the metadata keys are plain values (``*_cents`` shown in dollars by ``defs/_results``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from revqb_pipeline.entities.journals.revenue import Month
from revqb_pipeline.reports.gather import build_report, write_report
from revqb_pipeline.reports.model import QBO, REVIO, ReconciliationReport
from revqb_pipeline.reports.render import summary_markdown
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import Markdown


@dataclass(frozen=True)
class MonthEndReport:
    report: ReconciliationReport
    html: Path
    csv: Path

    def metadata(self) -> dict[str, Any]:
        r = self.report
        return {
            "report_html": str(self.html),
            "report_csv": str(self.csv),
            "as_of": r.as_of.isoformat(),
            "agrees": r.agrees,
            "differences": len(r.differences),
            "revio_open_ar_cents": sum(r.aging_totals(REVIO)),
            "qbo_open_ar_cents": sum(r.aging_totals(QBO)),
            "summary": Markdown(summary_markdown(r)),
        }


def month_end_as_of(partition_key: str, today: date | None = None) -> date:
    """The aging date of a month's report: its last day, or today while the month is still open."""
    return min(Month.parse(partition_key).last_day, today or date.today())


def month_end_report(rt: Runtime, partition_key: str, folder: Path, run_id: str) -> MonthEndReport:
    """Reconcile everything, age the receivables as of the month's end, write HTML + CSV into ``folder``."""
    month = Month.parse(partition_key)
    report = build_report(
        rt,
        as_of=month_end_as_of(partition_key),
        title=f"Rev.io vs QuickBooks Online reconciliation, month-end {month.key}",
    )
    stem = folder / f"reconciliation-{month.key}-{run_id[:8]}"
    html, csv = write_report(report, html=stem.with_suffix(".html"), csv=stem.with_suffix(".csv"))
    return MonthEndReport(report, html, csv)
