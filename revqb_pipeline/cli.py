"""The ``revqb`` command: demo, sync, reconcile, status, retry, mappings and the sandbox servers.

Only the ``sandbox`` and ``demo`` commands load ``revqb_sandbox`` (lazily); the pipeline never does.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from revqb_pipeline.settings import RevqbSettings

LOCAL_DAGSTER_HOME = Path(".revqb") / "dagster_home"


def _print(msg: str) -> None:
    print(msg, flush=True)


# -- running the Dagster job -------------------------------------------------------------------------------
@contextmanager
def local_instance(home: Path | None = None) -> Iterator[Any]:
    """The Dagster instance for CLI runs: $DAGSTER_HOME when set, else a local SQLite one under .revqb/."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as inst:
            yield inst
        return
    home = home or LOCAL_DAGSTER_HOME
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


def run_partitions(partitions: list[str], job_name: str = "revqb_sync_job", instance: Any = None) -> bool:
    """Materialize the sync job for each partition through Dagster, printing one line per asset."""
    from revqb_pipeline.definitions import defs

    logging.getLogger("dagster").setLevel(logging.WARNING)
    job = defs().resolve_job_def(job_name)
    ok = True
    for n, pk in enumerate(partitions, 1):
        started = time.monotonic()
        _print(f"[{n}/{len(partitions)}] {job_name} partition {pk}")
        result = job.execute_in_process(
            partition_key=pk,
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        for event in result.all_events:
            if not event.is_step_materialization:
                continue
            mat = event.step_materialization_data.materialization
            meta = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float | str)}
            shown = ", ".join(f"{k}={v}" for k, v in meta.items() if v not in (0, "") and len(str(v)) < 40)
            _print(f"    {mat.asset_key.to_user_string():<32} {shown}")
        for check in result.get_asset_check_evaluations():
            if not check.passed:
                _print(f"    check FAILED: {check.asset_key.to_user_string()}:{check.check_name}")
        if not result.success:
            ok = False
            for ev in result.all_events:
                if ev.is_step_failure:
                    err = ev.step_failure_data.error
                    _print(
                        f"    step {ev.step_key} failed: {err.message.strip().splitlines()[0] if err else ''}"
                    )
        _print(f"    {'done' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return ok


def activity_dates(settings: RevqbSettings, start: date, end: date) -> list[str]:
    """Days (partition keys) from ``start`` to ``end`` on which Rev.io created bills, payments or credits."""
    from revqb_pipeline.sync.runtime import build_revio

    revio = build_revio(settings)
    window = {
        "created_start": datetime.combine(start, datetime.min.time()),
        "created_end": datetime.combine(end, datetime.max.time()).replace(microsecond=0),
    }
    days: set[str] = set()
    for records in (revio.bills(**window), revio.payments(**window), revio.credits(**window)):
        days.update(str(r.get("created_date") or "")[:10] for r in records)
    return sorted(d for d in days if d)


# -- commands ------------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    settings = RevqbSettings.from_env()
    if args.partition:
        partitions = args.partition
    else:
        end = date.fromisoformat(args.to) if args.to else date.today()
        start = date.fromisoformat(args.since) if args.since else end - timedelta(days=args.days)
        partitions = activity_dates(settings, start, end)
    if not partitions:
        _print("no Rev.io bills, payments or credits in that window; nothing to sync")
        return 0
    with local_instance() as inst:
        ok = run_partitions(partitions, instance=inst)
    _alert_failures(settings)
    return 0 if ok else 1


def _alert_failures(settings: RevqbSettings) -> None:
    """Alert (once each) the records this sync quarantined, through the configured channels."""
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.sync.failures import alert_new_failures
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(settings)
    alert_new_failures(rt.ledger, Notifier.from_os_env(rt.engine))


def cmd_reconcile(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.reconcile import format_table, reconcile
    from revqb_pipeline.sync.runtime import Runtime

    results = reconcile(Runtime(RevqbSettings.from_env()), args.entity or None)
    if args.json:
        _print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        _print(format_table(results))
    return 0 if all(r.agrees for r in results) else 1


def cmd_status(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(RevqbSettings.from_env())
    summary = rt.ledger.summary()
    if args.json:
        problems = [
            {
                "source_type": r.source_type,
                "source_id": r.source_id,
                "status": str(r.status),
                "reason": r.last_error,
            }
            for r in rt.ledger.problems()
        ]
        _print(json.dumps({"summary": summary, "problems": problems}, indent=2, default=str))
        return 0
    statuses = ["synced", "pending", "in_flight", "waiting", "failed", "quarantined", "voided"]
    _print(f"{'type':<20}" + "".join(f"{s:>12}" for s in statuses))
    for source_type in sorted(summary):
        if args.type and source_type != args.type:
            continue
        counts = summary[source_type]
        _print(f"{source_type:<20}" + "".join(f"{counts.get(s, 0):>12}" for s in statuses))
    problems = [r for r in rt.ledger.problems() if not args.type or r.source_type == args.type]
    if problems:
        _print("\nneeds attention:")
        for r in problems[: args.limit]:
            code = f" [{r.last_error_code}]" if r.last_error_code else ""
            _print(f"  {r.source_type} {r.source_id}: {r.status}{code} {r.last_error or ''}")
        if len(problems) > args.limit:
            _print(f"  ... {len(problems) - args.limit} more (--limit)")
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from revqb_pipeline.cli_ops import cmd_retry as run

    return run(args)


def cmd_dunning(args: argparse.Namespace) -> int:
    from revqb_pipeline.cli_ops import cmd_dunning as run

    return run(args)


def cmd_mappings_check(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.mappings_cli import cmd_mappings_check as run

    return run(args)


def cmd_mappings_init(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.mappings_cli import cmd_mappings_init as run

    return run(args)


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from revqb_sandbox.servers import serve

    serve(
        host=args.host,
        revio_port=args.revio_port,
        qbo_port=args.qbo_port,
        seed=args.seed,
        customers=args.customers,
        time_scale=args.time_scale,
        faults=args.faults,
        months=args.months,
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Sandboxes + SQLite: seed a billing cycle, run the whole graph through Dagster, reconcile."""
    from revqb_pipeline.sync.reconcile import format_table, reconcile
    from revqb_pipeline.sync.runtime import Runtime
    from revqb_sandbox.servers import sandboxes

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="revqb-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "revqb.db"
    if db.exists():
        db.unlink()
    _print(f"revqb demo: sandboxes with {args.customers} customers (seed {args.seed}); staging DB {db}")
    with sandboxes(seed=args.seed, customers=args.customers, months=args.months, faults=args.faults) as sb:
        env = sb.env()
        env["REVQB_DB_URL"] = f"sqlite:///{db}"
        env["QBO_THROTTLE_BACKOFF_S"] = "1"
        os.environ.update(env)
        _print(f"  Rev.io sandbox {sb.revio_url}   QBO sandbox {sb.qbo_url}")
        settings = RevqbSettings.from_env()
        partitions = activity_dates(settings, date(2000, 1, 1), date(2100, 1, 1))
        _print(f"  {len(partitions)} day(s) with Rev.io activity to sync: {', '.join(partitions)}")
        with local_instance(workdir / "dagster_home") as inst:
            ok = run_partitions(partitions, instance=inst)
            months = sorted({f"{day[:7]}-01" for day in partitions})
            _print(f"  month-end revenue journals for {', '.join(m[:7] for m in months)}")
            ok = run_partitions(months, job_name="month_end_revenue_job", instance=inst) and ok
        results = reconcile(Runtime(settings))
        _print("\nReconciliation (Rev.io vs QuickBooks Online):")
        _print(format_table(results))
        agrees = ok and all(r.agrees for r in results)
        _print("\nRev.io and QBO agree to the cent." if agrees else "\nRev.io and QBO DISAGREE (see above).")
        return 0 if agrees else 1


# -- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="revqb", description="Rev.io -> QuickBooks Online sync.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline against the bundled sandboxes and reconcile")
    demo.add_argument("--customers", type=int, default=25)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--months", type=int, default=1)
    demo.add_argument("--faults", default=None, help="fault spec, e.g. qbo.drop_after_commit=0.1")
    demo.add_argument("--workdir", default=None)
    demo.set_defaults(func=cmd_demo)

    sync = sub.add_parser("sync", help="sync Rev.io days to QBO (configured by environment variables)")
    sync.add_argument("--partition", action="append", help="day YYYY-MM-DD (repeatable)")
    sync.add_argument("--since", help="first day (default: --days before --to)")
    sync.add_argument("--to", help="last day (default: today)")
    sync.add_argument("--days", type=int, default=3)
    sync.set_defaults(func=cmd_sync)

    rec = sub.add_parser("reconcile", help="counts and totals per entity type on both sides, and differences")
    rec.add_argument("--json", action="store_true")
    rec.add_argument("--entity", action="append")
    rec.set_defaults(func=cmd_reconcile)

    status = sub.add_parser("status", help="ledger: synced / pending / failed / quarantined, with reasons")
    status.add_argument("--type")
    status.add_argument("--json", action="store_true")
    status.add_argument("--limit", type=int, default=50)
    status.set_defaults(func=cmd_status)

    retry = sub.add_parser("retry", help="re-drive failed/quarantined records after a fix (resets, re-runs)")
    retry.add_argument("--type", help="source type, e.g. customer, bill, payment, customer_status")
    retry.add_argument("--id", help="one source record id")
    retry.add_argument("--dry-run", action="store_true", help="list what would be retried")
    retry.set_defaults(func=cmd_retry)

    dunning = sub.add_parser("dunning", help="sync Rev.io account status (dunning/collections) to QBO once")
    dunning.set_defaults(func=cmd_dunning)

    mappings = sub.add_parser("mappings", help="check the mapping file against Rev.io, or write a starter")
    msub = mappings.add_subparsers(dest="mappings_command", required=True)
    mcheck = msub.add_parser("check", help="list what the Rev.io data needs that the mapping file lacks")
    mcheck.add_argument("--mapping", help="mapping file (default: REVQB_MAPPING_FILE, else the packaged one)")
    mcheck.add_argument("--days", type=int, default=90, help="records of the last N days (0: all)")
    mcheck.add_argument("--since", help="read records created since YYYY-MM-DD (instead of --days)")
    mcheck.add_argument("--strict", action="store_true", help="catalog entries not used yet also fail")
    mcheck.add_argument("--json", action="store_true")
    mcheck.add_argument("--verbose", action="store_true", help="also list products mapped by catch-all rules")
    mcheck.set_defaults(func=cmd_mappings_check)
    minit = msub.add_parser("init", help="write a commented starter mapping file from the Rev.io catalog")
    minit.add_argument("--output", help="file to write (default: print it)")
    minit.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    minit.add_argument("--days", type=int, default=90, help="records of the last N days (0: all)")
    minit.add_argument("--since", help="read records created since YYYY-MM-DD (instead of --days)")
    minit.set_defaults(func=cmd_mappings_init)

    sandbox = sub.add_parser("sandbox", help="the bundled Rev.io and QBO sandbox servers")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_sub.add_parser("serve", help="run both sandboxes until stopped")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--revio-port", type=int, default=8701)
    serve.add_argument("--qbo-port", type=int, default=8702)
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--customers", type=int, default=25)
    serve.add_argument("--months", type=int, default=1)
    serve.add_argument("--time-scale", type=float, default=1.0)
    serve.add_argument("--faults", default=None)
    serve.set_defaults(func=cmd_sandbox_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
