"""Days confirmed empty: no Rev.io bills, payments or credits, so nothing to sync, shown as done.

A day without activity never gets a sync run, so its partitions would show "Missing" forever and a
"backfill missing" would launch an empty run for each. Once a day is known to be empty, every daily asset
of ``revqb_sync_job`` gets a runless materialization for it (metadata ``empty: true`` and who confirmed
it): the partition counts as materialized, and a backfill of missing partitions leaves it out.

Who confirms: the change sensor (a day before the last record its scan read completely, with no record;
reported through ``SensorResult.asset_events``) and ``revqb sync --since/--to`` (a day of the window
without activity, after the runs succeeded: :func:`report_empty_days`). A range run (a backfill) covers
its quiet days itself. A confirmed day that later gets a record is synced by the next sensor tick as usual.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from revqb_pipeline.defs.partitions import TIMEZONE, bill_date_partitions

EMPTY_DESCRIPTION = "No Rev.io bills, payments or credits on this day: nothing to sync."


def sync_asset_keys() -> list[dg.AssetKey]:
    """The daily assets of ``revqb_sync_job`` (extract, staging, QBO payloads and loads)."""
    from revqb_pipeline.defs.quickbooks.assets import quickbooks_assets
    from revqb_pipeline.defs.revio.assets import extract_assets_defs
    from revqb_pipeline.defs.staging.assets import staging_assets

    return [key for a in [*extract_assets_defs, *staging_assets, *quickbooks_assets] for key in a.keys]


def is_partition(day: str) -> bool:
    """Whether ``day`` is a daily partition (on or after the start date, not after tomorrow)."""
    try:
        return bill_date_partitions.has_partition_key(day)
    except Exception:  # pragma: no cover - a malformed key is not a partition
        return False


def days_between(first: date, end: date) -> list[str]:
    """Every day from ``first`` up to, not including, ``end``."""
    return [(first + timedelta(days=n)).isoformat() for n in range(max(0, (end - first).days))]


def empty_day_events(days: Iterable[str], confirmed_by: str) -> list[dg.AssetMaterialization]:
    """One runless materialization per sync asset and day, marked ``empty``."""
    keys = sync_asset_keys()
    return [
        dg.AssetMaterialization(
            asset_key=key,
            partition=day,
            description=EMPTY_DESCRIPTION,
            metadata={"empty": True, "confirmed_by": confirmed_by},
        )
        for day in sorted(set(days))
        if is_partition(day)
        for key in keys
    ]


def report_empty_days(instance: Any, days: Iterable[str], confirmed_by: str = "revqb sync") -> int:
    """Record ``days`` (confirmed empty) as materialized on ``instance``; returns the events written."""
    events = empty_day_events(days, confirmed_by)
    for event in events:
        instance.report_runless_asset_event(event)
    return len(events)


def confirmed_empty_days(
    first: date, last: date, active: Iterable[str], today: date | None = None
) -> list[str]:
    """The days from ``first`` to ``last`` (inclusive) without activity, before ``today`` (default: today
    in the partitions' timezone; a day still running is not confirmed), that are partitions: what
    ``revqb sync --since first --to last`` proved."""
    busy = set(active)
    today = today or datetime.now(ZoneInfo(TIMEZONE)).date()
    return [
        d
        for d in days_between(first, min(last + timedelta(days=1), today))
        if d not in busy and is_partition(d)
    ]
