"""The account status asset (Rev.io collection state -> QBO customer notes), its job and hourly schedule."""

import os
from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.alerts.resources import NotifierResource
from revqb_pipeline.defs.partitions import TIMEZONE
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.entities.dunning.sync import sync_collection_status

STATUS_KEY = dg.AssetKey(["quickbooks", "customer_collection_status"])
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


@dg.asset(
    key=STATUS_KEY,
    group_name="dunning",
    pool="qbo_api",
    retry_policy=RETRY,
    kinds={"python"},
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
    report = sync_collection_status(
        rt.qbo, rt.ledger, rt.mapping, rt.revio.customers(), notifier.notifier(rt.engine)
    )
    metadata: dict[str, Any] = report.metadata()
    if report.transitions:
        rows = "\n".join(f"| {t.customer_id} | {t.kind} | {t.describe()} |" for t in report.transitions[:200])
        metadata["transition_list"] = dg.MetadataValue.md(
            f"| customer | kind | change |\n|---|---|---|\n{rows}"
        )
    problems = {**report.failed, **report.quarantined}
    if problems:
        rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(problems.items()))
        metadata["note_problems"] = dg.MetadataValue.md(f"| customer | error |\n|---|---|\n{rows}")
    context.log.info(f"{len(report.transitions)} transition(s), {report.notes_updated} note(s) updated")
    return dg.MaterializeResult(metadata=metadata)


customer_status_job = dg.define_asset_job(
    "customer_status_job",
    selection=dg.AssetSelection.assets(STATUS_KEY),
    description="Rev.io account status (dunning, suspension, collections) -> QBO customer notes + alerts.",
    tags={"revqb/kind": "dunning"},
)

customer_status_schedule = dg.ScheduleDefinition(
    name="customer_status_hourly",
    job=customer_status_job,
    cron_schedule=os.environ.get("REVQB_DUNNING_CRON", "17 * * * *"),
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
