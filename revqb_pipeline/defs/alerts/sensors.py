"""Alert sensors: newly quarantined records of every sync, and failed Dagster runs (with the run link)."""

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._meta import DATA_ENG, FINANCE_OPS, OWNERS_METADATA, dagster_beta
from revqb_pipeline.defs.alerts.resources import NotifierResource
from revqb_pipeline.defs.automation.status import sensor_status
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.notify import Alert
from revqb_pipeline.sync.failures import alert_new_failures

RUN_FAILURE_SUBJECT = "revqb: Dagster run failed"


def _failure_queue_alerts(
    context: dg.SensorEvaluationContext, staging: StagingResource, notifier: NotifierResource
) -> dg.SkipReason:
    rt = staging.runtime()
    result = alert_new_failures(rt.ledger, notifier.notifier(rt.engine))
    if result.errors:
        context.log.warning(f"alert delivery failed: {'; '.join(result.errors)}")
    return dg.SkipReason(
        f"{result.sent} alert(s) sent, {result.logged} logged, {result.duplicates} already sent before"
    )


with dagster_beta():  # owners= on sensors is beta in Dagster 1.13
    failure_queue_alerts = dg.sensor(
        name="failure_queue_alerts",
        minimum_interval_seconds=120,
        default_status=sensor_status(),
        description=(
            "Alerts each newly quarantined (or stuck failed) ledger record once, across all sync types."
        ),
        owners=[FINANCE_OPS],
    )(_failure_queue_alerts)


def run_failure_alert(context: dg.RunFailureSensorContext, run_url: str) -> Alert:
    """The alert for one failed run: job, partition, the first failed step's one-line cause, run page."""
    run = context.dagster_run
    partition = run.tags.get("dagster/partition")
    error = ""
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        described = data.user_failure_data.description if data and data.user_failure_data else None
        if described:  # a dg.Failure (e.g. a permanent error: its one-line cause, naming what to fix)
            error = f"step {event.step_key}: {described.strip().splitlines()[0][:500]}"
            break
        if data and data.error:
            err = data.error
            while err.cause is not None:  # the user error, not Dagster's wrapper ("Exceeded max_retries")
                err = err.cause
            error = f"step {event.step_key}: {err.message.strip().splitlines()[0][:300]}"
            break
    if not error:
        error = (context.failure_event.message or "run failed").strip().splitlines()[0][:300]
    where = f" partition {partition}" if partition else ""
    return Alert(
        key=f"run_failure:{run.run_id}",
        kind="run_failure",
        text=f"{connections.label()}{run.job_name}{where} run {run.run_id} failed: {error} - {run_url}",
    )


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=sensor_status(),
    description="One alert per failed run, with a link to the run page (REVQB_DAGSTER_URL).",
    metadata={OWNERS_METADATA: DATA_ENG},  # a run-status sensor takes no owners= in Dagster 1.13
)
def run_failure_alerts(
    context: dg.RunFailureSensorContext, staging: StagingResource, notifier: NotifierResource
) -> None:
    rt = staging.runtime()
    alert = run_failure_alert(context, notifier.run_url(context.dagster_run.run_id))
    result = notifier.notifier(rt.engine).send(RUN_FAILURE_SUBJECT, [alert])
    if result.errors:
        context.log.warning(f"alert delivery failed: {'; '.join(result.errors)}")
