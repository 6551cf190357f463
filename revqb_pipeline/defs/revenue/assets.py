"""Month-end revenue recognition: the month's summary (checked), its QBO JournalEntry and the month-end
reconciliation report.

Lineage: the summary depends on the month's days of the daily QBO loads (invoices, payments, credit
memos) through a daily -> monthly ``TimeWindowPartitionMapping``. These are ``deps``, not inputs: nothing is
loaded from them (the summary reads the staging tables), so a quiet day the sync never materialized does
not fail the month, and each month still runs on its own (backfills of past months in any order).
"""

from pathlib import Path

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import FINANCE_OPS, dagster_beta
from revqb_pipeline.defs._results import check_result, dagster_metadata
from revqb_pipeline.defs.partitions import month_partitions
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.entities.journals.checks import CHECK_NAME
from revqb_pipeline.entities.journals.revenue import LOOKBACK_MONTHS
from revqb_pipeline.entities.journals.steps import post, summarize
from revqb_pipeline.reports.month_end import month_end_report

GROUP = "revenue"
OWNERS = [FINANCE_OPS]
SUMMARY = dg.AssetKey([*connections.asset_prefix(), "revenue", "summary"])
JOURNAL = dg.AssetKey([*connections.asset_prefix(), "quickbooks", "revenue_journal"])
REPORT = dg.AssetKey([*connections.asset_prefix(), "revenue", "reconciliation_report"])
REPORT_CHECK = "rev_io_and_qbo_agree"
#: The daily QBO loads a month's revenue is built from (shown as its upstream in the lineage).
DAILY_LOADS = tuple(
    dg.AssetKey([*connections.asset_prefix(), "quickbooks", name])
    for name in ("invoices", "payments", "credit_memos")
)
#: Every day of the month; days before the daily partitions start (a first month beginning mid-month) are
#: skipped, not an error. The flag is beta in Dagster 1.13: its warning is not ours to show.
with dagster_beta():
    DAYS_OF_MONTH = dg.TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


def monthly_check(
    name: str, asset: dg.AssetKey, description: str, blocking: bool = False
) -> dg.AssetCheckSpec:
    """A check partitioned by month like its asset, so each result is attached to its month (a check
    spec's ``partitions_def`` is a preview in Dagster 1.13: its warning is not ours to show)."""
    with dagster_beta():
        return dg.AssetCheckSpec(
            name, asset=asset, blocking=blocking, description=description, partitions_def=month_partitions
        )


RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dg.asset(
    key=SUMMARY,
    group_name=GROUP,
    partitions_def=month_partitions,
    deps=[dg.AssetDep(key, partition_mapping=DAYS_OF_MONTH) for key in DAILY_LOADS],
    owners=OWNERS,
    kinds={"python"},
    description=(
        "Revenue per category for the month: billed, recognized (recurring charges day-weighted over their "
        "service period when the mapping defers the kind), deferred balance opening/closing. Reads the "
        f"staging tables directly (billings of the month and the {LOOKBACK_MONTHS} months before it with "
        "service still open), which the daily Rev.io sync fills. Upstream: the month's days of the daily "
        "QBO loads (invoices, payments, credit memos) as dependencies only, so a quiet day that was never "
        "materialized does not block the month. Stores the month's JournalEntry payload for "
        "quickbooks/revenue_journal."
    ),
    check_specs=[
        monthly_check(
            CHECK_NAME,
            SUMMARY,
            "The entry balances and ties to the invoices: recognized + change in deferred = billed. "
            "Blocking: a failure stops the JournalEntry.",
            blocking=True,
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
    pool=connections.pool("qbo"),
    retry_policy=RETRY,
    owners=OWNERS,
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


def report_folder(context: dg.AssetExecutionContext) -> Path:
    """Where a run's report goes: ``<instance storage>/reports`` (the storage folder under DAGSTER_HOME)."""
    return Path(context.instance.storage_directory()) / "reports"


@dg.asset(
    key=REPORT,
    group_name=GROUP,
    deps=[JOURNAL],
    partitions_def=month_partitions,
    pool=connections.pool("qbo"),
    retry_policy=RETRY,
    owners=OWNERS,
    kinds={"html", "csv"},
    description=(
        "The month-end reconciliation report, after the journal: Rev.io vs QBO per entity (customers, "
        "invoices, journals, payments, credits, balances, taxes), every difference by document, AR aging "
        "per customer on both sides as of the month's last day, and charts of the totals. Written as a "
        "self-contained HTML page and a CSV under the instance storage (`report_html`, `report_csv`); "
        "`summary` lists the totals and the first 50 differences."
    ),
    check_specs=[
        monthly_check(
            REPORT_CHECK,
            REPORT,
            "Rev.io and QBO agree on every entity (counts, totals, no difference by document). "
            "A warning, not blocking: the report names what to look at.",
        )
    ],
)
@fail_fast
def reconciliation_report(
    context: dg.AssetExecutionContext, staging: StagingResource, revio: RevioResource, qbo: QBOResource
):
    made = month_end_report(
        staging.runtime(revio=revio, qbo=qbo), context.partition_key, report_folder(context), context.run_id
    )
    metadata = dagster_metadata(made.metadata())
    metadata["report_html"] = dg.MetadataValue.path(str(made.html))
    metadata["report_csv"] = dg.MetadataValue.path(str(made.csv))
    yield dg.MaterializeResult(metadata=metadata)
    yield dg.AssetCheckResult(
        check_name=REPORT_CHECK,
        passed=made.report.agrees,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"differences": len(made.report.differences), "report_html": str(made.html)},
    )
