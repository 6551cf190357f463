"""``revqb sync``: the days on which Rev.io had activity, each run through the Dagster sync job."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta

from revqb_pipeline.cli._common import EXIT_OK, UsageError, require, say, settings_or_exit
from revqb_pipeline.cli._runs import local_instance, run_partitions, stopped
from revqb_pipeline.cli._signals import graceful_signals
from revqb_pipeline.settings import RevqbSettings


def activity_dates(settings: RevqbSettings, start: date, end: date) -> list[str]:
    """Days (partition keys) from ``start`` to ``end`` on which Rev.io created a record of a watched type
    (the registry's: bills, payments, credits)."""
    from revqb_pipeline.entities import watched
    from revqb_pipeline.sync.runtime import build_revio

    revio = build_revio(settings)
    window = {
        "created_start": datetime.combine(start, datetime.min.time()),
        "created_end": datetime.combine(end, datetime.max.time()).replace(microsecond=0),
    }
    days: set[str] = set()
    for spec in watched():
        records = getattr(revio, spec.list_method)(**window)
        days.update(str(r.get("created_date") or "")[:10] for r in records)
    return sorted(d for d in days if d)


def cmd_sync(args: argparse.Namespace) -> int:
    """Sync ``--partition`` days, else the active days from ``--since`` (or ``--days`` back) to ``--to``;
    ``--days-per-run N`` runs them as ranges of up to N days (a backfill)."""
    end = args.to or date.today()
    start = args.since or end - timedelta(days=args.days)
    if not args.partition and start > end:
        raise UsageError(f"--since {start} is after --to {end}")
    settings = settings_or_exit()
    require(settings)
    with graceful_signals() as stop:
        if args.partition:
            partitions = sorted(set(args.partition))
        else:
            partitions = activity_dates(settings, start, end)
        if not partitions:
            say("no Rev.io bills, payments or credits in that window; nothing to sync")
            return EXIT_OK
        with local_instance() as inst:
            report = run_partitions(partitions, instance=inst, days_per_run=args.days_per_run)
        if stop.requested:
            return stopped(stop, report)
        _alert_failures(settings)
    say(f"sync: {report.summary()}")
    return report.exit_code


def _alert_failures(settings: RevqbSettings) -> None:
    """Alert (once each) the records this sync quarantined, through the configured channels."""
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.sync.failures import alert_new_failures
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(settings)
    alert_new_failures(rt.ledger, Notifier.from_os_env(rt.engine))
