"""The one retry layer (clients/retry.py on tenacity): what is retried, how long it waits, what never is."""

from __future__ import annotations

import uuid

import httpx
import pytest

from revqb_pipeline.clients.errors import (
    QBODuplicateName,
    QBOServerError,
    QBOThrottled,
    QBOValidationError,
)
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.clients.retry import MAX_BACKOFF_S, call_with_retries
from revqb_pipeline_tests.clients.test_qbo_http import Env, qbo_env  # noqa: F401 (the env fixture)

qbo_app = pytest.importorskip("revqb_sandbox.qbo.app", reason="QBO sandbox (revqb_sandbox.qbo.app) missing")


def _failing(errors: list[BaseException], result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return calls, attempt


def test_transient_errors_are_retried_with_capped_jittered_backoff() -> None:
    sleeps: list[float] = []
    calls, attempt = _failing([QBOServerError(status=503)] * 3)
    out = call_with_retries(
        attempt,  # type: ignore[arg-type]
        retries=5,
        retryable=lambda e: isinstance(e, QBOServerError),
        base_s=0.5,
        sleep=sleeps.append,
    )
    assert out == "ok" and len(calls) == 4 and len(sleeps) == 3
    for n, delay in enumerate(sleeps, start=1):  # base * 2**(n-1) plus up to base of jitter
        assert 0.5 * 2 ** (n - 1) <= delay <= 0.5 * 2 ** (n - 1) + 0.5
    sleeps.clear()
    calls, attempt = _failing([QBOServerError(status=503)] * 20)
    with pytest.raises(QBOServerError):
        call_with_retries(attempt, retries=12, retryable=lambda e: True, base_s=1.0, sleep=sleeps.append)  # type: ignore[arg-type]
    assert len(calls) == 13 and max(sleeps) <= MAX_BACKOFF_S


def test_permanent_errors_are_never_retried_and_retry_after_is_honoured() -> None:
    sleeps: list[float] = []
    for error in (QBOValidationError(status=400, code="2010"), QBODuplicateName(status=400, code="6240")):
        calls, attempt = _failing([error])
        with pytest.raises(type(error)):
            call_with_retries(
                attempt,  # type: ignore[arg-type]
                retries=5,
                retryable=lambda e: getattr(e, "transient", False),
                base_s=0.5,
                sleep=sleeps.append,
            )
        assert len(calls) == 1
    assert sleeps == []
    calls, attempt = _failing([QBOThrottled(status=429, retry_after=7.0)])
    call_with_retries(
        attempt,  # type: ignore[arg-type]
        retries=1,
        retryable=lambda e: True,
        base_s=0.5,
        sleep=sleeps.append,
        delay_for=lambda e: getattr(e, "retry_after", None),
    )
    assert sleeps == [7.0]
    calls, attempt = _failing([QBOServerError(status=500)] * 2)
    with pytest.raises(QBOServerError):  # retries=0: one try, no wait
        call_with_retries(attempt, retries=0, retryable=lambda e: True, base_s=0.5, sleep=sleeps.append)  # type: ignore[arg-type]
    assert len(calls) == 1 and sleeps == [7.0]


@pytest.mark.slow
def test_sandbox_counts_one_request_per_permanent_error_and_a_401_refresh_without_retries(env: Env) -> None:
    env.qbo.preferences()  # token refresh out of the way
    env.qbo.create("Customer", {"DisplayName": "Once Only"}, str(uuid.uuid4()))
    before = env.stats()["requests"]
    with pytest.raises(QBODuplicateName):
        env.qbo.create("Customer", {"DisplayName": "Once Only"}, str(uuid.uuid4()))
    assert env.stats()["requests"] == before + 1  # 6240: sent once, never retried
    # a 401 refreshes the token once even with no retries at all (preflight's max_retries=0)
    qbo = QBOClient(env.url, env.settings.realm_id, env.oauth, limiter=env.limiter, max_retries=0)
    refreshes = env.oauth.refresh_count
    httpx.post(f"{env.url}/_admin/oauth/expire-access-tokens").raise_for_status()
    assert qbo.company_info()
    assert env.oauth.refresh_count == refreshes + 1
    # a 429 on the last try is raised without pausing the realm (the limiter pauses only before a retry)
    env.faults({"kind": "http_429", "count": 1, "path_regex": "^/v3/"})
    penalties = env.limiter.stats.penalties
    with pytest.raises(QBOThrottled):
        qbo.preferences()
    assert env.limiter.stats.penalties == penalties
    # 5xx with retries=0: one request, the error surfaces
    env.faults({"kind": "http_503", "count": 1, "path_regex": "^/v3/"})
    before = env.stats()["requests"]
    with pytest.raises(QBOServerError):
        qbo.preferences()
    assert env.stats()["requests"] == before + 1
