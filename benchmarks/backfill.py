"""Backfill benchmark (issue 10, item 5): months of a tenant's history synced as a few range runs.

``python -m benchmarks.backfill [--customers 1000] [--months 12] [--days-per-run 31] [--time-scale 0.1]
[--latency 0.5]``

1. A child process (``python -m benchmarks.backfill --serve ...``) generates the seeded world (``--months``
   of billing for ``--customers`` customers from ``--start``) and runs both sandboxes, so
   ``time.process_time()`` of this process is the pipeline's CPU alone (plus Dagster's). QBO enforces its
   real limits in simulated time with ``--latency`` simulated seconds per request; Rev.io its 500
   calls/min (``--time-scale``: real seconds per simulated second). Nothing is pre-seeded: the backfill
   creates the customers too.
2. The days with Rev.io activity in the window (what ``revqb sync --since --to`` finds), then the sync job
   over them as ``revqb sync --days-per-run N`` runs it: runs over partition ranges of up to N days (quiet
   days between included), the grouping a Dagster UI backfill makes with the assets' BackfillPolicy.
3. ``entities.reconcile`` over what was synced: every entity must agree to the cent.

Prints the number of runs, the pipeline's CPU-s, wall (measured and projected to a real realm:
``cpu + (wall - cpu) / time_scale``), QBO and Rev.io requests against the goals (<= 12 runs, <= 5 min
of local work for 12 months of a 1,000-customer tenant); never asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from unittest import mock

from benchmarks.common import figure, heading, limit_minimum_minutes, ratio
from benchmarks.scale import Child, Phase, measure, serve_child, spawn_child

GOAL_RUNS = 12
GOAL_CPU_S = 300.0
REVIO_PER_MINUTE = 500


@contextlib.contextmanager
def child_sandboxes(args: argparse.Namespace) -> Iterator[Child]:
    """Start :func:`serve_child` in a fresh interpreter; stop it on exit."""
    cmd = ["benchmarks.backfill", "--serve", "--customers", str(args.customers)]
    cmd += ["--seed", str(args.seed), "--months", str(args.months), "--start", args.start.isoformat()]
    cmd += ["--time-scale", str(args.time_scale), "--latency", str(args.latency)]
    with spawn_child(cmd) as child:
        yield child


@dataclass
class BackfillResult:
    """What the backfill did and cost."""

    days: list[str] = field(default_factory=list)
    runs: int = 0
    days_per_run: int = 31
    backfill: Phase = field(default_factory=lambda: Phase("backfill"))
    reconciled: list[tuple[str, bool, str]] = field(default_factory=list)
    setup_s: float = 0.0
    summary: str = ""


def run_backfill(args: argparse.Namespace) -> BackfillResult:
    """Generate the world, find the active days, run them in ranges, reconcile (see the module docstring)."""
    import dagster as dg

    from revqb_pipeline.cli import activity_dates, run_partitions
    from revqb_pipeline.clients.ratelimit import limiter_for, reset_limiters, revio_limiter_for
    from revqb_pipeline.entities import reconcile
    from revqb_pipeline.settings import RevqbSettings
    from revqb_pipeline.sync.runtime import Runtime

    res = BackfillResult(days_per_run=args.days_per_run)
    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="revqb-backfill-"))
    with child_sandboxes(args) as child:
        env = {**child.env, "REVQB_DB_URL": f"sqlite:///{tmp / 'revqb.db'}", "QBO_THROTTLE_BACKOFF_S": "0.5"}
        with mock.patch.dict(os.environ, env), dg.instance_for_test() as instance:
            settings = RevqbSettings.from_env(env)
            reset_limiters()
            limiter_for(child.realm, time_scale=args.time_scale)
            revio_limiter_for(settings.revio_base_url, settings.revio_client_code, time_scale=args.time_scale)
            Runtime(settings).qbo.count("Invoice")  # seeds the realm's reference data before counting
            end = _end_of_window(args.start, args.months)
            res.days = activity_dates(settings, args.start, end)
            res.setup_s = time.monotonic() - t0
            runs_before = instance.get_runs_count()
            out = io.StringIO()
            with measure(res.backfill, child) as ph:
                ph.partitions = len(res.days)
                with contextlib.redirect_stdout(out) if not args.verbose else contextlib.nullcontext():
                    report = run_partitions(res.days, instance=instance, days_per_run=args.days_per_run)
                ph.ok = bool(report)
            res.summary = report.summary()
            res.runs = instance.get_runs_count() - runs_before
            for r in reconcile(Runtime(settings)):
                res.reconciled.append((r.entity, r.agrees, "; ".join(r.differences[:3])))
    return res


def _end_of_window(start: date, months: int) -> date:
    month = start.month - 1 + months
    first_after = date(start.year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(first_after.toordinal() - 1)


def report(res: BackfillResult, args: argparse.Namespace) -> None:
    """Print the figures against the goals."""
    b = res.backfill
    span = (_end_of_window(args.start, args.months) - args.start).days + 1
    heading(
        f"Backfill: {args.months} months of a {args.customers:,}-customer tenant ({span} days, "
        f"{len(res.days)} with activity), --days-per-run {res.days_per_run}, time_scale {args.time_scale}, "
        f"QBO latency {args.latency} s (simulated)"
    )
    figure("world + sandboxes ready, s", round(res.setup_s, 1), "child process, not in the figures")
    figure("job runs", res.runs, f"goal <= {GOAL_RUNS}; a run per active day: {len(res.days)}")
    figure("all runs succeeded", b.ok, res.summary)
    figure(
        "local work: pipeline CPU, s",
        round(b.cpu_s, 1),
        f"goal <= {GOAL_CPU_S:.0f} (5 min); {ratio(b.cpu_s, res.runs):.1f} per run, "
        f"{ratio(b.cpu_s, span):.2f} per day",
    )
    figure(
        "wall, minutes",
        f"{b.wall_s / 60:.1f} measured, {b.projected_s(args.time_scale) / 60:.1f} projected to a real realm",
        "cpu + (wall - cpu) / time_scale (an upper bound: the sandboxes share the cores)",
    )
    entities = b.qbo.entities or {}
    figure("QBO entities written", ", ".join(f"{k}={v}" for k, v in sorted(entities.items())))
    figure(
        "QBO requests / committed writes",
        f"{b.qbo.requests:,} / {b.qbo.writes:,}",
        f"{ratio(b.qbo.requests, b.qbo.writes):.3f} per write, {b.qbo.batches} batches, "
        f"{b.qbo.throttled_429} 429s",
    )
    figure(
        "Rev.io calls",
        f"{b.revio:,}",
        f"{ratio(b.revio, span):.1f} per day, {b.revio_429} 429s; "
        + ", ".join(f"{k}={v}" for k, v in b.revio_calls.most_common(6)),
    )
    floor = max(limit_minimum_minutes(b.qbo.requests, b.qbo.batches), b.revio / REVIO_PER_MINUTE)
    figure("floor of the limits, minutes (real realm)", f"{floor:.1f}", "max(QBO, Rev.io calls / 500)")
    agrees = bool(res.reconciled) and all(ok for _, ok, _ in res.reconciled)
    figure(
        "reconciles to the cent",
        agrees,
        ", ".join(f"{e}={'ok' if ok else 'DIFFERENT'}" for e, ok, _ in res.reconciled),
    )
    for entity, ok, why in res.reconciled:
        if not ok:
            print(f"    {entity}: {why}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.backfill", description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 10, 1), help="first day")
    parser.add_argument("--days-per-run", type=int, default=31)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-scale", type=float, default=0.1, help="real seconds per simulated second")
    parser.add_argument("--latency", type=float, default=0.5, help="simulated QBO seconds per request")
    parser.add_argument("--verbose", action="store_true", help="the job's per-asset lines")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.serve:
        return serve_child(
            args.customers, args.seed, args.time_scale, args.latency, months=args.months, start=args.start
        )
    started = time.monotonic()
    print(f"  started {datetime.now():%Y-%m-%d %H:%M:%S}", flush=True)
    res = run_backfill(args)
    report(res, args)
    figure("benchmark wall time, minutes", round((time.monotonic() - started) / 60, 1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
