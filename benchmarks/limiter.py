"""Benchmark 3: QBORateLimiter accuracy under 20 threads, on a scaled clock.

Threads 0-3 send batch requests back to back, the others single requests; each holds its slot for a simulated
service time. Every admission is stamped; the stamps are then replayed through QBO's own windows (60 s, 1 s,
batch 60 s, in-flight) to count what a server stamping the same instants would have refused.
"""

from __future__ import annotations

import bisect
import random
import threading
import time
from dataclasses import dataclass

from benchmarks.common import (
    BATCH_PER_MINUTE,
    MAX_CONCURRENT,
    PER_MINUTE,
    PER_SECOND,
    figure,
    heading,
    ratio,
)
from revqb_pipeline.clients.ratelimit import QBORateLimiter

THREADS = 20
BATCH_THREADS = 4


@dataclass
class LimiterRun:
    """Admissions (simulated seconds since start) and what they add up to."""

    label: str
    stamps: list[float]
    batch_stamps: list[float]
    duration_sim_s: float
    max_in_flight: int
    windows_sim_s: tuple[float, float]


def _max_in_window(stamps: list[float], span: float) -> int:
    """Largest number of stamps in any half-open window ``[t, t + span)``."""
    best = 0
    for i, t in enumerate(stamps):
        best = max(best, bisect.bisect_left(stamps, t + span, lo=i) - i)
    return best


def _mean_per_window(stamps: list[float], span: float, duration: float) -> float:
    """Mean number of stamps in ``[t, t + span)`` for t every simulated second of ``[0, duration - span]``."""
    starts = [float(t) for t in range(int(duration - span) + 1)] or [0.0]
    counts = [bisect.bisect_left(stamps, t + span) - bisect.bisect_left(stamps, t) for t in starts]
    return sum(counts) / len(counts)


def _server_refusals(stamps: list[float], batch_stamps: list[float]) -> int:
    """Requests QBO's sliding windows (sandbox semantics: ``now - t < span``) would have refused."""
    refused = 0
    batch_set = set(batch_stamps)
    minute: list[float] = []
    second: list[float] = []
    batch: list[float] = []
    for t in stamps:
        minute = [x for x in minute if t - x < 60.0]
        second = [x for x in second if t - x < 1.0]
        batch = [x for x in batch if t - x < 60.0]
        is_batch = t in batch_set
        if (
            len(second) >= PER_SECOND
            or len(minute) >= PER_MINUTE
            or (is_batch and len(batch) >= BATCH_PER_MINUTE)
        ):
            refused += 1
            continue
        minute.append(t)
        second.append(t)
        if is_batch:
            batch.append(t)
    return refused


def drive(
    label: str, limiter: QBORateLimiter, time_scale: float, duration_sim_s: float, service_sim_s: float
) -> LimiterRun:
    """Hammer ``limiter`` from 20 threads for ``duration_sim_s`` simulated seconds."""
    t0 = time.monotonic()
    end = t0 + duration_sim_s * time_scale
    lock = threading.Lock()
    stamps: list[float] = []
    batch_stamps: list[float] = []
    in_flight = 0
    peak = 0

    def worker(n: int) -> None:
        nonlocal in_flight, peak
        rng = random.Random(n)
        is_batch = n < BATCH_THREADS
        while time.monotonic() < end:
            with limiter.acquire(batch=is_batch):
                now = (time.monotonic() - t0) / time_scale
                with lock:
                    in_flight += 1
                    peak = max(peak, in_flight)
                    stamps.append(now)
                    if is_batch:
                        batch_stamps.append(now)
                time.sleep(service_sim_s * time_scale * rng.uniform(0.5, 1.5))
                with lock:
                    in_flight -= 1

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    batch_stamps.sort()
    # The limiter's window lengths in simulated seconds (60 s / 1 s widened by its margin and jitter).
    windows = (
        getattr(limiter, "_minute", float("nan")) / time_scale,
        getattr(limiter, "_second", float("nan")) / time_scale,
    )
    return LimiterRun(label, stamps, batch_stamps, duration_sim_s, peak, windows)


def report(run: LimiterRun) -> None:
    """Print the achieved rates of one run against QBO's limits."""
    minutes = run.duration_sim_s / 60
    print(f"  -- {run.label}")
    minute_s, second_s = run.windows_sim_s
    figure("limiter windows (simulated s)", f"{minute_s:.3f} / {second_s:.3f}", "minute / second")
    per_min = _mean_per_window(run.stamps, 60.0, run.duration_sim_s)
    figure("achieved req/min (mean 60 s window)", per_min, f"limit {PER_MINUTE}")
    figure("achieved req/min / limit", per_min / PER_MINUTE)
    figure("achieved req/s (whole run)", ratio(len(run.stamps), run.duration_sim_s), f"limit {PER_SECOND}")
    figure("max req in any 60 s window", _max_in_window(run.stamps, 60.0), f"limit {PER_MINUTE}")
    figure("max req in any 1 s window", _max_in_window(run.stamps, 1.0), f"limit {PER_SECOND}")
    figure(
        "achieved batch/min (mean 60 s window)",
        _mean_per_window(run.batch_stamps, 60.0, run.duration_sim_s),
        f"limit {BATCH_PER_MINUTE}",
    )
    figure(
        "max batches in any 60 s window", _max_in_window(run.batch_stamps, 60.0), f"limit {BATCH_PER_MINUTE}"
    )
    figure("max in-flight", run.max_in_flight, f"limit {MAX_CONCURRENT}")
    figure(
        "server-window refusals (would-be 429s)", _server_refusals(run.stamps, run.batch_stamps), "target 0"
    )
    figure("requests admitted", len(run.stamps), f"over {minutes:.1f} simulated minutes")


def bench_limiter(
    time_scale: float = 0.05,
    duration_sim_s: float = 180.0,
    service_sim_s: float = 0.3,
    *,
    fast_too: bool = True,
) -> None:
    """Benchmark 3: the limiter as configured by the pipeline, with its jitter scaled and unscaled."""
    heading(
        f"3. Rate limiter accuracy: {THREADS} threads ({BATCH_THREADS} batching), time_scale {time_scale}, "
        f"{duration_sim_s / 60:.1f} simulated minutes, service time {service_sim_s} s"
    )
    # jitter_s is real seconds: scaled with the clock it models a real realm (time_scale 1); unscaled it is
    # what a scaled sandbox run gets (a fixed real allowance on windows that last time_scale x as long).
    jitter = float((QBORateLimiter.__init__.__kwdefaults__ or {}).get("jitter_s", 0.0))
    scaled = QBORateLimiter(time_scale=time_scale, jitter_s=jitter * time_scale)
    run = drive(
        "defaults, jitter scaled with the clock (= a real realm)",
        scaled,
        time_scale,
        duration_sim_s,
        service_sim_s,
    )
    report(run)
    unscaled = QBORateLimiter(time_scale=time_scale)
    label = f"defaults as a scaled run sees them (jitter_s {jitter} s real)"
    report(drive(label, unscaled, time_scale, duration_sim_s, service_sim_s))
    if fast_too:
        fast = QBORateLimiter(time_scale=time_scale, jitter_s=jitter * time_scale)
        label = "defaults, jitter scaled, service time 0.05 s (how much the service time costs)"
        report(drive(label, fast, time_scale, duration_sim_s, 0.05))
