"""Smoke test of ``python -m benchmarks.run``: it completes and prints its figures (never checks timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

EXPECTED = [
    # 1. billing run
    "invoices synced",
    "QBO requests used",
    "requests per invoice",
    "batch requests used",
    "429s received",
    "peak concurrency",
    "simulated minutes taken",
    "theoretical minimum (QBO limits), minutes",
    "taken / theoretical minimum (ratio)",
    "invoices would take",
    # 2. re-run
    "re-run QBO requests",
    "re-run QBO writes",
    "re-run wall time",
    # 3. limiter
    "achieved req/min (mean 60 s window)",
    "achieved req/s (whole run)",
    "max in-flight",
    "achieved batch/min (mean 60 s window)",
    "server-window refusals (would-be 429s)",
    # 4. naive vs batched
    "naive/batched requests per invoice (ratio)",
]


def test_benchmark_entry_runs_with_the_tiniest_settings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--customers", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    missing = [name for name in EXPECTED if name not in proc.stdout]
    assert not missing, f"missing figures {missing}:\n{proc.stdout}"
    succeeded = [
        line.split()[-1] for line in proc.stdout.splitlines() if line.strip().startswith("job succeeded")
    ]
    assert succeeded == ["yes", "yes"], succeeded


def test_scale_benchmark_reconciles_and_a_quiet_run_makes_no_qbo_request() -> None:
    """``benchmarks.scale``'s main path on a tiny world (a whole month, so the balances can agree)."""
    from benchmarks.scale import report, run_size
    from revqb_pipeline.defs.automation.empty_days import sync_asset_keys

    res = run_size(3, days=31, seed=7, time_scale=0.05, latency_s=0.0, quiet=True)
    figures = report(res, time_scale=0.05, latency_s=0.0)
    assert res.billing.ok and res.rest.ok and res.quiet.ok
    assert res.billing.invoices > 0
    assert res.reconciled and all(ok for _, ok, _ in res.reconciled), res.reconciled
    assert figures["agrees"] == 1.0
    assert res.quiet.qbo.requests == 0
    # The quiet day forced through Dagster reads only the watched types (customers gated on them), and in
    # operation (the activity scan, no run) it is reported empty with a materialization per sync asset.
    assert res.quiet.revio == 3, res.quiet.revio_calls
    assert res.quiet_scan.ok and res.quiet_events == len(sync_asset_keys())
    assert res.quiet_scan.qbo.requests == 0 and res.quiet_scan.revio == 3, res.quiet_scan.revio_calls


def test_backfill_benchmark_runs_a_month_as_one_range_run_that_reconciles() -> None:
    """``benchmarks.backfill`` on a tiny tenant: a month of days in one range run, reconciled to the cent."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.backfill",
            *("--customers", "5", "--months", "1"),
            "--time-scale",
            "0.02",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = {ln.strip().split("  ")[0]: ln for ln in proc.stdout.splitlines() if ln.startswith("  ")}
    assert lines["job runs"].split()[2] == "1", proc.stdout
    assert lines["reconciles to the cent"].split()[4] == "yes", proc.stdout
