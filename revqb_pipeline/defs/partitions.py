"""Partitions: Rev.io bill date (daily) for the sync, month for revenue journals, in one timezone.

The first daily partition (:data:`START_DATE`, read once when the definitions load; reload the code
location after a change) is, in this order:

1. ``REVQB_START_DATE`` (environment or ``.env``);
2. the tenant's first Rev.io activity, recorded in the staging DB by ``revqb check``, ``revqb sync`` or the
   change sensor (``sync/activity.py``; read here with one query, never from Rev.io);
3. neither: :data:`PROVISIONAL_START_DATE`, with a warning naming the fix (a fresh install that has never
   reached Rev.io). Days before the first activity are then reported empty by the sensor's first tick.

:data:`START_SOURCE` says which one applied. A daily asset runs one day (the sensor's and ``revqb sync``'s
default) or a range of days (a backfill: :data:`daily_backfill` groups up to
:data:`DAYS_PER_BACKFILL_RUN` days into one run, and ``revqb sync --days-per-run N`` does the same); its
body takes :func:`run_days` one after another.
"""

from __future__ import annotations

import logging
from datetime import datetime

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.settings import setting_text, start_date_setting
from revqb_pipeline.sync.activity import recorded_first_activity

log = logging.getLogger(__name__)

_CONNECTION = connections.current()
#: A file connection's timezone (``connections/``), else REVQB_TIMEZONE, else America/Chicago.
TIMEZONE = (
    _CONNECTION.timezone if _CONNECTION is not None else (setting_text("timezone") or "America/Chicago")
)
#: The start when nothing better is known (no REVQB_START_DATE, no recorded first activity).
PROVISIONAL_START_DATE = "2025-01-01"


def resolve_start_date() -> tuple[str, str]:
    """(first daily partition ``YYYY-MM-DD``, where it came from), see the module docstring."""
    if _CONNECTION is not None and _CONNECTION.start_date is not None:
        return _CONNECTION.start_date.isoformat(), f"start_date of connection {_CONNECTION.name!r}"
    configured = start_date_setting() if _CONNECTION is None else None
    if configured:
        return configured, "REVQB_START_DATE"
    from revqb_pipeline.settings import DEFAULT_DB_URL

    db_url = connections.settings_for().db_url if _CONNECTION is not None else setting_text("db_url")
    recorded = recorded_first_activity(db_url or DEFAULT_DB_URL)
    if recorded:
        return recorded, "first Rev.io activity (recorded in the staging DB)"
    log.warning(
        "revqb: REVQB_START_DATE is unset and no first Rev.io activity is recorded in the staging DB: "
        "daily partitions start provisionally at %s. Run `revqb check` (it records the tenant's first "
        "activity) or set REVQB_START_DATE, then reload the code location.",
        PROVISIONAL_START_DATE,
    )
    return PROVISIONAL_START_DATE, "provisional (run `revqb check` or set REVQB_START_DATE)"


START_DATE, START_SOURCE = resolve_start_date()

bill_date_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone=TIMEZONE, end_offset=1)
month_partitions = dg.MonthlyPartitionsDefinition(start_date=START_DATE[:8] + "01", timezone=TIMEZONE)

#: Days one backfill run covers: a year is 12 runs (ceil(365 / 31)), not 365.
DAYS_PER_BACKFILL_RUN = 31
#: The backfill policy of every daily asset (the same on all, so one run carries the whole graph).
daily_backfill = dg.BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_BACKFILL_RUN)


def run_days(context: dg.AssetExecutionContext) -> list[str]:
    """The bill dates of this run in date order: one day, or every day of a backfill range."""
    return sorted(context.partition_keys)


def day_window(day: str) -> tuple[datetime, datetime]:
    """A bill date's time window as naive local datetimes (Rev.io's date filters carry no zone)."""
    window = bill_date_partitions.time_window_for_partition_key(day)
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
