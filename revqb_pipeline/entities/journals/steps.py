"""The month-end steps: the month's revenue summary (checked, its JournalEntry payload stored) and the post.

Plain Python over a Runtime and a month key (``YYYY-MM-01``); ``defs/revenue`` declares the assets, the
blocking check and the schedule around them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from revqb_pipeline.entities.journals.checks import check_revenue
from revqb_pipeline.entities.journals.revenue import Month, MonthRevenue
from revqb_pipeline.entities.journals.sync import (
    invoiced_amounts,
    month_summary,
    post_month_journal,
    save_month_payload,
)
from revqb_pipeline.money import from_cents
from revqb_pipeline.sync.reference_data import ensure_reference_data
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import Markdown, StepResult
from revqb_pipeline.sync.writer import WriteReport

ACTIONS = ("created", "updated", "linked", "unchanged", "deleted", "empty", "quarantined", "failed")


def summary_table(summary: MonthRevenue) -> Markdown:
    """Per category: billed, recognized, deferred opening / closing and the change, in dollars."""
    head = (
        "| category | billed | recognized | deferred opening | deferred closing | change |\n"
        "|---|---|---|---|---|---|"
    )
    rows = [
        f"| {c.category} | {from_cents(c.billed_cents)} | {from_cents(c.recognized_cents)} | "
        f"{from_cents(c.deferred_opening_cents)} | {from_cents(c.deferred_closing_cents)} | "
        f"{from_cents(c.deferred_change_cents)} |"
        for c in summary.categories
    ]
    return Markdown("\n".join([head, *rows]))


@dataclass
class SummaryResult(StepResult):
    """The summary step's result, plus the warnings to log."""

    warnings: list[str] | None = None


def summarize(rt: Runtime, month_key: str) -> SummaryResult:
    """The month's summary and stored JournalEntry payload, with the blocking tie-out check."""
    month = Month.parse(month_key)
    summary = month_summary(rt, month)
    row = save_month_payload(rt, summary, month_key)
    metadata: dict[str, Any] = {
        "month": month.key,
        "charges": summary.charges_considered,
        "billed_cents": summary.total("billed_cents"),
        "recognized_cents": summary.total("recognized_cents"),
        "deferred_closing_cents": summary.total("deferred_closing_cents"),
        "journal_lines": len(row["payload"]["Line"]),
        "summary": summary_table(summary),
    }
    check = check_revenue(summary, row["payload"], invoiced_amounts(rt.engine, month))
    return SummaryResult(metadata, checks=[check], warnings=list(summary.warnings))


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """What happened to the month's entry (one of the counts is 1) and any problem."""
    metadata: dict[str, Any] = {a: report.counts.get(a, 0) for a in ACTIONS}
    details = [f"{a}: {d}" for a, d in report.outcomes.values() if d]
    if details:
        metadata["detail"] = "; ".join(details)
    return metadata


@dataclass
class PostResult(StepResult):
    """The post step's result; ``problem`` set when the entry was not posted, ``retryable`` when only
    transient failures stopped it (a QBO validation error needs a fix first)."""

    problem: str | None = None
    retryable: bool = False


def post(rt: Runtime, month_key: str) -> PostResult:
    """Create, update or delete the month's JournalEntry in QBO."""
    month = Month.parse(month_key)
    refs = ensure_reference_data(rt.qbo, rt.mapping)
    report = post_month_journal(rt, month, refs)
    metadata = report_metadata(report)
    if report.qbo_ids.get(month.key):
        metadata["qbo_id"] = report.qbo_ids[month.key]
    problems = [(a, d) for a, d in report.outcomes.values() if a in ("failed", "quarantined")]
    if not problems:
        return PostResult(metadata)
    return PostResult(
        metadata,
        problem=f"revenue journal {month.key} not posted: {'; '.join(f'{a}: {d}' for a, d in problems)}",
        retryable=all(a == "failed" for a, _ in problems),
    )
