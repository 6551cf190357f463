"""Sandbox world generation: ``python -m benchmarks.world [--sizes 1000,2000,5000,10000] [--months 1]``.

For each size, a fresh child process generates the seeded Rev.io tenant (``generate``), then builds the
state the server serves from it (``RevioState.from_dataset``, as ``revqb sandbox serve`` does), and reports
both times, the peak RSS of that process and the record counts. Prints the figures against the goal
(10,000 customers with a month of billing ready in <= 30 s and <= 1 GB) and the growth ratios against the
smallest size. Nothing here asserts on time: on a shared machine the ratios within one run are the figures
to read. A size that does not finish within ``--timeout`` seconds is reported as such.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

GOAL_CUSTOMERS = 10_000
GOAL_SECONDS = 30.0
GOAL_RSS_MB = 1024.0
COUNTED = ("customers", "service_products", "bills", "charges", "credits", "payments")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.world", description=__doc__)
    parser.add_argument("--sizes", default="1000,2000,5000,10000", help="customer counts, comma-separated")
    parser.add_argument("--months", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per size")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def measure(customers: int, months: int, seed: int) -> dict[str, Any]:
    """Generate one world and build its served state in this process; times, peak RSS and counts."""
    from revqb_sandbox.revio.generator import generate
    from revqb_sandbox.revio.state import RevioState

    t0 = time.perf_counter()
    ds = generate(seed, customers, date(2026, 1, 1), months)
    t1 = time.perf_counter()
    state = RevioState.from_dataset(ds)
    t2 = time.perf_counter()
    counts = {name: len(getattr(ds, name)) for name in COUNTED}
    counts["taxed_charges"] = sum(1 for c in ds.charges if c["tax_amount"] > 0)
    counts["bounced_payments"] = sum(1 for p in ds.payments if p["bounced"] and not p["original_payment_id"])
    counts["refunds"] = sum(1 for p in ds.payments if p["refund_flag"])
    people = list(state.tables["customers"].values())
    counts["closed"] = sum(1 for c in people if c["status"] == "CLOSED")
    counts["in_dunning"] = sum(1 for c in people if c["fields"][1]["value"])
    return {
        "customers": customers,
        "generate_s": t1 - t0,
        "serve_state_s": t2 - t1,
        "ready_s": t2 - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": counts,
    }


def run_child(customers: int, months: int, seed: int, timeout: float) -> dict[str, Any] | None:
    """:func:`measure` in a fresh interpreter (its own peak RSS); None if it runs out of time."""
    cmd = [sys.executable, "-m", "benchmarks.world", "--child", str(customers)]
    cmd += ["--months", str(months), "--seed", str(seed)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise RuntimeError(f"{customers:,} customers: the generation failed\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(results: list[tuple[int, dict[str, Any] | None]], months: int, timeout: float) -> None:
    """Print the table, the goal check and the growth ratios."""
    print(f"\n== Sandbox world generation (months={months}, one fresh process per size) ==", flush=True)
    print(f"  {'customers':>9} {'generate s':>10} {'serve state s':>13} {'ready s':>8} {'peak RSS MB':>11}")
    for n, r in results:
        if r is None:
            print(f"  {n:>9,} did not finish within {timeout:.0f} s")
            continue
        print(
            f"  {n:>9,} {r['generate_s']:>10.2f} {r['serve_state_s']:>13.2f} {r['ready_s']:>8.2f} "
            f"{r['peak_rss_mb']:>11.0f}"
        )
    print("\n  records per size:")
    for n, r in results:
        if r is not None:
            print(f"  {n:>9,} " + ", ".join(f"{k} {v:,}" for k, v in r["counts"].items()))
    done = {n: r for n, r in results if r is not None}
    goal = done.get(GOAL_CUSTOMERS)
    target = f"{GOAL_CUSTOMERS:,} customers ready in <= {GOAL_SECONDS:.0f} s with <= {GOAL_RSS_MB:.0f} MB"
    print()
    if goal is None:
        print(f"  goal ({target}): not measured")
    else:
        ok = goal["ready_s"] <= GOAL_SECONDS and goal["peak_rss_mb"] <= GOAL_RSS_MB
        figures = f"{goal['ready_s']:.2f} s, {goal['peak_rss_mb']:.0f} MB"
        print(f"  goal ({target}): {figures} -> {'met' if ok else 'MISSED'}")
    if len(done) >= 2:
        base_n = min(done)
        base = done[base_n]
        for n in sorted(done)[1:]:
            r = done[n]
            time_x = r["ready_s"] / base["ready_s"]
            rss_x = r["peak_rss_mb"] / base["peak_rss_mb"]
            print(
                f"  growth {n:,}/{base_n:,} (x{n / base_n:g} customers): ready time x{time_x:.1f}, "
                f"peak RSS x{rss_x:.1f}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.child is not None:
        print(json.dumps(measure(args.child, args.months, args.seed)), flush=True)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    results: list[tuple[int, dict[str, Any] | None]] = []
    for n in sizes:
        print(f"  generating {n:,} customers ...", flush=True)
        results.append((n, run_child(n, args.months, args.seed, args.timeout)))
    report(results, args.months, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
