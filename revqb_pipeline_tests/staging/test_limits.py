"""DbRateLimiter without a sandbox: two limiter objects (as two processes would) share only the database."""

from __future__ import annotations

import time

import pytest

from revqb_pipeline.clients.ratelimit import QBORateLimiter, RevioRateLimiter, reset_limiters
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.limits import (
    DbRateLimiter,
    limiter_mode,
    qbo_limiter,
    reset_db_limiters,
    revio_limiter,
)


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()
    reset_db_limiters()
    reset_limiters()


def test_two_limiters_of_one_tenant_share_the_minute_window(engine) -> None:  # type: ignore[no-untyped-def]
    a = DbRateLimiter(engine, "revio:t", per_minute=5, time_scale=0.02)  # a minute = 1.2 s
    b = DbRateLimiter(engine, "revio:t", per_minute=5, time_scale=0.02)
    other = DbRateLimiter(engine, "revio:other", per_minute=5, time_scale=0.02)
    started = time.monotonic()
    for n in range(5):
        with (a if n % 2 else b).acquire():
            pass
    assert time.monotonic() - started < 1.0
    with other.acquire():  # another tenant has its own window
        pass
    assert other.stats.waits == 0
    with a.acquire():  # the sixth call of the tenant waits for the first to leave the window
        pass
    assert a.stats.waits == 1 and time.monotonic() - started >= 1.2


def test_a_penalty_pauses_every_limiter_of_the_bucket(engine) -> None:  # type: ignore[no-untyped-def]
    a = DbRateLimiter(engine, "qbo:p", per_minute=100)
    b = DbRateLimiter(engine, "qbo:p", per_minute=100)
    a.penalize(0.4)
    started = time.monotonic()
    with b.acquire():
        pass
    assert time.monotonic() - started >= 0.35 and a.stats.penalties == 1


def test_concurrency_slots_are_shared_and_freed_on_release(engine) -> None:  # type: ignore[no-untyped-def]
    a = DbRateLimiter(engine, "qbo:c", per_minute=100, max_concurrent=1)
    b = DbRateLimiter(engine, "qbo:c", per_minute=100, max_concurrent=1)
    with a.acquire():
        assert b._try_admit(batch=False) == (None, float("inf"))
    slot, wait = b._try_admit(batch=False)
    assert slot is not None and wait == 0


def test_limiter_mode_and_factories(engine) -> None:  # type: ignore[no-untyped-def]
    pg = engine.dialect.name == "postgresql"
    assert limiter_mode("auto", engine) == ("db" if pg else "process")
    assert limiter_mode("DB", engine) == "db" and limiter_mode("process", engine) == "process"
    with pytest.raises(ValueError, match="REVQB_LIMITER"):
        limiter_mode("redis", engine)
    assert isinstance(qbo_limiter("process", engine, "r1"), QBORateLimiter)
    shared = qbo_limiter("db", engine, "r1")
    assert isinstance(shared, DbRateLimiter) and shared.bucket == "qbo:r1"
    assert qbo_limiter("db", engine, "r1") is shared  # one object per process and bucket
    assert isinstance(revio_limiter("process", engine, "https://x/v1", "c"), RevioRateLimiter)
    tenant = revio_limiter("db", engine, "https://X/v1", "C")
    assert isinstance(tenant, DbRateLimiter) and tenant.bucket == "revio:https://x|c"
    assert tenant.per_minute == 500 and tenant.max_concurrent is None
