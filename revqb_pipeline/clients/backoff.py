"""Retry delays shared by the API clients: exponential, capped, with jitter."""

from __future__ import annotations

import random

MAX_BACKOFF_S = 60.0


def backoff_delay(base_s: float, attempt: int) -> float:
    """Delay before retry ``attempt`` (1-based): ``base_s * 2**(attempt-1)`` capped at 60 s, jittered."""
    base = min(MAX_BACKOFF_S, base_s * 2 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0) + base * 0.5 * random.random()
