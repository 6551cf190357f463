"""Sensor: new or changed Rev.io bills, payments and credits -> ``revqb_sync_job`` runs per affected day.

How it works (Rev.io has no ``updated_date`` on transactions, only ``created_date``):

- Each tick re-reads the records created since ``watermark - lookback`` (sorted by ``created_date``, paged)
  and digests every day: sha256 over ``kind:id:version`` of that day's records, where the version hashes
  the fields that change after creation (``bill_id`` assigned by a billing cycle, ``bounced``, refund rows,
  amounts, a bill's reversal). A day is the record's ``created_date`` day, the partition its sync reads.
- A day whose digest differs from the one in the cursor gets a ``RunRequest`` with
  ``run_key = "<day>:<digest>"``: a repeated tick (or a reset cursor) re-emits the same key and Dagster
  skips it; a later change gives a new digest and so a new run.
- The cursor (JSON: ``watermark`` + the digest of each day in the window) only moves after a tick
  succeeds. Nothing new -> ``SkipReason``.

Budget: Dagster gives a sensor 60 s. Reads stop after ``REVQB_SENSOR_TIME_BUDGET_S`` (default 30 s); days
not fully read are left for the next tick. At most ``REVQB_SENSOR_MAX_RUNS`` (default 31) runs are
requested per tick, oldest day first. ``REVQB_SENSOR_LOOKBACK_DAYS`` (default 7) must cover the
tenant's "Adjustment Lock Period": changes to older records are only picked up by a manual run.

Webhooks: not wired. Rev.io notifications carry only ids and must be re-read anyway, and the sensor's
interval (``REVQB_SENSOR_INTERVAL_S``, default 60 s) bounds the latency; to react faster, point the
webhook receiver at Dagster's GraphQL ``launchRun``/sensor tick (see docs/assumptions.md).
"""

import json
import os
import time
from collections.abc import Callable

import dagster as dg

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.defs.automation.jobs import revqb_sync_job
from revqb_pipeline.defs.automation.status import sensor_status
from revqb_pipeline.defs.partitions import START_DATE, bill_date_partitions
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.entities import watched
from revqb_pipeline.sync.changes import Watch, parse_cursor, plan, scan, window_start

LOOKBACK_DAYS = int(os.environ.get("REVQB_SENSOR_LOOKBACK_DAYS", "7"))
TIME_BUDGET_S = float(os.environ.get("REVQB_SENSOR_TIME_BUDGET_S", "30"))
MAX_RUNS = int(os.environ.get("REVQB_SENSOR_MAX_RUNS", "31"))
INTERVAL_S = int(os.environ.get("REVQB_SENSOR_INTERVAL_S", "60"))

#: (resource, primary key, fields whose change matters after creation), from the registry.
WATCHED: tuple[Watch, ...] = tuple((s.resource, s.primary_key, s.watched_fields) for s in watched())


def evaluate(
    cursor_text: str | None,
    revio: RevioClient,
    *,
    lookback_days: int = LOOKBACK_DAYS,
    budget_s: float = TIME_BUDGET_S,
    valid: Callable[[str], bool] | None = None,
    max_runs: int = MAX_RUNS,
) -> dg.SensorResult:
    """One tick: scan, plan, and the SensorResult (runs + cursor, or a SkipReason + cursor)."""
    cursor = parse_cursor(cursor_text)
    since = window_start(cursor, lookback_days, START_DATE)
    result = scan(revio, since, WATCHED, deadline=time.monotonic() + budget_s)
    changed, next_cursor, invalid = plan(cursor, result, since, valid or _partition_exists, max_runs)
    text = json.dumps(next_cursor, sort_keys=True)
    if not changed:
        why = f"no new or changed Rev.io bills, payments or credits since {since.isoformat()}"
        if invalid:
            why += f" (changes on {', '.join(invalid)}: not a partition yet)"
        return dg.SensorResult(skip_reason=dg.SkipReason(why), cursor=text)
    requests = [
        dg.RunRequest(
            run_key=f"{day}:{digest}", partition_key=day, tags={"revqb/trigger": "revio_changes_sensor"}
        )
        for day, digest in changed
    ]
    return dg.SensorResult(run_requests=requests, cursor=text)


def _partition_exists(day: str) -> bool:
    try:
        return bill_date_partitions.has_partition_key(day)
    except Exception:  # pragma: no cover - partition definition errors mean "not yet"
        return False


@dg.sensor(
    job=revqb_sync_job,
    minimum_interval_seconds=INTERVAL_S,
    default_status=sensor_status(),
    description="Requests revqb_sync_job runs for the days whose Rev.io bills, payments or credits changed.",
)
def revio_changes_sensor(
    context: dg.SensorEvaluationContext, revio: RevioResource, staging: StagingResource
) -> dg.SensorResult:
    client = staging.runtime(revio=revio).revio
    result = evaluate(context.cursor, client)
    context.log.info("revio_changes_sensor: %d run request(s)", len(result.run_requests or []))
    return result
