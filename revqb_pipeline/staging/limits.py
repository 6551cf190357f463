"""A rate limiter whose state lives in the staging database, shared by every process and machine.

Each API account is a *bucket* (``qbo:<realm>``, ``revio:<tenant>``): one row in ``rate_limit_buckets``
(the lock, and a 429 pause) and one row per request in ``rate_limit_slots`` (admitted, done, lease).
Admission runs in one transaction that holds the bucket: ``SELECT ... FOR UPDATE`` of its row on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite. Inside it the same window arithmetic as the in-process
:class:`~revqb_pipeline.clients.ratelimit.SlidingWindowLimiter` decides (a request counts from admission
until ``window`` after its completion), so N processes together stay inside the limits one process keeps.
A slot held by a process that died is released when its lease expires (``lease_s``, longer than any
request may take). Time is the database server's clock on PostgreSQL (one clock for every machine) and
the local clock on SQLite (one machine). Waiting is polling (no cross-process wake-up): short sleeps up to
``poll_max_s`` while only a completion can free a slot, else exactly until the window admits.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from revqb_pipeline.clients.ratelimit import (
    LimiterStats,
    RateLimiter,
    WindowLimits,
    limiter_for,
    revio_limiter_for,
    revio_tenant,
)
from revqb_pipeline.staging._sql import dialect_insert
from revqb_pipeline.staging.db import rate_limit_buckets, rate_limit_slots, write_begin

log = logging.getLogger(__name__)

__all__ = [
    "LIMITER_MODES",
    "DbRateLimiter",
    "db_qbo_limiter",
    "db_revio_limiter",
    "limiter_mode",
    "qbo_limiter",
    "reset_db_limiters",
    "revio_limiter",
]

#: REVQB_LIMITER: ``db`` (state in the staging database, every process together), ``process`` (each
#: process alone), ``auto`` (``db`` on PostgreSQL, a shared deployment; ``process`` on SQLite).
LIMITER_MODES = ("auto", "db", "process")


class DbRateLimiter(WindowLimits):
    """The limits of one bucket, enforced through the database for every process that uses it.

    Same limits, window widths and arithmetic (:class:`~revqb_pipeline.clients.ratelimit.Windows`) as
    :class:`~revqb_pipeline.clients.ratelimit.SlidingWindowLimiter` (``time_scale``, ``margin``,
    ``jitter_s``); ``None`` leaves a limit unenforced. Thread-safe (each call uses its own connection).
    """

    def __init__(
        self,
        engine: Engine,
        bucket: str,
        per_minute: int,
        per_second: int | None = None,
        max_concurrent: int | None = None,
        batch_per_minute: int | None = None,
        time_scale: float = 1.0,
        *,
        margin: float = 0.02,
        jitter_s: float = 0.005,
        lease_s: float = 120.0,
        poll_max_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            per_minute, per_second, max_concurrent, batch_per_minute, time_scale, margin, jitter_s
        )
        self.engine = engine
        self.bucket = bucket
        self.lease_s = lease_s
        self._poll_max = poll_max_s
        self._sleep = sleep
        self._pg = engine.dialect.name == "postgresql"
        self._owner = f"{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stats_lock = threading.Lock()
        self._local_in_flight = 0
        self.stats = LimiterStats()
        self._ensure_bucket()

    def __repr__(self) -> str:
        return f"DbRateLimiter({self.bucket!r}, {self.engine.url.render_as_string(hide_password=True)})"

    # -- SQL -------------------------------------------------------------------------------------------

    def _ensure_bucket(self) -> None:
        stmt = dialect_insert(self.engine.dialect.name, rate_limit_buckets).on_conflict_do_nothing(
            index_elements=["bucket"]
        )
        with write_begin(self.engine) as conn:
            conn.execute(stmt, [{"bucket": self.bucket, "paused_until": 0.0}])

    def _now_expr(self) -> sa.ColumnElement[float]:
        """The current time: the PostgreSQL server's clock (shared by every machine), else this machine's."""
        if self._pg:
            return sa.literal_column("extract(epoch from clock_timestamp())", sa.Double)
        return sa.literal(time.time(), sa.Double)

    def _begin(self, conn: Connection) -> None:
        if self._pg:  # limiter state lost in a server crash is harmless: do not wait for the WAL flush
            conn.execute(sa.text("set local synchronous_commit = off"))

    def _lock_bucket(self, conn: Connection) -> tuple[float, float]:
        """Hold the bucket for this transaction; its ``paused_until`` and the current time.

        The time may be read before a wait for the lock ends: a time too early only makes the windows
        look fuller (a longer wait), never emptier.
        """
        b = rate_limit_buckets
        query = (
            sa.select(b.c.paused_until, self._now_expr()).where(b.c.bucket == self.bucket).with_for_update()
        )
        paused_until, now = conn.execute(query).one()
        return float(paused_until), float(now)

    def _try_admit(self, batch: bool) -> tuple[int | None, float]:
        """One admission attempt: ``(slot id, 0)`` when admitted, else ``(None, seconds to wait)``."""
        s = rate_limit_slots
        with write_begin(self.engine) as conn:
            self._begin(conn)
            paused_until, now = self._lock_bucket(conn)
            # a dead process's slots: completed at their lease's end; then forget what left every window
            conn.execute(
                s.update()
                .where(s.c.bucket == self.bucket, s.c.done_at.is_(None), s.c.lease_until < now)
                .values(done_at=s.c.lease_until)
            )
            conn.execute(
                s.delete().where(s.c.bucket == self.bucket, s.c.done_at <= now - self._windows.minute)
            )
            rows = conn.execute(
                sa.select(s.c.done_at, s.c.batch).where(s.c.bucket == self.bucket).order_by(s.c.done_at)
            ).all()
            done = [r.done_at for r in rows if r.done_at is not None]
            in_flight = len(rows) - len(done)
            batches_done = [r.done_at for r in rows if r.done_at is not None and r.batch]
            batches_in_flight = sum(1 for r in rows if r.done_at is None and r.batch)
            delay = self._windows.delay(
                now, paused_until, done, in_flight, batches_done, batches_in_flight, batch
            )
            if self.max_concurrent is not None and in_flight >= self.max_concurrent:
                delay = max(delay, math.inf)
            if delay > 0:
                return None, delay
            slot_id = conn.execute(
                s.insert()
                .values(
                    bucket=self.bucket,
                    batch=batch,
                    admitted_at=now,
                    lease_until=now + self.lease_s,
                    owner=self._owner,
                )
                .returning(s.c.id)
            ).scalar_one()
            return int(slot_id), 0.0

    def _complete(self, slot_id: int) -> None:
        s = rate_limit_slots
        with write_begin(self.engine) as conn:
            self._begin(conn)
            done = s.update().where(s.c.id == slot_id, s.c.done_at.is_(None)).values(done_at=self._now_expr())
            conn.execute(done)

    # -- the RateLimiter protocol -------------------------------------------------------------------------

    @contextmanager
    def acquire(self, batch: bool = False) -> Iterator[None]:
        """Block until the request fits every window of the bucket and a concurrency slot is free."""
        started = time.monotonic()
        poll = 0.002
        waited = False
        while True:
            slot_id, delay = self._try_admit(batch)
            if slot_id is not None:
                break
            waited = True
            if math.isinf(delay):  # only a completion (anywhere) frees a slot: poll, backing off
                pause = poll * random.uniform(0.5, 1.5)
                poll = min(self._poll_max, poll * 2)
            else:
                pause = delay
            self._sleep(pause)
        with self._stats_lock:
            self.stats.requests += 1
            self.stats.batches += int(batch)
            self._local_in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._local_in_flight)
            if waited:
                self.stats.waited_since(started)
        try:
            yield
        finally:
            with self._stats_lock:
                self._local_in_flight -= 1
            self._complete(slot_id)

    def penalize(self, seconds: float) -> None:
        """Pause every caller of the bucket, in every process, for ``seconds`` (real seconds)."""
        b = rate_limit_buckets
        with write_begin(self.engine) as conn:
            paused_until, now = self._lock_bucket(conn)
            until = max(paused_until, now + max(0.0, seconds))
            conn.execute(b.update().where(b.c.bucket == self.bucket).values(paused_until=until))
        with self._stats_lock:
            self.stats.penalties += 1

    def snapshot(self) -> dict[str, Any]:
        """This process's counters as a plain dict (for benchmark output)."""
        with self._stats_lock:
            return {**self.stats.__dict__, "in_flight": self._local_in_flight}


# -- factories, one limiter object per (database, bucket) and process ------------------------------------

_registry: dict[tuple[str, str], DbRateLimiter] = {}
_registry_lock = threading.Lock()


def _registered(engine: Engine, bucket: str, limits: dict[str, Any]) -> DbRateLimiter:
    key = (engine.url.render_as_string(hide_password=False), bucket)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = DbRateLimiter(engine, bucket, **limits)
            _registry[key] = limiter
        return limiter


def db_qbo_limiter(engine: Engine, realm_id: str, **limits: Any) -> DbRateLimiter:
    """QBO realm ``realm_id`` through the database: 500/min, 10/s, 10 concurrent, 40 batches/min."""
    defaults = {"per_minute": 500, "per_second": 10, "max_concurrent": 10, "batch_per_minute": 40}
    return _registered(engine, f"qbo:{realm_id}", {**defaults, **limits})


def db_revio_limiter(engine: Engine, base_url: str, client_code: str, **limits: Any) -> DbRateLimiter:
    """One Rev.io tenant (base URL + client code) through the database: 500 calls/min."""
    return _registered(engine, f"revio:{revio_tenant(base_url, client_code)}", {"per_minute": 500, **limits})


def reset_db_limiters() -> None:
    """Forget the limiter objects of this process (tests); the database keeps the buckets' state."""
    with _registry_lock:
        _registry.clear()


def limiter_mode(mode: str, engine: Engine) -> str:
    """``db`` or ``process`` for a REVQB_LIMITER value (``auto``: ``db`` on PostgreSQL, else ``process``)."""
    mode = (mode or "auto").strip().lower()
    if mode not in LIMITER_MODES:
        raise ValueError(f"REVQB_LIMITER: {mode!r} is not one of {', '.join(LIMITER_MODES)}")
    if mode == "auto":
        return "db" if engine.dialect.name == "postgresql" else "process"
    return mode


def qbo_limiter(mode: str, engine: Engine, realm_id: str) -> RateLimiter:
    """The limiter of QBO realm ``realm_id`` for REVQB_LIMITER ``mode``."""
    if limiter_mode(mode, engine) == "db":
        return db_qbo_limiter(engine, realm_id)
    return limiter_for(realm_id)


def revio_limiter(mode: str, engine: Engine, base_url: str, client_code: str) -> RateLimiter:
    """The limiter of one Rev.io tenant for REVQB_LIMITER ``mode``."""
    if limiter_mode(mode, engine) == "db":
        return db_revio_limiter(engine, base_url, client_code)
    return revio_limiter_for(base_url, client_code)
