"""Month-end revenue recognition: the month's summary (checked) and its QBO JournalEntry.

Both assets are partitioned by month and read the staging database directly; they do NOT depend on the
daily bill-date assets through a partition mapping (a day without bills has no materialization and would
fail the month). Each run is self-contained, so backfills of past months work in any order.
"""

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._results import check_result, dagster_metadata
from revqb_pipeline.defs.partitions import month_partitions
from revqb_pipeline.defs.resources import QBOResource, StagingResource
from revqb_pipeline.entities.journals.checks import CHECK_NAME
from revqb_pipeline.entities.journals.revenue import LOOKBACK_MONTHS
from revqb_pipeline.entities.journals.steps import post, summarize

GROUP = "revenue"
SUMMARY = dg.AssetKey(["revenue", "summary"])
JOURNAL = dg.AssetKey(["quickbooks", "revenue_journal"])
RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


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
    result = summarize(staging.runtime(), context.partition_key)
    for warning in result.warnings or []:
        context.log.warning(warning)
    yield dg.MaterializeResult(metadata=dagster_metadata(result.metadata))
    for outcome in result.checks:
        yield check_result(outcome)


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
    result = post(staging.runtime(qbo=qbo), context.partition_key)
    if result.problem:
        # A transient failure is retried (retry policy); a QBO validation error needs a fix first.
        raise dg.Failure(result.problem, metadata=result.metadata, allow_retries=result.retryable)
    return dg.MaterializeResult(metadata=result.metadata)
