"""Bodies of the OS processes (multiprocessing spawn) of test_shared_limits: kept import-light."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from revqb_pipeline.clients.errors import ApiError
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.ratelimit import QBORateLimiter, RateLimiter
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.models.tokens import MemoryTokenStore, OAuthTokens
from revqb_pipeline.staging.db import make_engine
from revqb_pipeline.staging.limits import DbRateLimiter, db_revio_limiter
from revqb_pipeline.staging.tokens import SqlTokenStore


def _run_threads(
    call: Callable[[int], None], threads: int, calls: int, barrier: Any
) -> tuple[int, list[str]]:
    """After ``barrier``, ``threads`` threads each run ``call(0..calls-1)``; ``(ok, [error kinds])``."""
    ok, errors = 0, []
    lock = threading.Lock()

    def thread() -> None:
        nonlocal ok
        for n in range(calls):
            try:
                call(n)
                with lock:
                    ok += 1
            except ApiError as exc:
                with lock:
                    errors.append(type(exc).__name__)

    barrier.wait(timeout=60)
    workers = [threading.Thread(target=thread) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return ok, errors


@dataclass(frozen=True)
class LoadPlan:
    """What one process sends: ``threads`` x ``calls`` QBO reads, the first call of each thread a batch."""

    qbo_url: str
    realm_id: str
    access_token: str
    db_url: str | None  # None: each process keeps its own in-process limiter (the control)
    limits: dict[str, Any]
    threads: int
    calls: int


def send_load(plan: LoadPlan, barrier: Any, results: Any) -> None:
    """Send the plan's requests through the realm's limiter; put ``(ok, [error kinds])`` on ``results``."""
    far = datetime.now(UTC) + timedelta(hours=1)
    store = MemoryTokenStore(
        {plan.realm_id: OAuthTokens(access_token=plan.access_token, refresh_token="-", access_expires_at=far)}
    )
    oauth = OAuthClient(f"{plan.qbo_url}/oauth2/v1/tokens/bearer", "id", "secret", store, plan.realm_id)
    limiter: RateLimiter
    if plan.db_url is None:
        limiter = QBORateLimiter(**plan.limits)
    else:
        limiter = DbRateLimiter(make_engine(plan.db_url), f"qbo:{plan.realm_id}", **plan.limits)
    qbo = QBOClient(plan.qbo_url, plan.realm_id, oauth, limiter=limiter, max_retries=0, timeout=10)

    def call(n: int) -> None:
        if n == 0:
            qbo.query_all_each([("Account", "Active = true"), ("Item", "Active = true")])
        else:
            qbo.query_rows("SELECT * FROM Account MAXRESULTS 1")

    outcome = _run_threads(call, plan.threads, plan.calls, barrier)
    qbo.close()
    results.put(outcome)


def refresh_token(
    token_url: str, client_id: str, client_secret: str, realm_id: str, db_url: str, key: str, barrier: Any,
    results: Any,
) -> None:  # fmt: skip
    """Ask for the realm's access token at the same moment as the other process; put it on ``results``."""
    store = SqlTokenStore(make_engine(db_url), key)
    oauth = OAuthClient(token_url, client_id, client_secret, store, realm_id)
    barrier.wait(timeout=60)
    try:
        results.put(("ok", oauth.access_token(), oauth.refresh_count))
    except ApiError as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}", oauth.refresh_count))
    finally:
        oauth.close()


@dataclass(frozen=True)
class RevioPlan:
    """``threads`` x ``calls`` Rev.io reads of one tenant from one process, through the DB limiter."""

    url: str
    client_code: str
    login: str
    password: str
    subscription_key: str
    db_url: str
    limits: dict[str, Any]
    threads: int
    calls: int


def send_revio_load(plan: RevioPlan, barrier: Any, results: Any) -> None:
    """Read pages through the tenant's shared limiter; put ``(ok, [error kinds])`` on ``results``."""
    limiter = db_revio_limiter(make_engine(plan.db_url), plan.url, plan.client_code, **plan.limits)
    client = RevioClient(
        plan.url, plan.client_code, plan.login, plan.password, plan.subscription_key,
        max_retries=0, limiter=limiter,
    )  # fmt: skip

    def call(_n: int) -> None:
        client.get_json("/Customers", {"search.page_size": "1"})

    outcome = _run_threads(call, plan.threads, plan.calls, barrier)
    client.close()
    results.put(outcome)
