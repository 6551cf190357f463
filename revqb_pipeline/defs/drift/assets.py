"""quickbooks/drift: one drift pass (detect, alert once, restore by policy) and its check, every 15 min."""

import os

import dagster as dg

from revqb_pipeline import connections, entities
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import FINANCE_OPS, OWNERS_METADATA
from revqb_pipeline.defs._results import dagster_metadata
from revqb_pipeline.defs.alerts.resources import NotifierResource
from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.partitions import TIMEZONE
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.sync.drift import drift_pass, drift_text, load_functions, open_drift

DRIFT_KEY = dg.AssetKey([*connections.asset_prefix(), "quickbooks", "drift"])


@dg.asset(
    key=DRIFT_KEY,
    group_name="quickbooks_drift",
    pool=connections.pool("qbo"),
    kinds={"python"},
    owners=[FINANCE_OPS],
    check_specs=[
        dg.AssetCheckSpec(
            "no_unexplained_drift",
            asset=DRIFT_KEY,
            description="No document revqb posted was changed, voided or deleted in QBO without being "
            "restored (policy restore) or put back by hand (policy report).",
        )
    ],
    description="Documents revqb posted that someone changed, voided or deleted in QBO: detected by CDC "
    "and QBO webhooks, alerted once, restored from Rev.io where the mapping's drift policy says restore.",
)
@fail_fast
def drift(
    context: dg.AssetExecutionContext,
    staging: StagingResource,
    qbo: QBOResource,
    revio: RevioResource,
    notifier: NotifierResource,
):
    rt = staging.runtime(revio=revio, qbo=qbo)
    found, restored = drift_pass(rt, notifier.notifier(rt.engine), load_functions(entities.STEPS))
    unexplained = open_drift(rt)
    metadata = {**found.metadata(), "restored": len(restored.restored), "not_restored": len(restored.failed)}
    yield dg.MaterializeResult(metadata=dagster_metadata(metadata))
    lines = [drift_text(d) for d in unexplained[:50]]
    yield dg.AssetCheckResult(
        check_name="no_unexplained_drift",
        passed=not unexplained,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "open": len(unexplained),
            **({"drift": dg.MetadataValue.md("\n".join(f"- {x}" for x in lines))} if lines else {}),
        },
    )


#: Owners in metadata: ``owners=`` on jobs and schedules is beta in Dagster 1.13 and warns when resolved.
OWNED = {OWNERS_METADATA: FINANCE_OPS}

drift_job = dg.define_asset_job(
    "qbo_drift_job",
    selection=dg.AssetSelection.assets(DRIFT_KEY),
    description="One QBO drift pass: detect, alert once, restore by the mapping's drift policy.",
    tags={"revqb/kind": "drift", **connections.run_tags()},
    metadata=OWNED,
)
drift_schedule = dg.ScheduleDefinition(
    name="qbo_drift_every_15_minutes",
    job=drift_job,
    cron_schedule=os.environ.get("REVQB_DRIFT_CRON", "*/15 * * * *"),
    execution_timezone=TIMEZONE,
    default_status=schedule_status(),
    description="Runs qbo_drift_job (QBO drift: detect, alert once, restore by policy) on REVQB_DRIFT_CRON "
    "(default every 15 minutes). Starts STOPPED unless REVQB_AUTOMATION=on.",
    metadata=OWNED,
)
