"""Benchmarks 1 and 2: a billing run synced end to end through the Dagster job, then the same run again.

The QBO and Rev.io sandboxes enforce the real limits in simulated time (``time_scale`` real seconds per
simulated second). The pipeline has no setting for its limiter's time scale, so the benchmark registers the
realm's limiter (``limiter_for``) with the same ``time_scale`` before the job builds its first client; the job
runs in this process and picks the registered limiter up.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import logging
import pstats
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    BATCH_PER_MINUTE,
    PER_MINUTE,
    Count429,
    QBOStats,
    burst_minimum_minutes,
    figure,
    heading,
    limit_burst_minimum_minutes,
    limit_minimum_minutes,
    ratio,
)
from benchmarks.sandbox_run import SandboxRun, sandbox_run
from revqb_pipeline.clients.ratelimit import QBORateLimiter, limiter_for, reset_limiters, revio_limiter_for
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_sandbox.qbo.settings import QBOSandboxSettings

REVIO_PER_MINUTE = 500


@dataclass
class PassFigures:
    """What one pass (all partitions once) cost."""

    wall_s: float
    partitions: int
    qbo: QBOStats
    revio_requests: int
    revio_429: int
    limiter: dict[str, float]
    steps: dict[str, float] = field(default_factory=dict)
    ledger: dict[str, int] = field(default_factory=dict)
    ok: bool = True


def revio_request_count(p: SandboxRun) -> int:
    """Requests the Rev.io sandbox admitted so far (its daily-quota counter; -1 when unavailable)."""
    limiter = getattr(getattr(p.sb.revio_app.state, "sandbox", None), "limiter", None)
    windows = getattr(limiter, "windows", None)
    if not isinstance(windows, dict):
        return -1
    return sum(int(w[3]) for w in windows.values())


def step_seconds(p: SandboxRun, run_ids: list[str]) -> dict[str, float]:
    """Seconds per Dagster step (asset) summed over ``run_ids``, from STEP_START to success/failure."""
    totals: dict[str, float] = defaultdict(float)
    for run_id in run_ids:
        started: dict[str, float] = {}
        for entry in p.instance.all_logs(run_id):
            ev = entry.dagster_event
            if ev is None or not ev.step_key:
                continue
            if ev.event_type_value == "STEP_START":
                started[ev.step_key] = entry.timestamp
            elif ev.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and ev.step_key in started:
                totals[ev.step_key] += entry.timestamp - started.pop(ev.step_key)
    return dict(totals)


def _limiter_delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float]:
    keys = ("requests", "batches", "waits", "total_wait_s", "penalties")
    out: dict[str, float] = {k: after[k] - before[k] for k in keys}
    out["max_in_flight"] = after["max_in_flight"]
    return out


def run_pass(p: SandboxRun, partitions: list[str], limiter: QBORateLimiter, *, quiet: bool) -> PassFigures:
    """Run the sync job once over ``partitions`` and collect the counters it moved."""
    counter = Count429()
    logging.getLogger("revqb.revio").addHandler(counter)
    qbo_before = QBOStats.fetch(p.sb.qbo_url, p.sb.qbo.realm_id)
    revio_before = revio_request_count(p)
    lim_before = limiter.snapshot()
    runs_before = {r.run_id for r in p.instance.get_runs()}
    out = io.StringIO()
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
            ok = bool(p.run(partitions))  # a SyncReport: true when no run failed
    finally:
        logging.getLogger("revqb.revio").removeHandler(counter)
    wall = time.monotonic() - started
    run_ids = [r.run_id for r in p.instance.get_runs() if r.run_id not in runs_before]
    ledger = Counter(str(r.status) for r in p.runtime().ledger.rows(source_type="bill"))
    return PassFigures(
        wall_s=wall,
        partitions=len(partitions),
        qbo=QBOStats.fetch(p.sb.qbo_url, p.sb.qbo.realm_id).minus(qbo_before),
        revio_requests=revio_request_count(p) - revio_before,
        revio_429=counter.count,
        limiter=_limiter_delta(limiter.snapshot(), lim_before),
        steps=step_seconds(p, run_ids),
        ledger=dict(ledger),
        ok=ok,
    )


@contextlib.contextmanager
def _maybe_profile(enabled: bool, top: int = 25) -> Iterator[None]:
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf).sort_stats("cumulative")
        stats.print_stats(r"revqb_pipeline|sqlalchemy/engine/base|httpx/_client", top)
        print("\n  -- cProfile of the first pass (this thread only; sandboxes run in other threads) --")
        print("\n".join("  " + line for line in buf.getvalue().splitlines()[: top + 12]))


def print_steps(steps: dict[str, float], wall_s: float, top: int = 8) -> None:
    """The slowest Dagster steps (summed over partitions) and their share of the pass."""
    for key, secs in sorted(steps.items(), key=lambda kv: -kv[1])[:top]:
        figure(f"  step {key}", f"{secs:.1f} s", f"{100 * ratio(secs, wall_s):.0f}% of the pass")


def bench_billing(
    customers: int,
    time_scale: float,
    latency_s: float,
    *,
    seed: int = 7,
    quiet: bool = True,
    profile: bool = False,
) -> dict[str, Any]:
    """Benchmarks 1 (first billing run) and 2 (idempotent re-run); prints the figures, returns them."""
    sim_minute = 60 * time_scale
    qbo_settings = QBOSandboxSettings(
        seed=seed,
        time_scale=time_scale,
        request_latency_s=latency_s,
        # A 429 without Retry-After costs the client qbo_throttle_backoff_s *real* seconds (60 by default, and
        # the Dagster resource does not read QBO_THROTTLE_BACKOFF_S); 1 s keeps an unexpected 429 cheap here.
        retry_after_s=1,
    )
    tmp = Path(tempfile.mkdtemp(prefix="revqb-bench-"))
    with sandbox_run(
        f"sqlite:///{tmp / 'revqb.db'}",
        customers=customers,
        seed=seed,
        time_scale=time_scale,
        qbo_settings=qbo_settings,
    ) as p:
        reset_limiters()
        limiter = limiter_for(p.sb.qbo.realm_id, time_scale=time_scale)
        settings = p.settings  # the Rev.io write-back is paced in the sandbox's simulated time too
        revio_limiter_for(settings.revio_base_url, settings.revio_client_code, time_scale=time_scale)
        p.runtime().qbo.count("Invoice")  # seeds the realm, so entity counts below are deltas of the run
        partitions = p.partitions()
        with _maybe_profile(profile):
            first = run_pass(p, partitions, limiter, quiet=quiet)
        second = run_pass(p, partitions, limiter, quiet=quiet)

    heading(
        f"1. Billing-run throughput: {customers} Rev.io customers, time_scale {time_scale} "
        f"(1 simulated minute = {sim_minute:.1f} s real), QBO latency {latency_s} s/request (simulated)"
    )
    q = first.qbo
    invoices = q.entities.get("Invoice", 0) if q.entities else 0
    synced_bills = first.ledger.get(str(LedgerStatus.SYNCED), 0)
    figure("job succeeded", first.ok)
    figure("partitions (bill dates)", first.partitions)
    figure("invoices synced", invoices, f"bill ledger rows synced: {synced_bills}, all: {first.ledger}")
    figure("QBO entities created", ", ".join(f"{k}={v}" for k, v in sorted((q.entities or {}).items())))
    figure("QBO requests used", q.requests, f"client limiter admitted {int(first.limiter['requests'])}")
    figure("requests per invoice", ratio(q.requests, invoices))
    figure("batch requests used", q.batches, f"ceiling {BATCH_PER_MINUTE}/min")
    sim_minutes = first.wall_s / time_scale / 60
    figure("batches per simulated minute", ratio(q.batches, sim_minutes), f"vs ceiling {BATCH_PER_MINUTE}")
    figure("429s received", q.throttled_429, "target 0")
    figure("peak concurrency", q.peak_concurrency, "limit 10")
    figure(
        "limiter waits",
        int(first.limiter["waits"]),
        f"{first.limiter['total_wait_s']:.2f} s real = {first.limiter['total_wait_s'] / time_scale / 60:.2f} "
        "simulated min",
    )
    figure("Rev.io requests used", first.revio_requests, f"429s from Rev.io: {first.revio_429}")
    figure(
        "wall time",
        f"{first.wall_s:.1f} s",
        f"{ratio(invoices, first.wall_s):.1f} invoices/s on this machine",
    )
    qbo_min = limit_minimum_minutes(q.requests, q.batches)
    figure("simulated minutes taken", sim_minutes)
    qbo_burst = limit_burst_minimum_minutes(q.requests, q.batches)
    figure(
        "theoretical minimum (QBO limits), minutes", qbo_min, "steady state: max(batches/40, requests/500)"
    )
    figure("  with the first window's burst credit, minutes", qbo_burst, "(ceil(batches/40) - 1) x 1 min ...")
    figure("taken / theoretical minimum (ratio)", ratio(sim_minutes, qbo_min))
    # Against a real realm, local work (our code, Dagster, SQLite, and here the in-process sandboxes) takes
    # the same real seconds; only QBO's windows and latency are "simulated" here.
    local_s = max(0.0, first.wall_s - first.limiter["total_wait_s"] - q.requests * latency_s * time_scale)
    revio_min = burst_minimum_minutes(first.revio_requests, REVIO_PER_MINUTE)
    serial_min = (local_s + q.requests * latency_s) / 60
    low = max(qbo_burst, revio_min, serial_min)
    high = qbo_burst + revio_min + serial_min
    figure("local work (not rate limited), minutes", local_s / 60, "real seconds, unscaled")
    figure("Rev.io minimum at 500/min, minutes", revio_min, "with burst credit")
    figure(
        "projection",
        f"{invoices} invoices would take {low:.1f}-{high:.1f} minutes against a real realm",
        "max vs sum of: QBO limit minimum, Rev.io limit minimum, local work + requests x latency",
    )
    figure("projected invoices per hour (QBO limits only)", int(ratio(invoices, qbo_min) * 60))
    print_steps(first.steps, first.wall_s)

    heading("2. Idempotent re-run: the same billing run again")
    r = second.qbo
    per_partition = ratio(r.requests, second.partitions)
    figure("job succeeded", second.ok)
    figure("re-run QBO requests", r.requests, f"{per_partition:.1f} per partition")
    figure("re-run QBO writes", r.writes, "target 0")
    figure("re-run QBO batch requests", r.batches, "target 0")
    figure("re-run requests per invoice", ratio(r.requests, invoices))
    figure("re-run Rev.io requests", second.revio_requests)
    figure(
        "re-run wall time", f"{second.wall_s:.1f} s", f"{ratio(second.wall_s, first.wall_s):.2f} x first run"
    )
    print_steps(second.steps, second.wall_s, top=5)
    return {
        "invoices": invoices,
        "first": first,
        "second": second,
        "qbo_min": qbo_min,
        "requests_per_invoice": ratio(q.requests, invoices),
        "batches_per_invoice": ratio(q.batches, invoices),
    }


__all__ = ["PER_MINUTE", "bench_billing"]
