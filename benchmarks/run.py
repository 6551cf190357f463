"""Entry point: ``python -m benchmarks.run [--customers N] [--time-scale X] [--quick]`` (``make bench``).

Prints figures and ratios for: 1. billing-run throughput, 2. idempotent re-run, 3. rate limiter accuracy,
4. naive per-record writer vs the batched path. Nothing here asserts on wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from benchmarks.common import quiet_logging

DEFAULT_CUSTOMERS = 1300  # ~1,040 bills over two bill dates with the default seed
QUICK_CUSTOMERS = 250  # ~200 bills


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--customers", type=int, default=None, help=f"Rev.io customers (default {DEFAULT_CUSTOMERS})"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.05,
        help="real seconds per simulated second for both sandboxes and the client limiter (1 = real limits)",
    )
    parser.add_argument("--latency", type=float, default=0.5, help="simulated QBO latency per request (s)")
    parser.add_argument(
        "--quick", action="store_true", help=f"~200 bills ({QUICK_CUSTOMERS} customers), shorter runs"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", action="append", choices=["billing", "limiter", "naive"], help="repeatable")
    parser.add_argument("--profile", action="store_true", help="cProfile the first billing pass")
    parser.add_argument("--verbose", action="store_true", help="show the job's per-asset lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_logging()

    from benchmarks.billing import bench_billing
    from benchmarks.limiter import bench_limiter
    from benchmarks.naive import bench_naive

    customers = args.customers or (QUICK_CUSTOMERS if args.quick else DEFAULT_CUSTOMERS)
    only = set(args.only or ["billing", "limiter", "naive"])
    started = time.monotonic()
    print(f"revqb benchmarks (os.cpu_count()={os.cpu_count()}, time_scale {args.time_scale})", flush=True)
    per_invoice: tuple[float, float] | None = None
    if "billing" in only:
        figs = bench_billing(
            customers,
            args.time_scale,
            args.latency,
            seed=args.seed,
            quiet=not args.verbose,
            profile=args.profile,
        )
        per_invoice = (figs["requests_per_invoice"], figs["batches_per_invoice"])
    if "limiter" in only:
        bench_limiter(args.time_scale, duration_sim_s=120.0 if args.quick else 240.0, fast_too=not args.quick)
    if "naive" in only:
        bench_naive(60 if args.quick else 150, per_invoice, latency_s=args.latency)
    print(f"\nbenchmarks done in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
