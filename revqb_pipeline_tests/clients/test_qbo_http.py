"""QBOClient + OAuthClient + QBORateLimiter against the QBO sandbox over real HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from revqb_pipeline.clients.errors import (
    OAuthError,
    QBODuplicateName,
    QBOStaleObject,
    QBOTransportError,
    QBOValidationError,
)
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import BatchOp, QBOClient, quote_value
from revqb_pipeline.clients.ratelimit import QBORateLimiter
from revqb_pipeline.models.tokens import MemoryTokenStore

pytestmark = pytest.mark.slow

qbo_app = pytest.importorskip("revqb_sandbox.qbo.app", reason="QBO sandbox (revqb_sandbox.qbo.app) missing")
from revqb_sandbox.harness import ServedApp, serve_app  # noqa: E402
from revqb_sandbox.qbo.settings import QBOSandboxSettings  # noqa: E402

TIME_SCALE = 0.1  # one simulated second = 0.1 s


@dataclass
class Env:
    served: ServedApp
    settings: QBOSandboxSettings
    store: MemoryTokenStore
    oauth: OAuthClient
    limiter: QBORateLimiter
    qbo: QBOClient

    @property
    def url(self) -> str:
        return self.served.url

    def faults(self, *rules: dict[str, Any]) -> None:
        httpx.post(f"{self.url}/_admin/faults", json=list(rules)).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_admin/stats").json()["realms"][self.settings.realm_id]


def _env(settings: QBOSandboxSettings, **client_kw: Any) -> Env:
    served = serve_app(qbo_app.create_app(settings))
    store = MemoryTokenStore()
    realm = settings.realm_id
    oauth = OAuthClient(
        f"{served.url}/oauth2/v1/tokens/bearer", settings.client_id, settings.client_secret, store, realm
    )
    oauth.bootstrap(settings.initial_refresh_token)
    limiter = QBORateLimiter(time_scale=settings.time_scale)
    client_kw.setdefault("backoff_base_s", 0.01)
    client_kw.setdefault("throttle_backoff_s", 0.2)
    client_kw.setdefault("timeout", 5.0)
    qbo = QBOClient(served.url, realm, oauth, limiter=limiter, **client_kw)
    return Env(served, settings, store, oauth, limiter, qbo)


@pytest.fixture(name="env")
def qbo_env() -> Iterator[Env]:
    """A client against an empty QBO sandbox (imported by test_retry.py too)."""
    e = _env(QBOSandboxSettings(time_scale=TIME_SCALE, empty=True, refresh_grace_s=5))
    yield e
    e.qbo.close()
    e.oauth.close()
    e.served.stop()


def _rid() -> str:
    return str(uuid.uuid4())


def _customers_named(env: Env, name: str) -> list[dict[str, Any]]:
    return env.qbo.query_rows(
        f"SELECT * FROM Customer WHERE DisplayName = {quote_value(name)} AND Active IN (true, false)"
    )


def test_refresh_rotates_and_persists_and_old_token_dies_after_grace(env: Env) -> None:
    first = env.store.load(env.settings.realm_id)
    assert first is not None and first.refresh_token == env.settings.initial_refresh_token
    env.qbo.company_info()
    rotated = env.store.load(env.settings.realm_id)
    assert rotated is not None and rotated.access_token and rotated.refresh_token != first.refresh_token

    # within the grace period the old refresh token still works (another worker with a stale copy)
    def stale() -> OAuthClient:
        store = MemoryTokenStore({env.settings.realm_id: first})
        s = env.settings
        return OAuthClient(env.oauth.token_url, s.client_id, s.client_secret, store, s.realm_id)

    assert stale().refresh().access_token
    time.sleep(5 * TIME_SCALE + 0.2)  # the grace (5 simulated seconds) is over
    with pytest.raises(OAuthError) as info:
        stale().refresh()
    assert info.value.error == "invalid_grant" and info.value.needs_reauth
    # the persisted (rotated) token keeps working
    assert env.oauth.refresh().refresh_token != rotated.refresh_token


def test_401_refreshes_once_then_succeeds(env: Env) -> None:
    env.qbo.preferences()
    refreshes = env.oauth.refresh_count
    httpx.post(f"{env.url}/_admin/oauth/expire-access-tokens").raise_for_status()
    info = env.qbo.company_info()
    assert info["Id"] or info["CompanyName"]
    assert env.oauth.refresh_count == refreshes + 1
    assert env.stats()["status_counts"].get("401") == 1


def test_decimal_round_trip_and_query_escaping(env: Env) -> None:
    name = "O'Brien \\ Sons"
    created = env.qbo.create("Customer", {"DisplayName": name, "Notes": "revio:account:A1"}, _rid())
    assert created["DisplayName"] == name and created["SyncToken"] == "0"
    rows = _customers_named(env, name)
    assert [r["Id"] for r in rows] == [created["Id"]]
    assert env.qbo.count("Customer", f"DisplayName = {quote_value(name)}") == 1
    assert _customers_named(env, "O'Brien") == []
    assert env.qbo.query_rows("SELECT * FROM Customer WHERE DisplayName = 'nobody'") == []
    read = env.qbo.read("Customer", created["Id"])
    assert read["Id"] == created["Id"] and isinstance(read.get("Balance", Decimal(0)), Decimal | int)


def test_query_all_pages_with_small_page_size(env: Env) -> None:
    names = [f"Pager {i:02d}" for i in range(7)]
    for n in names:
        env.qbo.create("Customer", {"DisplayName": n}, _rid())
    got = [c["DisplayName"] for c in env.qbo.query_all("Customer", "DisplayName LIKE 'Pager%'", page_size=3)]
    assert sorted(got) == names and len(got) == len(set(got))
    assert env.qbo.count("Customer", "DisplayName LIKE 'Pager%'") == 7


def test_update_sparse_and_stale_object(env: Env) -> None:
    c = env.qbo.create("Customer", {"DisplayName": "Sparse Co", "Notes": "keep"}, _rid())
    up = env.qbo.update("Customer", {"Id": c["Id"], "SyncToken": c["SyncToken"], "CompanyName": "X"}, _rid())
    assert up["SyncToken"] == "1" and up["Notes"] == "keep" and up["CompanyName"] == "X"
    with pytest.raises(QBOStaleObject) as info:
        env.qbo.update("Customer", {"Id": c["Id"], "SyncToken": "0", "CompanyName": "Y"}, _rid())
    assert info.value.code == "5010" and info.value.intuit_tid


def test_duplicate_name_is_typed_with_existing_id(env: Env) -> None:
    c = env.qbo.create("Customer", {"DisplayName": "Dupe Ltd"}, _rid())
    with pytest.raises(QBODuplicateName) as info:
        env.qbo.create("Customer", {"DisplayName": "Dupe Ltd"}, _rid())
    assert info.value.existing_id == c["Id"]
    assert info.value.status == 400 and not info.value.transient
    with pytest.raises(QBOValidationError) as bad:
        env.qbo.query("SELECT * FROM Customer WHERE DisplayName = 'unterminated")
    assert bad.value.code.startswith("400")


def test_batch_correlates_by_bid_with_a_per_item_fault(env: Env) -> None:
    existing = env.qbo.create("Customer", {"DisplayName": "Batch Taken"}, _rid())
    ops = [
        BatchOp(bid="b1", operation="create", entity="Customer", body={"DisplayName": "Batch A"}),
        BatchOp(bid="b2", operation="create", entity="Customer", body={"DisplayName": "Batch Taken"}),
        BatchOp(bid="b3", operation="create", entity="Customer", body={"DisplayName": "Batch B"}),
        BatchOp(
            bid="b4",
            operation="update",
            entity="Customer",
            body={"Id": existing["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Z"},
        ),
    ]
    results = env.qbo.batch(ops, _rid())
    assert set(results) == {"b1", "b2", "b3", "b4"}
    assert results["b1"].ok and results["b1"].body["DisplayName"] == "Batch A"  # type: ignore[index]
    assert results["b3"].ok and results["b3"].body["DisplayName"] == "Batch B"  # type: ignore[index]
    assert isinstance(results["b2"].error, QBODuplicateName) and results["b2"].body is None
    assert results["b2"].error.existing_id == existing["Id"]
    assert results["b4"].ok and results["b4"].body["SyncToken"] == "1"  # type: ignore[index]
    with pytest.raises(ValueError):
        env.qbo.batch(
            [BatchOp(bid=f"b{i}", operation="create", entity="Customer", body={}) for i in range(31)], _rid()
        )


def test_requestid_reuse_after_drop_after_commit_yields_one_entity(env: Env) -> None:
    env.faults({"kind": "drop_after_commit", "count": 1, "path_regex": r"/customer$"})
    created = env.qbo.create("Customer", {"DisplayName": "Exactly Once"}, _rid())
    assert [r["Id"] for r in _customers_named(env, "Exactly Once")] == [created["Id"]]
    # same for a batch: the retried chunk replays the first response
    env.faults({"kind": "drop_after_commit", "count": 1, "path_regex": r"/batch$"})
    ops = [
        BatchOp(bid=f"b{i}", operation="create", entity="Customer", body={"DisplayName": f"Once {i}"})
        for i in range(3)
    ]
    results = env.qbo.batch(ops, _rid())
    assert all(r.ok for r in results.values())
    for i in range(3):
        assert len(_customers_named(env, f"Once {i}")) == 1
    assert env.stats()["status_counts"].get("400", 0) == 0


def test_transport_failure_after_retries_is_outcome_unknown(env: Env) -> None:
    qbo = QBOClient(
        env.url, env.settings.realm_id, env.oauth, limiter=env.limiter, max_retries=2, backoff_base_s=0.01
    )
    env.faults({"kind": "reset_before_write", "count": 3, "path_regex": r"/customer$"})
    with pytest.raises(QBOTransportError) as info:
        qbo.create("Customer", {"DisplayName": "Never"}, _rid())
    assert info.value.transient and info.value.kind == "transport"
    assert _customers_named(env, "Never") == []


def test_timeout_is_retried_with_the_same_requestid(env: Env) -> None:
    qbo = QBOClient(
        env.url, env.settings.realm_id, env.oauth, limiter=env.limiter, timeout=0.5, backoff_base_s=0.01
    )
    env.faults({"kind": "timeout", "count": 1, "path_regex": r"/customer$"})
    created = qbo.create("Customer", {"DisplayName": "Slow Co"}, _rid())
    assert [r["Id"] for r in _customers_named(env, "Slow Co")] == [created["Id"]]


def test_429_backs_off_and_succeeds(env: Env) -> None:
    env.qbo.preferences()  # token refresh out of the way
    env.faults({"kind": "http_429", "count": 2, "path_regex": "^/v3/"})
    started = time.monotonic()
    assert env.qbo.preferences()
    assert time.monotonic() - started >= 2 * 0.2  # throttle_backoff_s each time
    assert env.limiter.stats.penalties == 2
    env.faults({"kind": "http_429", "count": 1, "retry_after_s": 1, "path_regex": "^/v3/"})
    started = time.monotonic()
    env.qbo.company_info()
    assert time.monotonic() - started >= 1.0  # Retry-After honoured


def test_5xx_are_retried(env: Env) -> None:
    env.qbo.preferences()
    env.faults({"kind": "http_503", "count": 2, "path_regex": "^/v3/"}, {"kind": "http_500", "count": 1})
    created = env.qbo.create("Customer", {"DisplayName": "Resilient"}, _rid())
    assert created["Id"]
    assert env.stats()["status_counts"].get("503") == 2
    assert env.stats()["status_counts"].get("500") == 1


def test_limiter_keeps_a_burst_under_the_per_second_limit() -> None:
    settings = QBOSandboxSettings(time_scale=0.25, empty=True, request_latency_s=0.05)  # 10 per 0.25 s
    env = _env(settings)
    try:
        env.qbo.preferences()  # token refresh out of the way
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                for _ in range(5):
                    env.qbo.query_rows("SELECT * FROM Account MAXRESULTS 1")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        assert not errors
        stats = env.stats()
        assert stats["throttled_429"] == 0 and env.limiter.stats.penalties == 0, (
            stats,
            env.limiter.snapshot(),
        )
        assert stats["peak_concurrency"] <= 10
        assert stats["requests"] == 61
        assert elapsed >= 5 * 0.25  # 60 requests need more than 5 windows of 10
        assert env.limiter.stats.waits > 0
    finally:
        env.served.stop()
