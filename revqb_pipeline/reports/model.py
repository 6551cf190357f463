"""The reconciliation report as data: per-entity totals and differences (``sync/reconcile``) plus AR aging.

Pure: no I/O. Amounts are integer cents; the renderers turn them into dollars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from revqb_pipeline.sync.reconcile import Difference, EntityReconciliation

REVIO = "revio"
QBO = "qbo"
SIDES = (REVIO, QBO)
SIDE_NAMES = {REVIO: "Rev.io", QBO: "QBO"}
#: Aging buckets by days past due as of the report date; labels as printed, keys as in the CSV.
BUCKETS = ("current", "1-30", "31-60", "61-90", ">90")
BUCKET_COLUMNS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


@dataclass(frozen=True)
class OpenItem:
    """One open receivable: a Rev.io bill's outstanding, or a QBO invoice's Balance."""

    side: str
    customer: str
    document: str
    due_date: date | None
    cents: int


@dataclass(frozen=True)
class AgingLine:
    """One customer's open balance on one side, in cents per bucket of :data:`BUCKETS`."""

    customer: str
    side: str
    buckets: tuple[int, int, int, int, int]

    @property
    def total_cents(self) -> int:
        return sum(self.buckets)


@dataclass
class ReconciliationReport:
    """Everything the HTML, the CSV and the Dagster summary show."""

    as_of: date
    generated_at: datetime
    results: list[EntityReconciliation]
    aging: list[AgingLine] = field(default_factory=list)
    title: str = "Rev.io vs QuickBooks Online reconciliation"

    @property
    def differences(self) -> list[Difference]:
        """Every difference by document, entity by entity in reconcile order."""
        return [d for r in self.results for d in r.difference_rows()]

    @property
    def agrees(self) -> bool:
        return all(r.agrees for r in self.results)

    def aging_totals(self, side: str) -> tuple[int, ...]:
        """Cents per bucket over every customer of ``side``."""
        lines = [a for a in self.aging if a.side == side]
        return tuple(sum(a.buckets[i] for a in lines) for i in range(len(BUCKETS)))
