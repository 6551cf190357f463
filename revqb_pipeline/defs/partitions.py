"""Partitions: Rev.io bill date (daily) for the sync, month for revenue journals, in one timezone.

A daily asset runs one day (the sensor's and ``revqb sync``'s default) or a range of days (a backfill:
:data:`daily_backfill` groups up to :data:`DAYS_PER_BACKFILL_RUN` days into one run, and
``revqb sync --days-per-run N`` does the same); its body takes :func:`run_days` one after another.
"""

from __future__ import annotations

import os
from datetime import datetime

import dagster as dg

TIMEZONE = os.environ.get("REVQB_TIMEZONE", "America/Chicago")
START_DATE = os.environ.get("REVQB_START_DATE", "2025-01-01")

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
