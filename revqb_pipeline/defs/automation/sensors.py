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
- Quiet days: a day before the last one the scan read completely, with no record, is confirmed empty and
  reported as an empty materialization of every sync asset (``empty_days.py``; at most
  ``MAX_EMPTY_DAYS`` per tick, oldest first), kept in the cursor with the digest of no records, so a
  record arriving later still changes its digest and gets a run.
- While the partitions' start is provisional (no ``REVQB_START_DATE``, nothing recorded), a tick records
  the tenant's first Rev.io activity in the staging DB (``sync/activity.py``) for the next code load.

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
from datetime import date
from typing import Any

import dagster as dg

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.defs.automation.empty_days import days_between, empty_day_events, is_partition
from revqb_pipeline.defs.automation.jobs import sync_sensor
from revqb_pipeline.defs.partitions import START_DATE, START_SOURCE
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.entities import watched
from revqb_pipeline.sync.activity import record_first_activity
from revqb_pipeline.sync.changes import Scan, Watch, digest, parse_cursor, plan, scan, window_start

LOOKBACK_DAYS = int(os.environ.get("REVQB_SENSOR_LOOKBACK_DAYS", "7"))
TIME_BUDGET_S = float(os.environ.get("REVQB_SENSOR_TIME_BUDGET_S", "30"))
MAX_RUNS = int(os.environ.get("REVQB_SENSOR_MAX_RUNS", "31"))
INTERVAL_S = int(os.environ.get("REVQB_SENSOR_INTERVAL_S", "60"))
#: Quiet days one tick reports empty (x the ~20 daily assets = runless events); older ones wait a tick.
MAX_EMPTY_DAYS = 62

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
    max_empty_days: int = MAX_EMPTY_DAYS,
) -> dg.SensorResult:
    """One tick: scan, plan, and the SensorResult (runs + cursor, or a SkipReason + cursor), with the
    quiet days it confirmed reported as empty materializations (``empty_days.py``)."""
    cursor = parse_cursor(cursor_text)
    since = window_start(cursor, lookback_days, START_DATE)
    result = scan(revio, since, WATCHED, deadline=time.monotonic() + budget_s)
    changed, next_cursor, invalid = plan(cursor, result, since, valid or is_partition, max_runs)
    quiet, rest = quiet_days(cursor, result, since, {d for d, _ in changed}, max_empty_days)
    next_cursor["days"] = dict(sorted({**next_cursor["days"], **{d: digest([]) for d in quiet}}.items()))
    if rest and next_cursor.get("watermark"):  # keep the unreported quiet days inside the next window
        next_cursor["watermark"] = min(str(next_cursor["watermark"]), rest)
    text = json.dumps(next_cursor, sort_keys=True)
    events = empty_day_events(quiet, "revio_changes_sensor")
    if not changed:
        why = f"no new or changed Rev.io bills, payments or credits since {since.isoformat()}"
        if invalid:
            why += f" (changes on {', '.join(invalid)}: not a partition yet)"
        if quiet:
            why += f"; {len(quiet)} quiet day(s) reported empty ({quiet[0]}..{quiet[-1]})"
        return dg.SensorResult(skip_reason=dg.SkipReason(why), cursor=text, asset_events=events)
    requests = [
        dg.RunRequest(
            run_key=f"{day}:{digest}", partition_key=day, tags={"revqb/trigger": "revio_changes_sensor"}
        )
        for day, digest in changed
    ]
    return dg.SensorResult(run_requests=requests, cursor=text, asset_events=events)


def quiet_days(
    cursor: dict[str, Any], result: Scan, since: date, requested: set[str], limit: int
) -> tuple[list[str], str | None]:
    """(the oldest ``limit`` days the scan proved empty and no earlier tick reported, the first such day
    left for the next tick). Proved empty: on or after ``since``, before the last day the scan read
    completely (the day of its last record, or where the time budget stopped it), no record, a partition."""
    end = result.complete_until or (result.watermark or "")[:10]
    if not end:
        return [], None
    known = set(cursor.get("days") or {}) | set(result.days) | requested
    days = [d for d in days_between(since, date.fromisoformat(end)) if d not in known and is_partition(d)]
    return days[:limit], (days[limit] if len(days) > limit else None)


def _revio_changes(
    context: dg.SensorEvaluationContext, revio: RevioResource, staging: StagingResource
) -> dg.SensorResult:
    rt = staging.runtime(revio=revio)
    if START_SOURCE.startswith("provisional"):  # record the tenant's first activity (3 short reads, once)
        first = record_first_activity(rt.store, rt.revio, [w[0] for w in WATCHED])
        if first:
            context.log.warning(
                f"first Rev.io activity {first} recorded: reload the code location to start "
                "the daily partitions there (or set REVQB_START_DATE)"
            )
    result = evaluate(context.cursor, rt.revio)
    context.log.info(
        f"revio_changes_sensor: {len(result.run_requests or [])} run request(s), "
        f"{len({e.partition for e in result.asset_events})} quiet day(s) reported empty"
    )
    return result


revio_changes_sensor = sync_sensor(
    _revio_changes,
    name="revio_changes_sensor",
    interval_s=INTERVAL_S,
    description=(
        "Requests revqb_sync_job runs for the days whose Rev.io bills, payments or credits changed, and "
        "reports the days it confirmed quiet as empty materializations (shown as done, not missing)."
    ),
)
