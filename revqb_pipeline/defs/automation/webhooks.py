"""Sensor: stored Rev.io webhook events -> ``revqb_sync_job`` runs for exactly the affected days.

``revqb webhooks serve`` stores each notification (once per event id); this sensor, on a short interval
(``REVQB_WEBHOOK_SENSOR_INTERVAL_S``, default 5 s), plans the pending events into days
(``sync/webhook_events.py``) and requests one run per day, keyed by the day and the events it carries, so a
repeated tick requests nothing new. ``revio_changes_sensor`` keeps polling as the backstop for lost events.
"""

import os

import dagster as dg

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.defs.automation.empty_days import is_partition
from revqb_pipeline.defs.automation.jobs import sync_sensor
from revqb_pipeline.defs.partitions import START_DATE
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.settings import parse_flag
from revqb_pipeline.staging.events import EventStore
from revqb_pipeline.sync.webhook_events import commit_plan, plan_events

INTERVAL_S = int(os.environ.get("REVQB_WEBHOOK_SENSOR_INTERVAL_S", "5"))
#: A *_CREATED event's created_date is its record's day (UNCONFIRMED; "false" re-reads every record).
TRUST_CREATED_DATE = parse_flag(
    "REVQB_WEBHOOK_TRUST_CREATED_DATE", os.environ.get("REVQB_WEBHOOK_TRUST_CREATED_DATE", ""), True
)


def evaluate(store: EventStore, revio: RevioClient) -> dg.SensorResult:
    """One tick over ``store``: plan the pending events, mark them, and request a run per day."""
    plan = plan_events(
        store,
        revio,
        is_partition,
        trust_created_date=TRUST_CREATED_DATE,
        start_day=START_DATE[:10],
    )
    commit_plan(store, plan)
    requests = [
        dg.RunRequest(
            run_key=plan.run_key(day),
            partition_key=day,
            tags={"revqb/trigger": "revio_webhook_sensor", "revqb/events": str(len(ids))},
        )
        for day, ids in sorted(plan.days.items())
    ]
    if not requests:
        why = f"no pending webhook events ({len(plan.ignored)} ignored, {len(plan.waiting)} waiting)"
        return dg.SensorResult(skip_reason=dg.SkipReason(why))
    return dg.SensorResult(run_requests=requests)


def _revio_webhooks(
    context: dg.SensorEvaluationContext, revio: RevioResource, staging: StagingResource
) -> dg.SensorResult:
    rt = staging.runtime(revio=revio)
    result = evaluate(EventStore(rt.engine), rt.revio)
    context.log.info("revio_webhook_sensor: %d run request(s)", len(result.run_requests or []))
    return result


revio_webhook_sensor = sync_sensor(
    _revio_webhooks,
    name="revio_webhook_sensor",
    interval_s=INTERVAL_S,
    description=(
        "Requests revqb_sync_job runs for the days named by the Rev.io webhook events that "
        "`revqb webhooks serve` stored; revio_changes_sensor keeps polling as the backstop."
    ),
)
