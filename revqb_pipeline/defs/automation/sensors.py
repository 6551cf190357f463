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

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.defs.automation.jobs import revqb_sync_job
from revqb_pipeline.defs.partitions import START_DATE, bill_date_partitions
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.entities import watched

LOOKBACK_DAYS = int(os.environ.get("REVQB_SENSOR_LOOKBACK_DAYS", "7"))
TIME_BUDGET_S = float(os.environ.get("REVQB_SENSOR_TIME_BUDGET_S", "30"))
MAX_RUNS = int(os.environ.get("REVQB_SENSOR_MAX_RUNS", "31"))
INTERVAL_S = int(os.environ.get("REVQB_SENSOR_INTERVAL_S", "60"))

# resource -> (primary key, fields whose change matters after creation), from the registry.
WATCHED: dict[str, tuple[str, tuple[str, ...]]] = {
    spec.resource: (spec.primary_key, spec.watched_fields) for spec in watched()
}


@dataclass
class Scan:
    """What one tick read: per-day digests of the fully read days, and where reading stopped."""

    days: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    complete_until: str | None = None  # first day NOT fully read (None = everything read)
    watermark: str | None = None


def _version(rec: dict[str, Any], fields: tuple[str, ...]) -> str:
    text = json.dumps([str(rec.get(f)) for f in fields])
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def digest(entries: Iterable[str]) -> str:
    """The digest of one day's ``kind:id:version`` entries (order-independent)."""
    return hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()[:16]


def window_start(cursor: dict[str, Any], lookback_days: int, start_date: str = START_DATE) -> date:
    """Where a tick starts reading: watermark day - lookback, never before the partitions start."""
    first = date.fromisoformat(start_date[:10])
    mark = cursor.get("watermark")
    if not mark:
        return first
    return max(first, date.fromisoformat(str(mark)[:10]) - timedelta(days=lookback_days))


def scan(
    revio: RevioClient,
    since: date,
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
) -> Scan:
    """Read bills, payments and credits created since ``since`` (by created_date) until ``deadline``."""
    entries: dict[str, list[str]] = {}
    out = Scan()
    stops: list[str] = []
    for resource, (pk, fields) in WATCHED.items():
        n = 0
        params = {"created_date_start": datetime.combine(since, datetime.min.time())}
        for rec in revio.iter_records(resource, params, sort="created_date"):
            day = str(rec.get("created_date") or "")[:10]
            if not day:
                continue
            entries.setdefault(day, []).append(f"{resource}:{rec.get(pk)}:{_version(rec, fields)}")
            n += 1
            if out.watermark is None or str(rec["created_date"]) > out.watermark:
                out.watermark = str(rec["created_date"])
            if clock() > deadline:
                stops.append(day)  # this day (and later) may be incomplete
                break
        out.counts[resource] = n
    out.complete_until = min(stops) if stops else None
    out.days = {
        day: digest(items)
        for day, items in sorted(entries.items())
        if out.complete_until is None or day < out.complete_until
    }
    if out.complete_until is not None:
        out.watermark = out.complete_until
    return out


def plan(
    cursor: dict[str, Any], result: Scan, since: date, valid: Callable[[str], bool], max_runs: int = MAX_RUNS
) -> tuple[list[dg.RunRequest], dict[str, Any], list[str]]:
    """Run requests for changed days, the next cursor, and the days skipped (not a partition yet)."""
    old: dict[str, str] = dict(cursor.get("days") or {})
    first = since.isoformat()
    days = dict(result.days)
    # a day that had records and now has none (deleted in Rev.io) changed too
    for day in old:
        if (
            day >= first
            and day not in days
            and (result.complete_until is None or day < result.complete_until)
        ):
            days[day] = digest([])
    requests: list[dg.RunRequest] = []
    new_days = {d: v for d, v in old.items() if d >= first}
    invalid: list[str] = []
    for day in sorted(days):
        if old.get(day) == days[day]:
            new_days[day] = days[day]
            continue
        if not valid(day):
            invalid.append(day)
            continue
        if len(requests) >= max_runs:
            continue  # left out of the cursor: requested by a later tick
        requests.append(
            dg.RunRequest(
                run_key=f"{day}:{days[day]}",
                partition_key=day,
                tags={"revqb/trigger": "revio_changes_sensor"},
            )
        )
        new_days[day] = days[day]
    watermark = result.watermark or cursor.get("watermark")
    if invalid or len(requests) >= max_runs:
        # keep the watermark early enough that the skipped days stay inside the next window
        pending = [d for d in days if d not in new_days or new_days[d] != days[d]]
        if pending and watermark:
            watermark = min(str(watermark), min(pending))
    next_cursor = {"v": 1, "watermark": watermark, "days": dict(sorted(new_days.items()))}
    return requests, next_cursor, invalid


def parse_cursor(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


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
    since = window_start(cursor, lookback_days)
    result = scan(revio, since, deadline=time.monotonic() + budget_s)
    is_valid = valid or _partition_exists
    requests, next_cursor, invalid = plan(cursor, result, since, is_valid, max_runs)
    text = json.dumps(next_cursor, sort_keys=True)
    if not requests:
        why = f"no new or changed Rev.io bills, payments or credits since {since.isoformat()}"
        if invalid:
            why += f" (changes on {', '.join(invalid)}: not a partition yet)"
        return dg.SensorResult(skip_reason=dg.SkipReason(why), cursor=text)
    return dg.SensorResult(run_requests=requests, cursor=text)


def _partition_exists(day: str) -> bool:
    try:
        return bill_date_partitions.has_partition_key(day)
    except Exception:  # pragma: no cover - partition definition errors mean "not yet"
        return False


@dg.sensor(
    job=revqb_sync_job,
    minimum_interval_seconds=INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests revqb_sync_job runs for the days whose Rev.io bills, payments or credits changed.",
)
def revio_changes_sensor(
    context: dg.SensorEvaluationContext, revio: RevioResource, staging: StagingResource
) -> dg.SensorResult:
    client = staging.runtime(revio=revio).revio
    result = evaluate(context.cursor, client)
    context.log.info("revio_changes_sensor: %d run request(s)", len(result.run_requests or []))
    return result
