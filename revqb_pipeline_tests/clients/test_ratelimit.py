"""QBO and Rev.io limiters: windows with a fake clock, the concurrency gate, penalties, the registries."""

from __future__ import annotations

import threading
import time

import pytest

from revqb_pipeline.clients.ratelimit import (
    QBORateLimiter,
    RevioRateLimiter,
    limiter_for,
    reset_limiters,
    revio_limiter_for,
    revio_tenant,
)
from revqb_pipeline.clients.revio import RevioClient


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fill(limiter: QBORateLimiter, n: int, batch: bool = False) -> int:
    admitted = 0
    for _ in range(n):
        if limiter.try_acquire(batch=batch):
            limiter.release(batch=batch)
            admitted += 1
    return admitted


def test_per_second_window_slides() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(clock=clock, margin=0, jitter_s=0)
    assert _fill(lim, 15) == 10
    assert lim.wait_time() == pytest.approx(1.0)
    clock.now += 0.5
    assert not lim.try_acquire()
    clock.now += 0.5
    assert _fill(lim, 15) == 10


def test_requests_count_until_completion_plus_window() -> None:
    """The server may stamp a request as late as its answer: a slow request holds its window slot."""
    clock = FakeClock()
    lim = QBORateLimiter(per_second=2, clock=clock, margin=0, jitter_s=0)
    assert lim.try_acquire() and lim.try_acquire()
    assert lim.wait_time() == float("inf")  # both in flight: only a completion helps
    clock.now += 5
    lim.release()
    assert lim.wait_time() == pytest.approx(1.0)  # completed now -> leaves the 1 s window at +1
    clock.now += 1
    assert lim.try_acquire()


def test_per_minute_window() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(per_minute=25, per_second=10, clock=clock, margin=0, jitter_s=0)
    total = 0
    for _ in range(10):
        total += _fill(lim, 10)
        clock.now += 1.0
    assert total == 25
    # the first 10 were admitted at t=1000 -> they leave the window at t=1060
    assert lim.wait_time() == pytest.approx(1060 - clock.now)
    clock.now = 1060.0
    assert _fill(lim, 20) == 10


def test_batch_window_is_separate() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(batch_per_minute=3, clock=clock, margin=0, jitter_s=0)
    assert _fill(lim, 5, batch=True) == 3
    assert lim.try_acquire(batch=False)  # plain requests still pass
    lim.release()
    assert lim.wait_time(batch=True) == pytest.approx(60.0)
    assert lim.stats.batches == 3 and lim.stats.requests == 4


def test_time_scale_and_margin_scale_windows() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(time_scale=0.01, clock=clock, margin=0.1, jitter_s=0.002)
    assert _fill(lim, 11) == 10
    assert lim.wait_time() == pytest.approx(0.013)


def test_concurrency_gate() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(max_concurrent=2, clock=clock)
    assert lim.try_acquire() and lim.try_acquire()
    assert not lim.try_acquire()
    lim.release()
    assert lim.try_acquire()
    assert lim.stats.max_in_flight == 2


def test_penalize_pauses_everyone() -> None:
    clock = FakeClock()
    lim = QBORateLimiter(clock=clock)
    lim.penalize(5)
    assert lim.wait_time() == pytest.approx(5)
    assert not lim.try_acquire()
    clock.now += 5
    assert lim.try_acquire()
    assert lim.stats.penalties == 1


def test_acquire_blocks_threads_under_the_windows() -> None:
    lim = QBORateLimiter(per_second=5, max_concurrent=3, time_scale=0.2, margin=0, jitter_s=0)  # 5 per 0.2 s
    stamps: list[float] = []
    lock = threading.Lock()
    concurrent = 0
    peak = 0

    def work() -> None:
        nonlocal concurrent, peak
        with lim.acquire():
            with lock:
                stamps.append(time.monotonic())
                concurrent += 1
                peak = max(peak, concurrent)
            time.sleep(0.01)
            with lock:
                concurrent -= 1

    threads = [threading.Thread(target=work) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert peak <= 3
    # any 0.2 s window holds at most 5 admissions (small tolerance for timer granularity)
    for i in range(len(stamps) - 5):
        assert stamps[i + 5] - stamps[i] >= 0.2 - 0.005
    assert lim.stats.requests == 20 and lim.stats.waits > 0 and lim.stats.total_wait_s > 0
    assert lim.in_flight == 0


def test_acquire_releases_on_error() -> None:
    lim = QBORateLimiter(max_concurrent=1)
    with pytest.raises(RuntimeError), lim.acquire():
        raise RuntimeError("boom")
    assert lim.in_flight == 0


def test_registry_shares_one_limiter_per_realm() -> None:
    reset_limiters()
    a = limiter_for("realm-a", per_second=3)
    assert limiter_for("realm-a") is a and a.per_second == 3
    assert limiter_for("realm-b") is not a
    reset_limiters()
    assert limiter_for("realm-a") is not a


def test_rejects_bad_limits() -> None:
    with pytest.raises(ValueError):
        QBORateLimiter(per_second=0)


# ----- Rev.io: 500 calls/min per tenant, nothing else ------------------------------------------------------


def test_revio_minute_window_slides_with_no_per_second_cap() -> None:
    clock = FakeClock()
    lim = RevioRateLimiter(clock=clock, margin=0, jitter_s=0)
    assert _fill(lim, 600) == 500  # all in the same instant: no per-second window
    assert lim.wait_time() == pytest.approx(60.0)
    clock.now += 30
    assert not lim.try_acquire()
    clock.now += 30
    assert _fill(lim, 600) == 500
    assert lim.stats.requests == 1000


def test_revio_window_counts_until_completion_and_scales_with_time() -> None:
    clock = FakeClock()
    lim = RevioRateLimiter(per_minute=3, time_scale=0.1, clock=clock, margin=0, jitter_s=0)  # 3 per 6 s
    for _ in range(3):
        assert lim.try_acquire()
    assert lim.wait_time() == float("inf")  # three in flight: only a completion frees a slot
    clock.now += 10
    lim.release()
    assert lim.wait_time() == pytest.approx(6.0)
    clock.now += 6
    assert lim.try_acquire()


def test_revio_limiter_has_no_concurrency_cap() -> None:
    lim = RevioRateLimiter(clock=FakeClock())
    assert all(lim.try_acquire() for _ in range(50))
    assert lim.stats.max_in_flight == 50 and lim.in_flight == 50


def test_revio_registry_is_per_tenant() -> None:
    reset_limiters()
    a = revio_limiter_for("http://127.0.0.1:9/v1/", "Acme", time_scale=0.1)
    assert revio_limiter_for("HTTP://127.0.0.1:9", "acme") is a and a.time_scale == 0.1
    assert revio_limiter_for("http://127.0.0.1:9/v1", "other") is not a
    assert revio_limiter_for("http://127.0.0.1:10/v1", "acme") is not a
    assert revio_tenant("http://h/v1/", "X") == revio_tenant("http://h", "x")
    qbo = limiter_for("acme")  # a QBO realm named like a tenant is another limiter
    assert isinstance(qbo, QBORateLimiter) and qbo is not a
    reset_limiters()


def test_revio_clients_of_one_tenant_share_its_limiter() -> None:
    reset_limiters()
    registered = revio_limiter_for("http://127.0.0.1:9", "acme", time_scale=0.5)
    one = RevioClient("http://127.0.0.1:9/v1", "acme", "u", "p", "k")
    two = RevioClient("http://127.0.0.1:9/", "ACME", "v", "q", "k")
    other = RevioClient("http://127.0.0.1:9/", "beta", "u", "p", "k")
    assert one.limiter is registered and two.limiter is registered
    assert other.limiter is not registered
    own = RevioRateLimiter(per_minute=7)
    assert RevioClient("http://127.0.0.1:9", "acme", "u", "p", "k", limiter=own).limiter is own
    for client in (one, two, other):
        client.close()
    reset_limiters()
