"""The account status asset (Rev.io collection state -> QBO customer notes), its job and hourly schedule."""

import os

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import FINANCE_OPS, OWNERS_METADATA, dagster_beta
from revqb_pipeline.defs._results import dagster_metadata
from revqb_pipeline.defs.alerts.resources import NotifierResource
from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.partitions import TIMEZONE
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.entities.dunning.steps import update_status_notes

STATUS_KEY = dg.AssetKey([*connections.asset_prefix(), "quickbooks", "customer_collection_status"])
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dg.asset(
    key=STATUS_KEY,
    group_name="dunning",
    pool=connections.pool("qbo"),
    retry_policy=RETRY,
    kinds={"python"},
    owners=[FINANCE_OPS],
    description=(
        "Rev.io dunning / suspension / collections state of every account, shown as a status line in the "
        "QBO customer's Notes; one alert per transition."
    ),
)
@fail_fast
def customer_collection_status(
    context: dg.AssetExecutionContext,
    staging: StagingResource,
    qbo: QBOResource,
    revio: RevioResource,
    notifier: NotifierResource,
) -> dg.MaterializeResult:
    rt = staging.runtime(revio=revio, qbo=qbo)
    # credentials / permissions: @fail_fast fails the step at once (the run-failure sensor alerts)
    result, summary = update_status_notes(rt, notifier.notifier(rt.engine))
    context.log.info(summary)
    return dg.MaterializeResult(metadata=dagster_metadata(result.metadata))


with dagster_beta():  # owners= on schedules is beta in Dagster 1.13
    customer_status_job = dg.define_asset_job(
        "customer_status_job",
        selection=dg.AssetSelection.assets(STATUS_KEY),
        description=(
            "Rev.io account status (dunning, suspension, collections) -> QBO customer notes + alerts."
        ),
        tags={"revqb/kind": "dunning", **connections.run_tags()},
        metadata={OWNERS_METADATA: FINANCE_OPS},  # owners= on a job warns (beta) whenever it is resolved
    )

    customer_status_schedule = dg.ScheduleDefinition(
        name="customer_status_hourly",
        job=customer_status_job,
        cron_schedule=os.environ.get("REVQB_DUNNING_CRON", "17 * * * *"),
        execution_timezone=TIMEZONE,
        default_status=schedule_status(),
        description=(
            "Runs customer_status_job (Rev.io collection state -> QBO customer notes, one alert per "
            "transition) on REVQB_DUNNING_CRON (default hourly at :17) in the partitions' timezone."
        ),
        owners=[FINANCE_OPS],
    )
