"""Per-realm throttling in simulated time: per-minute, per-second, batch-per-minute and concurrency."""

from __future__ import annotations

import threading
from collections import deque

from revqb_sandbox.qbo.common import Clock
from revqb_sandbox.qbo.settings import QBOSandboxSettings

_PEAKS = ("peak_per_second", "peak_per_minute", "peak_batches_per_minute")


class Throttle:
    """Sliding windows per realm. ``admit`` returns None or the name of the limit that was hit."""

    def __init__(self, settings: QBOSandboxSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._minute: dict[str, deque[float]] = {}
        self._second: dict[str, deque[float]] = {}
        self._batch: dict[str, deque[float]] = {}
        self._peaks: dict[str, dict[str, int]] = {}

    def reset(self) -> None:
        """Forget all windows and peaks."""
        with self._lock:
            self._minute.clear()
            self._second.clear()
            self._batch.clear()
            self._peaks.clear()

    def peaks(self, realm_id: str) -> dict[str, int]:
        """The most requests admitted within one (simulated) second and minute, and batches per minute."""
        with self._lock:
            return dict(self._peaks.get(realm_id) or dict.fromkeys(_PEAKS, 0))

    @staticmethod
    def _trim(window: deque[float], now: float, span: float) -> None:
        while window and now - window[0] >= span:
            window.popleft()

    def admit(self, realm_id: str, in_flight: int, is_batch: bool) -> str | None:
        """Record the request if it is within every limit; else name the exceeded limit."""
        s = self.settings
        with self._lock:
            now = self.clock.sim()
            minute = self._minute.setdefault(realm_id, deque())
            second = self._second.setdefault(realm_id, deque())
            batch = self._batch.setdefault(realm_id, deque())
            self._trim(minute, now, 60.0)
            self._trim(second, now, 1.0)
            self._trim(batch, now, 60.0)
            if in_flight > s.max_concurrent:
                return "concurrency"
            if len(second) >= s.per_second:
                return "per_second"
            if len(minute) >= s.per_minute:
                return "per_minute"
            if is_batch and len(batch) >= s.batch_per_minute:
                return "batch_per_minute"
            minute.append(now)
            second.append(now)
            if is_batch:
                batch.append(now)
            peaks = self._peaks.setdefault(realm_id, dict.fromkeys(_PEAKS, 0))
            for name, window in zip(_PEAKS, (second, minute, batch), strict=True):
                peaks[name] = max(peaks[name], len(window))
            return None
