"""Shared pieces of the benchmarks: QBO's published limits, printing, sandbox counters."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import httpx

# QBO's per-realm ceilings (docs: shared reference sections 5.3 and 6).
PER_MINUTE = 500
PER_SECOND = 10
MAX_CONCURRENT = 10
BATCH_PER_MINUTE = 40
BATCH_ITEMS = 30


def heading(title: str) -> None:
    """Print a benchmark's title line."""
    print(f"\n== {title} ==", flush=True)


def figure(name: str, value: object, note: str = "") -> None:
    """Print one named figure (the smoke test looks for these names)."""
    if isinstance(value, bool):
        text: object = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:,.3f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = value
    print(f"  {name:<44} {text}{f'   ({note})' if note else ''}", flush=True)


def ratio(a: float, b: float) -> float:
    """``a / b`` (inf when ``b`` is 0 and ``a`` is not, 0 when both are)."""
    if b == 0:
        return 0.0 if a == 0 else math.inf
    return a / b


def limit_minimum_minutes(requests: int, batches: int) -> float:
    """Steady-state minimum minutes QBO's windows allow for this many requests and batch requests.

    Fluid bound (no credit for the first window's burst): max(batches/40, requests/500, requests/600).
    """
    return max(batches / BATCH_PER_MINUTE, requests / PER_MINUTE, requests / (PER_SECOND * 60))


def burst_minimum_minutes(count: int, per_window: int, window_minutes: float = 1.0) -> float:
    """Minimum minutes for ``count`` calls under a window of ``per_window``: the first window is free."""
    return max(0, math.ceil(count / per_window) - 1) * window_minutes if count else 0.0


def limit_burst_minimum_minutes(requests: int, batches: int) -> float:
    """Like :func:`limit_minimum_minutes` but with credit for the first window's burst (a true minimum)."""
    return max(
        burst_minimum_minutes(batches, BATCH_PER_MINUTE),
        burst_minimum_minutes(requests, PER_MINUTE),
        burst_minimum_minutes(requests, PER_SECOND, 1 / 60),
    )


@dataclass
class QBOStats:
    """Counters of one realm from the QBO sandbox's ``GET /_admin/stats``."""

    requests: int = 0
    writes: int = 0
    batches: int = 0
    throttled_429: int = 0
    peak_concurrency: int = 0
    entities: dict[str, int] | None = None

    @classmethod
    def fetch(cls, qbo_url: str, realm_id: str) -> QBOStats:
        realm: dict[str, Any] = (
            httpx.get(f"{qbo_url}/_admin/stats", timeout=30).json()["realms"].get(realm_id, {})
        )
        return cls(
            requests=int(realm.get("requests", 0)),
            writes=int(realm.get("writes", 0)),
            batches=int(realm.get("batch_requests", 0)),
            throttled_429=int(realm.get("throttled_429", 0)),
            peak_concurrency=int(realm.get("peak_concurrency", 0)),
            entities=dict(realm.get("entities") or {}),
        )

    def minus(self, before: QBOStats) -> QBOStats:
        """Counts since ``before`` (peak concurrency is the server's running maximum, kept as is)."""
        ents = {k: v - (before.entities or {}).get(k, 0) for k, v in (self.entities or {}).items()}
        return QBOStats(
            requests=self.requests - before.requests,
            writes=self.writes - before.writes,
            batches=self.batches - before.batches,
            throttled_429=self.throttled_429 - before.throttled_429,
            peak_concurrency=self.peak_concurrency,
            entities={k: v for k, v in ents.items() if v},
        )


class Count429(logging.Handler):
    """Counts the Rev.io client's ``-> 429`` warnings (the Rev.io sandbox keeps no 429 counter)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "-> 429" in record.getMessage():
            self.count += 1


def quiet_logging() -> None:
    """Errors only from revqb and the root logger, no Dagster telemetry: the benchmark prints its own."""
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("revqb").setLevel(logging.ERROR)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
