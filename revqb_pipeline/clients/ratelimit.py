"""Client-side throttles: sliding windows + a concurrency gate, one limiter per QBO realm / Rev.io tenant."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable


@runtime_checkable
class RateLimiter(Protocol):
    """What the clients need of a limiter: in-process (:class:`SlidingWindowLimiter`, the default) or one
    whose state is shared by every process through the staging database (``staging/limits.py``)."""

    def acquire(self, batch: bool = False) -> AbstractContextManager[None]:
        """Block until one more request fits; hold its slot for the ``with`` block."""
        ...

    def penalize(self, seconds: float) -> None:
        """Pause every caller of this API account for ``seconds`` (a 429's Retry-After)."""
        ...


@dataclass
class LimiterStats:
    """Counters for benchmarks: admitted requests/batches, how often and how long callers waited."""

    requests: int = 0
    batches: int = 0
    waits: int = 0
    total_wait_s: float = 0.0
    penalties: int = 0
    max_in_flight: int = 0

    def waited_since(self, started: float) -> None:
        """Count one admission that waited, from ``started`` (``time.monotonic()``) until now."""
        self.waits += 1
        self.total_wait_s += time.monotonic() - started


def window_wait(done: Sequence[float], in_flight: int, limit: int | None, length: float, now: float) -> float:
    """Seconds until one more request fits a window (``inf``: only a completion can free a slot).

    ``done``: completion times (sorted); a request counts from admission until ``length`` after completion.
    """
    if limit is None:
        return 0.0
    recent = [t for t in done if t > now - length]
    count = in_flight + len(recent)
    if count < limit:
        return 0.0
    k = count - limit + 1  # this many counted requests must leave the window
    if k > len(recent):
        return math.inf
    return recent[k - 1] + length - now


@dataclass(frozen=True)
class Windows:
    """The rate limits of one API account and their window lengths: the pure arithmetic shared by the
    in-process :class:`SlidingWindowLimiter` and the database-backed ``staging.limits.DbRateLimiter``."""

    per_minute: int
    per_second: int | None
    batch_per_minute: int | None
    minute: float
    second: float

    def delay(
        self,
        now: float,
        paused_until: float,
        done: Sequence[float],
        in_flight: int,
        batches_done: Sequence[float],
        batches_in_flight: int,
        batch: bool,
    ) -> float:
        """Seconds until one more request (a batch if ``batch``) fits every window (0: now)."""
        waits = [
            paused_until - now,
            window_wait(done, in_flight, self.per_minute, self.minute, now),
            window_wait(done, in_flight, self.per_second, self.second, now),
        ]
        if batch:
            waits.append(
                window_wait(batches_done, batches_in_flight, self.batch_per_minute, self.minute, now)
            )
        return max(0.0, *waits)


class WindowLimits:
    """The limits of one API account as attributes (``None``: not enforced) and their :class:`Windows`:
    the common base of the in-process and the database-backed limiter."""

    def __init__(
        self,
        per_minute: int,
        per_second: int | None,
        max_concurrent: int | None,
        batch_per_minute: int | None,
        time_scale: float,
        margin: float,
        jitter_s: float,
    ) -> None:
        if min(x for x in (per_minute, per_second, max_concurrent, batch_per_minute) if x is not None) < 1:
            raise ValueError("limits must be >= 1")
        minute = 60.0 * time_scale * (1 + margin) + jitter_s  # widened against clock-rate differences
        second = 1.0 * time_scale * (1 + margin) + jitter_s
        self._windows = Windows(per_minute, per_second, batch_per_minute, minute, second)
        self.per_minute = per_minute
        self.per_second = per_second
        self.max_concurrent = max_concurrent
        self.batch_per_minute = batch_per_minute
        self.time_scale = time_scale


class SlidingWindowLimiter(WindowLimits):
    """Keeps one API account under per-minute / per-second / batch-per-minute caps and a concurrency gate.

    A limit of ``None`` is not enforced (Rev.io has only its per-minute cap).

    Sliding windows that hold every request from its admission until ``window`` after its *completion*:
    the server stamps a request somewhere between our send and our receipt of the answer, so counting it
    until completion + window can never put more requests in one of the server's windows than allowed,
    whatever the network or scheduling jitter (it costs one round trip per window during bursts; the
    500/min cap binds before 10/s does in sustained runs anyway). ``time_scale`` multiplies the window
    lengths (0.01 turns the 60 s window into 0.6 s, matching a sandbox with the same time_scale);
    ``margin`` (a fraction) and ``jitter_s`` widen them against clock-rate differences. Thread-safe.
    """

    def __init__(
        self,
        per_minute: int,
        per_second: int | None = None,
        max_concurrent: int | None = None,
        batch_per_minute: int | None = None,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        margin: float = 0.02,
        jitter_s: float = 0.005,
    ) -> None:
        super().__init__(
            per_minute, per_second, max_concurrent, batch_per_minute, time_scale, margin, jitter_s
        )
        self._clock = clock
        self._done: deque[float] = deque()  # completion times of the last minute's requests (sorted)
        self._batches_done: deque[float] = deque()
        self._in_flight = 0
        self._batches_in_flight = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()
        self.stats = LimiterStats()

    # -- window arithmetic (call with the lock held) -------------------------------------------------

    def _prune(self, now: float) -> None:
        for window in (self._done, self._batches_done):
            while window and window[0] <= now - self._windows.minute:
                window.popleft()

    def _delay(self, now: float, batch: bool) -> float:
        """Seconds until a request fits every window (0 = now); ignores the concurrency gate."""
        self._prune(now)
        return self._windows.delay(
            now,
            self._paused_until,
            self._done,
            self._in_flight,
            self._batches_done,
            self._batches_in_flight,
            batch,
        )

    def _slot_free(self) -> bool:
        return self.max_concurrent is None or self._in_flight < self.max_concurrent

    def _admit(self, batch: bool) -> None:
        self._in_flight += 1
        if batch:
            self._batches_in_flight += 1
            self.stats.batches += 1
        self.stats.requests += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)

    # -- public API -----------------------------------------------------------------------------------

    def wait_time(self, batch: bool = False) -> float:
        """Seconds a request would wait for the rate windows now (0: it fits; inf: until one completes)."""
        with self._cond:
            return self._delay(self._clock(), batch)

    def try_acquire(self, batch: bool = False) -> bool:
        """Take a slot without waiting; pair a True result with :meth:`release` (same ``batch``)."""
        with self._cond:
            now = self._clock()
            if not self._slot_free() or self._delay(now, batch) > 0:
                return False
            self._admit(batch)
            return True

    def release(self, batch: bool = False) -> None:
        """Complete a request from :meth:`try_acquire` / :meth:`acquire`; it now ages out of the windows."""
        with self._cond:
            now = self._clock()
            if self._in_flight > 0:
                self._in_flight -= 1
                self._done.append(now)
            if batch and self._batches_in_flight > 0:
                self._batches_in_flight -= 1
                self._batches_done.append(now)
            self._cond.notify_all()

    @contextmanager
    def acquire(self, batch: bool = False) -> Iterator[None]:
        """Block until the request fits every window and a concurrency slot is free; hold the slot."""
        started = time.monotonic()
        waited = False
        with self._cond:
            while True:
                delay = self._delay(self._clock(), batch)
                if delay <= 0 and self._slot_free():
                    self._admit(batch)
                    break
                waited = True
                # Woken early by release()/penalize(); no timeout when only a completion can help.
                self._cond.wait(timeout=delay if 0 < delay < math.inf else None)
            if waited:
                self.stats.waited_since(started)
        try:
            yield
        finally:
            self.release(batch)

    def penalize(self, seconds: float) -> None:
        """Pause every caller for ``seconds`` (real seconds, e.g. a 429's Retry-After)."""
        with self._cond:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))
            self.stats.penalties += 1
            self._cond.notify_all()

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def snapshot(self) -> dict[str, Any]:
        """The counters as a plain dict (for benchmark output)."""
        with self._cond:
            return {**self.stats.__dict__, "in_flight": self._in_flight}


class QBORateLimiter(SlidingWindowLimiter):
    """One QBO realm: 500/min, 10/s, 10 in flight, 40 batches/min (all configurable)."""

    def __init__(
        self,
        per_minute: int = 500,
        per_second: int = 10,
        max_concurrent: int = 10,
        batch_per_minute: int = 40,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        margin: float = 0.02,
        jitter_s: float = 0.005,
    ) -> None:
        super().__init__(
            per_minute,
            per_second,
            max_concurrent,
            batch_per_minute,
            time_scale,
            clock,
            margin=margin,
            jitter_s=jitter_s,
        )


class RevioRateLimiter(SlidingWindowLimiter):
    """One Rev.io account (tenant): 500 calls/min, no per-second or concurrency cap of its own."""

    def __init__(
        self,
        per_minute: int = 500,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_concurrent: int | None = None,
        margin: float = 0.02,
        jitter_s: float = 0.005,
    ) -> None:
        super().__init__(
            per_minute,
            max_concurrent=max_concurrent,
            time_scale=time_scale,
            clock=clock,
            margin=margin,
            jitter_s=jitter_s,
        )


_registry: dict[tuple[str, str], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()

L = TypeVar("L", bound=SlidingWindowLimiter)


def _registered(key: tuple[str, str], kind: type[L], limits: dict[str, Any]) -> L:
    with _registry_lock:
        limiter = _registry.get(key)
        if not isinstance(limiter, kind):
            limiter = kind(**limits)
            _registry[key] = limiter
        return limiter


def limiter_for(realm_id: str, **limits: Any) -> QBORateLimiter:
    """The process-wide limiter of QBO realm ``realm_id`` (created with ``limits`` on first use, shared
    afterwards)."""
    return _registered(("qbo", realm_id), QBORateLimiter, limits)


def revio_tenant(base_url: str, client_code: str) -> str:
    """The key of one Rev.io account: API root (without ``/v1``, lower-case) + client code."""
    root = base_url.strip().rstrip("/")
    if root.lower().endswith("/v1"):
        root = root[:-3]
    return f"{root.lower()}|{client_code.strip().lower()}"


def revio_limiter_for(base_url: str, client_code: str, **limits: Any) -> RevioRateLimiter:
    """The process-wide limiter of one Rev.io tenant (base URL + client code), shared by every client of it
    (reads and the write-back threads alike); ``limits`` apply on first use (e.g. ``time_scale``)."""
    return _registered(("revio", revio_tenant(base_url, client_code)), RevioRateLimiter, limits)


def reset_limiters() -> None:
    """Forget every registered limiter (tests, benchmarks)."""
    with _registry_lock:
        _registry.clear()
