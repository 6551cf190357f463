"""Fixed cost of a quiet run (issue 10): ``python -m benchmarks.fixed_cost [--runs N] [--profile]``.

Both sandboxes run in a child process (their CPU is not ours); this process syncs one day with activity,
then runs a day with no activity through ``revqb_pipeline.cli.run_partitions`` (the path ``revqb sync``
takes) several times, and prints per run: CPU-s (``time.process_time``), Rev.io calls and QBO requests
(counted by the sandboxes, per method and path); then the same day as ``revqb sync --since/--to`` handles
it in operation (activity scan, no run, the day reported empty). ``--profile`` cProfiles one more quiet
run (top 25, cumulative). Prints against the issue's goal; never asserts.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from datetime import date, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks.common import figure, heading, quiet_logging

GOAL_CPU_S = 0.3
GOAL_REVIO_CALLS = 2
GOAL_QBO_REQUESTS = 0

Counts = dict[str, Counter[str]]


class _Counting:
    """ASGI wrapper counting ``METHOD /path`` of every HTTP request outside ``/_admin``."""

    def __init__(self, app: Any, counts: Counter[str]) -> None:
        self.app, self.counts = app, counts

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = str(scope.get("path", ""))
        if scope.get("type") == "http" and not path.startswith("/_admin"):
            self.counts[f"{scope.get('method')} {_shape(path)}"] += 1
        await self.app(scope, receive, send)


def _shape(path: str) -> str:
    """``/v1/Bills/12`` -> ``/v1/Bills/{id}`` so counts group by endpoint."""
    return "/".join("{id}" if part.isdigit() else part for part in path.split("/"))


def _serve(conn: Connection, customers: int, seed: int) -> None:
    """Child process: both sandboxes with counting wrappers; answers ``counts`` until ``stop``."""
    from revqb_sandbox.harness import serve_app
    from revqb_sandbox.qbo.app import create_app as create_qbo_app
    from revqb_sandbox.revio.app import create_app as create_revio_app
    from revqb_sandbox.servers import Sandboxes, build_settings, stop_sandboxes

    revio, qbo = build_settings(seed=seed, customers=customers)
    counts: Counts = {"revio": Counter(), "qbo": Counter()}
    revio_app, qbo_app = create_revio_app(revio), create_qbo_app(qbo)
    revio_srv = serve_app(_Counting(revio_app, counts["revio"]))
    qbo_srv = serve_app(_Counting(qbo_app, counts["qbo"]))
    revio_srv.app, qbo_srv.app = revio_app, qbo_app
    sb = Sandboxes(revio_srv.url, qbo_srv.url, revio, qbo, [revio_srv, qbo_srv])
    conn.send(sb.env())
    try:
        while (msg := conn.recv()) != "stop":
            conn.send({k: Counter(v) for k, v in counts.items()} if msg == "counts" else None)
    finally:
        stop_sandboxes(sb)


@dataclass
class ChildSandboxes:
    """The sandboxes' process: its pipeline environment and request counters."""

    env: dict[str, str]
    conn: Connection

    def counts(self) -> Counts:
        self.conn.send("counts")
        counts: Counts = self.conn.recv()
        return counts


@contextmanager
def child_sandboxes(customers: int, seed: int) -> Iterator[ChildSandboxes]:
    """Start both sandboxes in a spawned process for the ``with`` block."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(child, customers, seed), daemon=True)
    proc.start()
    try:
        yield ChildSandboxes(env=parent.recv(), conn=parent)
    finally:
        parent.send("stop")
        proc.join(timeout=15)
        if proc.is_alive():
            proc.terminate()


@dataclass
class RunCost:
    """One run's CPU seconds and the requests the sandboxes saw."""

    cpu_s: float
    wall_s: float
    revio: Counter[str]
    qbo: Counter[str]
    ok: bool


def fresh_process_caches() -> None:
    """Empty the per-process caches a new ``revqb sync`` process starts without (parsed mapping, TLS
    context, verified QBO reference data), so each in-process run pays what a new process pays."""
    from revqb_pipeline.clients._tls import forget_ssl_context
    from revqb_pipeline.mapping.config import clear_mapping_cache
    from revqb_pipeline.sync.reference_data import clear_reference_cache

    clear_mapping_cache()
    forget_ssl_context()
    clear_reference_cache()


def measure(sb: ChildSandboxes, run: Callable[[], bool]) -> RunCost:
    """CPU and wall seconds of ``run()`` in this process, and the request counts it caused (the
    process's caches emptied first, as in a new process)."""
    fresh_process_caches()
    before = sb.counts()
    cpu, wall = time.process_time(), time.monotonic()
    ok = run()
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    after = sb.counts()
    return RunCost(cpu, wall, after["revio"] - before["revio"], after["qbo"] - before["qbo"], ok)


def quiet_day(active: list[str]) -> str:
    """A day with no Rev.io activity: the first gap after the first active day (else the day after all)."""
    days = {date.fromisoformat(d) for d in active}
    day = min(days) + timedelta(days=1)
    while day in days:
        day += timedelta(days=1)
    return day.isoformat()


def _calls(counter: Counter[str]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counter.items())) or "-"


def bench_fixed_cost(
    customers: int, seed: int, runs: int, profile: bool, profile_out: str | None = None
) -> list[RunCost]:
    """Sync one active day, then ``runs`` quiet runs; print each run's cost against the goal."""
    import dagster as dg

    from benchmarks.scale import scan_quiet_day
    from revqb_pipeline.cli import activity_dates, run_partitions
    from revqb_pipeline.settings import RevqbSettings

    heading(f"Fixed cost of a quiet run ({customers} customers, seed {seed})")
    with (
        child_sandboxes(customers, seed) as sb,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = {
            **sb.env,
            "REVQB_DB_URL": f"sqlite:///{Path(tmp) / 'staging.db'}",
            "QBO_THROTTLE_BACKOFF_S": "0.5",
        }
        with mock.patch.dict(os.environ, env), dg.instance_for_test() as instance:
            settings = RevqbSettings.from_env(env)
            active = activity_dates(settings, date(2000, 1, 1), date(2100, 1, 1))
            quiet = quiet_day(active)

            def sync(day: str) -> Callable[[], bool]:
                def go() -> bool:
                    with redirect_stdout(io.StringIO()):
                        return bool(run_partitions([day], instance=instance))

                return go

            first = measure(sb, sync(active[0]))
            figure("active day synced", active[0], f"{first.cpu_s:.2f} CPU-s, ok={first.ok}")
            figure("quiet day", quiet, f"{len(active)} active days in the world")
            costs = [measure(sb, sync(quiet)) for _ in range(runs)]
            for n, c in enumerate(costs, 1):
                figure(
                    f"quiet run {n}: CPU-s / Rev.io / QBO",
                    f"{c.cpu_s:.3f} / {c.revio.total()} / {c.qbo.total()}",
                    f"wall {c.wall_s:.2f} s, ok={c.ok}",
                )
            steady = costs[1:] or costs
            cpu = sorted(c.cpu_s for c in steady)[len(steady) // 2]
            figure("CPU-s per quiet run (median, runs 2..)", cpu, f"goal <= {GOAL_CPU_S}")
            figure("Rev.io calls per quiet run", costs[-1].revio.total(), f"goal <= {GOAL_REVIO_CALLS}")
            figure("QBO requests per quiet run", costs[-1].qbo.total(), f"goal {GOAL_QBO_REQUESTS}")
            print(f"    Rev.io: {_calls(costs[-1].revio)}")
            print(f"    QBO:    {_calls(costs[-1].qbo)}")
            scan = measure(sb, lambda: scan_quiet_day(settings, instance, quiet) > 0)
            figure(
                "quiet day in operation: CPU-s / Rev.io / QBO",
                f"{scan.cpu_s:.3f} / {scan.revio.total()} / {scan.qbo.total()}",
                f"revqb sync --since D --to D: activity scan, no run, the day reported empty (ok={scan.ok})",
            )
            if profile:
                prof = cProfile.Profile()
                measure(sb, lambda: bool(prof.runcall(sync(quiet))))
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
                if profile_out:
                    prof.dump_stats(profile_out)
                print(out.getvalue())
    return costs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fixed_cost", description=__doc__)
    parser.add_argument("--customers", type=int, default=25)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=5, help="quiet runs to measure")
    parser.add_argument("--profile", action="store_true", help="cProfile one more quiet run (top 25)")
    parser.add_argument("--profile-out", help="also write that profile to this file (pstats format)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_logging()
    print(f"revqb fixed-cost benchmark (os.cpu_count()={os.cpu_count()})", flush=True)
    bench_fixed_cost(
        args.customers, args.seed, args.runs, args.profile or bool(args.profile_out), args.profile_out
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
