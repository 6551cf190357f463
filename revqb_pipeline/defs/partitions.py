"""Partitions: Rev.io bill date (daily) for the sync, month for revenue journals, in one timezone."""

from __future__ import annotations

import os
from datetime import datetime

import dagster as dg

TIMEZONE = os.environ.get("REVQB_TIMEZONE", "America/Chicago")
START_DATE = os.environ.get("REVQB_START_DATE", "2025-01-01")

bill_date_partitions = dg.DailyPartitionsDefinition(start_date=START_DATE, timezone=TIMEZONE, end_offset=1)
month_partitions = dg.MonthlyPartitionsDefinition(start_date=START_DATE[:8] + "01", timezone=TIMEZONE)


def naive_window(context: dg.AssetExecutionContext) -> tuple[datetime, datetime]:
    """The partition's time window as naive local datetimes (Rev.io's date filters carry no zone)."""
    window = context.partition_time_window
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)
