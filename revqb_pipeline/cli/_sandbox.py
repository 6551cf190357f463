"""``revqb sandbox serve`` and ``revqb demo``: the only commands that load ``revqb_sandbox`` (lazily)."""

from __future__ import annotations

import argparse
import os
import tempfile
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from revqb_pipeline.cli._common import EXIT_FAILURE, EXIT_OK, require, say, settings_or_exit
from revqb_pipeline.cli._runs import local_instance, run_partitions, stopped
from revqb_pipeline.cli._signals import graceful_signals
from revqb_pipeline.cli._sync import activity_dates


def cmd_sandbox_serve(args: Any) -> int:
    """Run the Rev.io and QBO sandboxes until stopped (``--latency``, ``--empty``, ``--tls`` when given)."""
    from revqb_sandbox.servers import SERVE_LATENCY_S, serve

    latency = getattr(args, "latency", None)
    tls_dir = None
    if getattr(args, "tls", False):
        tls_dir = Path(getattr(args, "tls_dir", None) or tempfile.mkdtemp(prefix="revqb-tls-"))
    serve(
        host=args.host,
        revio_port=args.revio_port,
        qbo_port=args.qbo_port,
        seed=args.seed,
        customers=args.customers,
        time_scale=args.time_scale,
        faults=args.faults,
        months=args.months,
        latency=SERVE_LATENCY_S if latency is None else latency,
        empty=bool(getattr(args, "empty", False)),
        tls_dir=tls_dir,
    )
    return EXIT_OK


def add_serve_options(serve: argparse.ArgumentParser) -> None:
    """The QBO-fidelity options of ``python -m revqb_sandbox serve`` (argparse, issue 15); ``revqb sandbox
    serve`` declares them with click (``_app.py``). Goes once revqb_sandbox/__main__.py calls the click
    command."""
    from revqb_sandbox.servers import SERVE_LATENCY_S

    serve.add_argument(
        "--latency",
        type=float,
        default=None,
        help=f"seconds per QBO API request (default {SERVE_LATENCY_S}: a serial client stays under 10/s)",
    )
    serve.add_argument("--empty", action="store_true", help="QBO company with reference data only")
    serve.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (path printed)")
    serve.add_argument("--tls-dir", default=None, help="where --tls writes ca.pem/server.pem (default: temp)")


def cmd_demo(args: SimpleNamespace) -> int:
    """Sandboxes + SQLite: seed a billing cycle, run the whole graph through Dagster, reconcile."""
    from revqb_pipeline.entities import reconcile
    from revqb_pipeline.sync.reconcile import format_table
    from revqb_pipeline.sync.runtime import Runtime
    from revqb_sandbox.servers import sandboxes

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="revqb-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "revqb.db"
    if db.exists():
        db.unlink()
    say(f"revqb demo: sandboxes with {args.customers} customers (seed {args.seed}); staging DB {db}")
    with (
        graceful_signals() as stop,
        sandboxes(seed=args.seed, customers=args.customers, months=args.months, faults=args.faults) as sb,
    ):
        env = sb.env()
        env["REVQB_DB_URL"] = f"sqlite:///{db}"
        env["QBO_THROTTLE_BACKOFF_S"] = "1"
        os.environ.update(env)
        say(f"  Rev.io sandbox {sb.revio_url}   QBO sandbox {sb.qbo_url}")
        settings = settings_or_exit()
        require(settings)
        partitions = activity_dates(settings, date(2000, 1, 1), date(2100, 1, 1))
        say(f"  {len(partitions)} day(s) with Rev.io activity to sync: {', '.join(partitions)}")
        with local_instance(workdir / "dagster_home") as inst:
            report = run_partitions(partitions, instance=inst, verbose=args.verbose)
            if stop.requested:
                return stopped(stop, report)
            months = sorted({f"{day[:7]}-01" for day in partitions})
            say(f"  month-end revenue journals for {', '.join(m[:7] for m in months)}")
            job = "month_end_revenue_job"
            report.merge(run_partitions(months, job_name=job, instance=inst, verbose=args.verbose))
            if stop.requested:
                return stopped(stop, report)
        results = reconcile(Runtime(settings))
        say("\nReconciliation (Rev.io vs QuickBooks Online):")
        say(format_table(results))
        agrees = bool(report) and all(r.agrees for r in results)
        say("\nRev.io and QBO agree to the cent." if agrees else "\nRev.io and QBO DISAGREE (see above).")
        say(f"totals: {report.totals()}")
        say(f"demo: {report.summary()}")
        if not all(r.agrees for r in results):
            return EXIT_FAILURE
        return report.exit_code
