"""Client-side QBO throttle: sliding windows + a concurrency gate, one limiter per realm."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class LimiterStats:
    """Counters for benchmarks: admitted requests/batches, how often and how long callers waited."""

    requests: int = 0
    batches: int = 0
    waits: int = 0
    total_wait_s: float = 0.0
    penalties: int = 0
    max_in_flight: int = 0


class QBORateLimiter:
    """Keeps one realm under QBO's limits: 500/min, 10/s, 10 in flight, 40 batches/min (all configurable).

    Windows are sliding (timestamps of admitted requests). ``time_scale`` multiplies the window lengths
    (0.01 turns the 60 s window into 0.6 s, matching a sandbox run with the same time_scale).
    Windows are stamped when a request is admitted, but the server stamps its arrival; ``margin``
    (a fraction) and ``jitter_s`` (seconds) widen each window so requests admitted at a window's edge
    still land outside the server's window despite scheduling and network jitter. Thread-safe.
    """

    def __init__(
        self,
        per_minute: int = 500,
        per_second: int = 10,
        max_concurrent: int = 10,
        batch_per_minute: int = 40,
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        margin: float = 0.1,
        jitter_s: float = 0.025,
    ) -> None:
        if min(per_minute, per_second, max_concurrent, batch_per_minute) < 1:
            raise ValueError("limits must be >= 1")
        self.per_minute = per_minute
        self.per_second = per_second
        self.max_concurrent = max_concurrent
        self.batch_per_minute = batch_per_minute
        self.time_scale = time_scale
        self._clock = clock
        self._minute = 60.0 * time_scale * (1 + margin) + jitter_s
        self._second = 1.0 * time_scale * (1 + margin) + jitter_s
        self._all: deque[float] = deque()  # last minute of requests (the 1 s window is its tail)
        self._batches: deque[float] = deque()
        self._in_flight = 0
        self._paused_until = 0.0
        self._cond = threading.Condition()
        self.stats = LimiterStats()

    # -- window arithmetic (call with the lock held) -------------------------------------------------

    def _prune(self, now: float) -> None:
        for window, length in ((self._all, self._minute), (self._batches, self._minute)):
            while window and window[0] <= now - length:
                window.popleft()

    def _delay(self, now: float, batch: bool) -> float:
        """Seconds until a request fits every window (0 = now); ignores the concurrency gate."""
        self._prune(now)
        waits = [self._paused_until - now]
        if len(self._all) >= self.per_minute:
            waits.append(self._all[-self.per_minute] + self._minute - now)
        if len(self._all) >= self.per_second:
            waits.append(self._all[-self.per_second] + self._second - now)
        if batch and len(self._batches) >= self.batch_per_minute:
            waits.append(self._batches[-self.batch_per_minute] + self._minute - now)
        return max(0.0, *waits)

    def _admit(self, now: float, batch: bool) -> None:
        self._all.append(now)
        if batch:
            self._batches.append(now)
            self.stats.batches += 1
        self.stats.requests += 1
        self._in_flight += 1
        self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)

    # -- public API -----------------------------------------------------------------------------------

    def wait_time(self, batch: bool = False) -> float:
        """Seconds a request would wait for the rate windows right now (0 when it fits)."""
        with self._cond:
            return self._delay(self._clock(), batch)

    def try_acquire(self, batch: bool = False) -> bool:
        """Take a slot without waiting; pair a True result with :meth:`release`."""
        with self._cond:
            now = self._clock()
            if self._in_flight >= self.max_concurrent or self._delay(now, batch) > 0:
                return False
            self._admit(now, batch)
            return True

    def release(self) -> None:
        """Give back the concurrency slot taken by :meth:`try_acquire` / :meth:`acquire`."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify_all()

    @contextmanager
    def acquire(self, batch: bool = False) -> Iterator[None]:
        """Block until the request fits every window and a concurrency slot is free; hold the slot."""
        started = time.monotonic()
        waited = False
        with self._cond:
            while True:
                now = self._clock()
                delay = self._delay(now, batch)
                if delay <= 0 and self._in_flight < self.max_concurrent:
                    self._admit(now, batch)
                    break
                waited = True
                # Woken early by release()/penalize(); a delay of 0 means only the gate is full.
                self._cond.wait(timeout=delay if delay > 0 else None)
            if waited:
                self.stats.waits += 1
                self.stats.total_wait_s += time.monotonic() - started
        try:
            yield
        finally:
            self.release()

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


_registry: dict[str, QBORateLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(realm_id: str, **limits: Any) -> QBORateLimiter:
    """The process-wide limiter of ``realm_id`` (created with ``limits`` on first use, shared afterwards)."""
    with _registry_lock:
        limiter = _registry.get(realm_id)
        if limiter is None:
            limiter = _registry[realm_id] = QBORateLimiter(**limits)
        return limiter


def reset_limiters() -> None:
    """Forget every registered limiter (tests)."""
    with _registry_lock:
        _registry.clear()
