"""``revqb sync``: the days on which Rev.io had activity, each run through the Dagster sync job."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from types import SimpleNamespace

from revqb_pipeline.cli._common import EXIT_OK, EXIT_RECORDS, UsageError, require, say, settings_or_exit
from revqb_pipeline.cli._progress import DayProgress, RunProgress
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


def record_first_activity(settings: RevqbSettings) -> str | None:
    """The tenant's first Rev.io activity, read once and kept in the staging DB (``sync/activity.py``): the
    daily partitions start there when REVQB_START_DATE is unset (from the next definitions load)."""
    from revqb_pipeline.entities import watched
    from revqb_pipeline.sync.activity import record_first_activity as record
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(settings)
    return record(rt.store, rt.revio, [s.resource for s in watched()])


def cmd_sync(args: SimpleNamespace) -> int:
    """Sync ``--partition`` days, else the active days from ``--since`` (or ``--days`` back) to ``--to``;
    ``--days-per-run N`` runs them as ranges of up to N days (a backfill); ``--dry-run`` previews them."""
    end = args.to or date.today()
    start = args.since or end - timedelta(days=args.days)
    if not args.partition and start > end:
        raise UsageError(f"--since {start} is after --to {end}")
    if args.json and not args.dry_run:
        raise UsageError("--json goes with --dry-run (a sync prints lines)")
    settings = settings_or_exit()
    require(settings)
    record_first_activity(settings)
    with graceful_signals() as stop:
        if args.partition:
            partitions = sorted(set(args.partition))
        else:
            partitions = activity_dates(settings, start, end)
        if not partitions:
            say("no Rev.io bills, payments or credits in that window; nothing to sync")
            return EXIT_OK
        if args.dry_run:
            return _dry_run(settings, partitions, as_json=args.json)
        with local_instance() as inst:
            report = run_partitions(
                partitions, instance=inst, days_per_run=args.days_per_run, verbose=args.verbose
            )
            if not args.partition and not report.failed_runs and not stop.requested:
                from revqb_pipeline.defs.automation.empty_days import confirmed_empty_days, report_empty_days

                report_empty_days(inst, confirmed_empty_days(start, end, partitions), "revqb sync")
        if stop.requested:
            return stopped(stop, report)
        _alert_failures(settings)
    say(f"totals: {report.totals()}")
    say(f"sync: {report.summary()}")
    return report.exit_code


def _alert_failures(settings: RevqbSettings) -> None:
    """Alert (once each) the records this sync quarantined, through the configured channels."""
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.sync.failures import alert_new_failures
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(settings)
    alert_new_failures(rt.ledger, Notifier.from_os_env(rt.engine))


def _dry_run(settings: RevqbSettings, days: list[str], as_json: bool) -> int:
    """What a sync of ``days`` would post, nothing written (``sync/dry_run.py``); exit 3 when records would
    be quarantined or a blocking check would stop a day, else 0."""
    from revqb_pipeline import entities
    from revqb_pipeline.sync.dry_run import dry_run

    with RunProgress(len(days), 1, stderr=as_json) as progress:
        summary = dry_run(settings, days, entities, progress=DayProgress(progress, days, "dry run"))
    say(json.dumps(summary.as_dict(), indent=2, default=str) if as_json else summary.text())
    return EXIT_RECORDS if summary.quarantined else EXIT_OK
