"""Month-end revenue recognition: the month's summary (checked) and its QBO JournalEntry.

Both assets are partitioned by month and read the staging database directly; they do NOT depend on the
daily bill-date assets through a partition mapping (a day without bills has no materialization and would
fail the month). Each run is self-contained, so backfills of past months work in any order.
"""

from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._results import check_result
from revqb_pipeline.defs.partitions import month_partitions
from revqb_pipeline.defs.resources import QBOResource, StagingResource
from revqb_pipeline.entities.journals.checks import CHECK_NAME, check_revenue
from revqb_pipeline.entities.journals.revenue import LOOKBACK_MONTHS, Month, MonthRevenue
from revqb_pipeline.entities.journals.sync import (
    invoiced_amounts,
    month_summary,
    post_month_journal,
    save_month_payload,
)
from revqb_pipeline.money import from_cents
from revqb_pipeline.sync.reference_data import ensure_reference_data
from revqb_pipeline.sync.writer import WriteReport

GROUP = "revenue"
SUMMARY = dg.AssetKey(["revenue", "summary"])
JOURNAL = dg.AssetKey(["quickbooks", "revenue_journal"])
ACTIONS = ("created", "updated", "linked", "unchanged", "deleted", "empty", "quarantined", "failed")
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def summary_table(summary: MonthRevenue) -> dg.MetadataValue:
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
    return dg.MetadataValue.md("\n".join([head, *rows]))


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """What happened to the month's entry (one of the counts is 1) and any problem."""
    metadata: dict[str, Any] = {a: report.counts.get(a, 0) for a in ACTIONS}
    details = [f"{a}: {d}" for a, d in report.outcomes.values() if d]
    if details:
        metadata["detail"] = "; ".join(details)
    return metadata


@dg.asset(
    key=SUMMARY,
    group_name=GROUP,
    partitions_def=month_partitions,
    kinds={"python"},
    description=(
        "Revenue per category for the month: billed, recognized (recurring charges day-weighted over their "
        "service period when the mapping defers the kind), deferred balance opening/closing. Reads the "
        f"staging tables directly (billings of the month and the {LOOKBACK_MONTHS} months before it with "
        "service still open), which the daily Rev.io sync fills; there is deliberately no partition "
        "dependency on the daily assets. Stores the month's JournalEntry payload for "
        "quickbooks/revenue_journal."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=SUMMARY,
            blocking=True,
            description="The entry balances and ties to the invoices: "
            "recognized + change in deferred = billed.",
        )
    ],
)
@fail_fast
def revenue_summary(context: dg.AssetExecutionContext, staging: StagingResource):
    rt = staging.runtime()
    month = Month.parse(context.partition_key)
    summary = month_summary(rt, month)
    row = save_month_payload(rt, summary, context.partition_key)
    for warning in summary.warnings:
        context.log.warning(warning)
    metadata: dict[str, Any] = {
        "month": month.key,
        "charges": summary.charges_considered,
        "billed_cents": summary.total("billed_cents"),
        "recognized_cents": summary.total("recognized_cents"),
        "deferred_closing_cents": summary.total("deferred_closing_cents"),
        "journal_lines": len(row["payload"]["Line"]),
        "summary": summary_table(summary),
    }
    yield dg.MaterializeResult(metadata=metadata)
    yield check_result(check_revenue(summary, row["payload"], invoiced_amounts(rt.engine, month)))


@dg.asset(
    key=JOURNAL,
    group_name=GROUP,
    deps=[SUMMARY],
    partitions_def=month_partitions,
    pool="qbo_api",
    retry_policy=RETRY,
    kinds={"python"},
    description=(
        "The month's revenue-recognition JournalEntry in QBO (DocNumber REVREC-YYYY-MM, dated the last day "
        "of the month): created once, updated in place on re-runs, deleted if the month nets to nothing."
    ),
)
@fail_fast
def revenue_journal(
    context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource
) -> dg.MaterializeResult:
    rt = staging.runtime(qbo=qbo)
    month = Month.parse(context.partition_key)
    refs = ensure_reference_data(rt.qbo, rt.mapping)
    report = post_month_journal(rt, month, refs)
    metadata = report_metadata(report)
    if report.qbo_ids.get(month.key):
        metadata["qbo_id"] = report.qbo_ids[month.key]
    problems = [(a, d) for a, d in report.outcomes.values() if a in ("failed", "quarantined")]
    if problems:
        # A transient failure is retried (retry policy); a QBO validation error needs a fix first.
        raise dg.Failure(
            f"revenue journal {month.key} not posted: {'; '.join(f'{a}: {d}' for a, d in problems)}",
            metadata=metadata,
            allow_retries=all(a == "failed" for a, _ in problems),
        )
    return dg.MaterializeResult(metadata=metadata)
