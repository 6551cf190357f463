"""Limits that hold across processes (issue 13): the database-backed limiter and the OAuth refresh lock.

Several OS processes (multiprocessing spawn) share one QBO realm through the staging database, on SQLite
and on PostgreSQL; the QBO sandbox, not the client, counts what reached it: 0 429s and every peak (per
second, per minute, batches per minute, concurrency) inside the realm's limits. A control run with one
in-process limiter per process shows the same load does get throttled.
"""

from __future__ import annotations

import multiprocessing
import queue
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.models.tokens import MemoryTokenStore
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.limits import DbRateLimiter
from revqb_pipeline.staging.tokens import SqlTokenStore
from revqb_pipeline_tests.staging._shared_workers import (
    LoadPlan,
    RevioPlan,
    refresh_token,
    send_load,
    send_revio_load,
)
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.revio.app import create_app as create_revio_app
from revqb_sandbox.revio.settings import RevioSandboxSettings

pytestmark = pytest.mark.slow

PROCESSES = 5
THREADS = 3  # 15 callers for 10 concurrency slots
CALLS = 8  # per thread: 1 batch + 7 queries -> 120 requests, 15 batches
# The realm's limits, in simulated time; the minute and batch caps are lowered so a short run crosses them.
LIMITS = {"per_minute": 60, "per_second": 10, "max_concurrent": 10, "batch_per_minute": 10}
TIME_SCALE = 0.05  # one simulated minute = 3 s

SPAWN = multiprocessing.get_context("spawn")


def _sandbox(**kw: Any) -> tuple[ServedApp, QBOSandboxSettings]:
    settings = QBOSandboxSettings(realm_id=f"9341{uuid.uuid4().int % 10**12:012d}", empty=True, **kw)
    return serve_app(create_app(settings)), settings


def _stats(served: ServedApp, realm_id: str) -> dict[str, Any]:
    return httpx.get(f"{served.url}/_admin/stats").json()["realms"][realm_id]


@pytest.fixture
def qbo_realm() -> Iterator[tuple[ServedApp, QBOSandboxSettings, str]]:
    """A QBO sandbox with the realm's limits at TIME_SCALE and some latency; a valid access token."""
    served, settings = _sandbox(time_scale=TIME_SCALE, request_latency_s=0.5, **LIMITS)
    store = MemoryTokenStore()
    oauth = OAuthClient(
        f"{served.url}/oauth2/v1/tokens/bearer",
        settings.client_id,
        settings.client_secret,
        store,
        settings.realm_id,
    )
    oauth.bootstrap(settings.initial_refresh_token)
    token = oauth.access_token()
    oauth.close()
    yield served, settings, token
    served.stop()


def _run_load(served: ServedApp, settings: QBOSandboxSettings, token: str, db_url: str | None) -> list[Any]:
    plan = LoadPlan(
        served.url, settings.realm_id, token, db_url, {**LIMITS, "time_scale": TIME_SCALE}, THREADS, CALLS
    )
    return _spawn(send_load, plan, PROCESSES)


def _spawn(target: Any, plan: Any, processes: int) -> list[Any]:
    """Run ``target(plan, barrier, results)`` in ``processes`` spawned processes; their results."""
    barrier, results = SPAWN.Barrier(processes), SPAWN.Queue()
    procs = [SPAWN.Process(target=target, args=(plan, barrier, results)) for _ in range(processes)]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=90) for _ in procs]
    except queue.Empty:  # pragma: no cover - reported by the assertion
        out = []
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():  # pragma: no cover
            p.terminate()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return out


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_processes_sharing_the_db_limiter_stay_inside_the_realm_limits(
    qbo_realm: tuple[ServedApp, QBOSandboxSettings, str], backend: str, request: pytest.FixtureRequest
) -> None:
    served, settings, token = qbo_realm
    db_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    create_schema(make_engine(db_url))
    before = _stats(served, settings.realm_id)
    results = _run_load(served, settings, token, db_url)
    assert [r[1] for r in results] == [[]] * PROCESSES  # no process saw an error
    assert sum(r[0] for r in results) == PROCESSES * THREADS * CALLS
    stats = _stats(served, settings.realm_id)
    assert stats["requests"] - before["requests"] == PROCESSES * THREADS * CALLS
    assert stats["throttled_429"] == 0, stats
    assert stats["peak_per_second"] <= LIMITS["per_second"], stats
    assert stats["peak_per_minute"] <= LIMITS["per_minute"], stats
    assert stats["peak_batches_per_minute"] <= LIMITS["batch_per_minute"], stats
    assert stats["peak_concurrency"] <= LIMITS["max_concurrent"], stats
    # the run pressed against the limits (else the test would prove nothing)
    assert stats["peak_per_minute"] >= LIMITS["per_minute"] - 5, stats
    assert stats["peak_batches_per_minute"] == LIMITS["batch_per_minute"], stats


def test_processes_sharing_a_revio_tenant_stay_inside_its_minute_window(sqlite_url: str) -> None:
    per_minute, time_scale = 20, 0.05  # 20 calls per 3 s; 3 processes x 2 threads x 10 calls = 60 calls
    settings = RevioSandboxSettings(customers=3, months=1, rate_per_minute=per_minute, time_scale=time_scale)
    served = serve_app(create_revio_app(settings))
    try:
        create_schema(make_engine(sqlite_url))
        s = served.app.state.sandbox.settings
        limits = {"per_minute": per_minute, "time_scale": time_scale}
        plan = RevioPlan(
            served.url, s.client_code, s.login, s.password, s.subscription_key, sqlite_url, limits, 2, 10
        )
        results = _spawn(send_revio_load, plan, 3)
        assert [r for r in results] == [(20, [])] * 3
        stats = httpx.get(f"{served.url}/_admin/summary").json()["rate_limit"]
        assert stats["throttled_429"] == 0 and stats["admitted"] == 60, stats
        assert stats["peak_per_minute"] == per_minute, stats  # pressed against, never over
    finally:
        served.stop()


def test_the_same_load_with_per_process_limiters_is_throttled(
    qbo_realm: tuple[ServedApp, QBOSandboxSettings, str],
) -> None:
    served, settings, token = qbo_realm
    results = _run_load(served, settings, token, None)
    stats = _stats(served, settings.realm_id)
    assert stats["throttled_429"] > 0 and any(r[1] for r in results), stats


def test_a_dead_process_slot_is_freed_when_its_lease_expires(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    limiter = DbRateLimiter(engine, "qbo:lease", per_minute=100, max_concurrent=1, lease_s=0.3)
    admitted = limiter._try_admit(batch=False)  # taken and never released: its process "died"
    assert admitted[0] is not None
    assert limiter._try_admit(batch=False) == (None, float("inf"))
    other = DbRateLimiter(engine, "qbo:lease", per_minute=100, max_concurrent=1, lease_s=0.3)
    with other.acquire():  # waits for the lease, then gets the slot
        pass
    assert other.stats.waits == 1 and other.stats.total_wait_s >= 0.2


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_processes_refreshing_at_once_make_one_refresh_and_keep_the_rotated_token(
    backend: str, request: pytest.FixtureRequest
) -> None:
    # grace 0: a rotated-out refresh token dies at once, so a lost rotation could not be hidden
    served, settings = _sandbox(refresh_grace_s=0)
    try:
        db_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
        engine = make_engine(db_url)
        create_schema(engine)
        key = Fernet.generate_key().decode()
        store = SqlTokenStore(engine, key)
        store.seed(settings.realm_id, settings.initial_refresh_token)
        token_url = f"{served.url}/oauth2/v1/tokens/bearer"
        # a slow token endpoint: without the lock both processes would be refreshing at once
        slow = {"kind": "slow", "delay_s": 0.5, "count": 2, "path_regex": "/oauth2/v1/tokens/bearer"}
        httpx.post(f"{served.url}/_admin/faults", json=[slow]).raise_for_status()
        args = (token_url, settings.client_id, settings.client_secret, settings.realm_id, db_url, key)
        barrier, results = SPAWN.Barrier(2), SPAWN.Queue()
        procs = [SPAWN.Process(target=refresh_token, args=(*args, barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        out = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(timeout=10)
        assert [o[0] for o in out] == ["ok", "ok"], out
        assert out[0][1] == out[1][1]  # the second process used the first one's token
        assert sorted(o[2] for o in out) == [0, 1]  # one refresh, by one of them
        assert _stats(served, settings.realm_id)["oauth_refreshes"] == 1
        # the stored (rotated) refresh token is the live one: it refreshes again
        stored = store.load(settings.realm_id)
        assert stored is not None and stored.refresh_token != settings.initial_refresh_token
        oauth = OAuthClient(token_url, settings.client_id, settings.client_secret, store, settings.realm_id)
        assert oauth.refresh().access_token
        assert _stats(served, settings.realm_id)["oauth_refreshes"] == 2
    finally:
        served.stop()
