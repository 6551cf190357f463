"""@fail_fast in real Dagster runs (in-process, no sandbox): a permanent error fails the step at once, with
its cause as the failure message and no RETRY event, despite the asset's RetryPolicy; a transient error is
still retried; the run-failure alert carries the one-line cause."""

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa

from revqb_pipeline.clients.errors import (
    ClientConfigError,
    OAuthError,
    QBOServerError,
    RevioAuthError,
    RevioError,
    parse_qbo_fault,
)
from revqb_pipeline.defs._failures import fail_fast, failure_cause
from revqb_pipeline.defs.alerts.sensors import run_failure_alert
from revqb_pipeline.mapping.config import MappingConfigError
from revqb_pipeline.preflight import PreflightFailed, Problem
from revqb_pipeline.staging.tokens import TokenKeyError

POLICY = dg.RetryPolicy(max_retries=3, delay=0.05)


def _run(
    exc_for_attempt: Callable[[int], Exception | None], *, generator: bool = False
) -> dg.ExecuteInProcessResult:
    attempts: list[int] = []

    if generator:

        @dg.asset(retry_policy=POLICY)
        @fail_fast
        def flaky(context: dg.AssetExecutionContext):
            attempts.append(context.retry_number)
            exc = exc_for_attempt(context.retry_number)
            if exc is not None:
                raise exc
            yield dg.MaterializeResult(metadata={"ok": True})

    else:

        @dg.asset(retry_policy=POLICY)
        @fail_fast
        def flaky(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            attempts.append(context.retry_number)
            exc = exc_for_attempt(context.retry_number)
            if exc is not None:
                raise exc
            return dg.MaterializeResult(metadata={"ok": True})

    with dg.instance_for_test() as instance:
        result = dg.materialize([flaky], instance=instance, raise_on_error=False)
        result.attempts = attempts  # type: ignore[attr-defined]
        return result


def _retries(result: dg.ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY)


def _failure_message(result: dg.ExecuteInProcessResult) -> str:
    failures = [e for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1
    data = failures[0].step_failure_data
    assert data.user_failure_data is not None
    return data.user_failure_data.description or ""


@pytest.mark.slow
@pytest.mark.parametrize("generator", [False, True])
@pytest.mark.parametrize(
    ("exc", "names"),
    [
        (OAuthError("invalid_client", "Client authentication failed", 401), "QBO_CLIENT_SECRET"),
        (OAuthError("invalid_grant", "Token has been expired or revoked", 400), "QBO_REFRESH_TOKEN"),
        (
            parse_qbo_fault(
                401, b'{"fault":{"error":[{"message":"x","detail":"Token is not valid for realm 9"}]}}'
            ),
            "QBO_REALM_ID",
        ),
        (RevioAuthError(401, "Authorization has been denied for this request."), "REVIO_PASSWORD"),
        (RevioAuthError(401, "Access denied due to invalid subscription key."), "REVIO_SUBSCRIPTION_KEY"),
        (ClientConfigError("QBO_BASE_URL", "'' is not a usable http(s) URL"), "QBO_BASE_URL"),
        (PreflightFailed([Problem("REVIO_BASE_URL", "not set")]), "REVIO_BASE_URL: not set"),
        (TokenKeyError("REVQB_TOKEN_KEY: the stored QBO tokens do not open"), "REVQB_TOKEN_KEY"),
        (sa.exc.ArgumentError("Could not parse SQLAlchemy URL from string 'nope'"), "REVQB_DB_URL"),
        (MappingConfigError("m.yaml: bad", [("m.yaml:12", "unknown key 'x'")]), "m.yaml:12: unknown key"),
    ],
)
def test_permanent_error_fails_at_once_with_its_cause(exc: Exception, names: str, generator: bool) -> None:
    started = time.monotonic()
    result = _run(lambda attempt: exc, generator=generator)
    assert not result.success
    assert result.attempts == [0]  # type: ignore[attr-defined]
    assert _retries(result) == 0
    message = _failure_message(result)
    assert names in message and "\n" not in message
    assert time.monotonic() - started < 10


@pytest.mark.slow
def test_transient_error_is_retried_then_succeeds() -> None:
    server = QBOServerError(status=503, message="Service Unavailable")
    result = _run(lambda attempt: server if attempt < 2 else None)
    assert result.success
    assert result.attempts == [0, 1, 2]  # type: ignore[attr-defined]
    assert _retries(result) == 2


@pytest.mark.slow
def test_unknown_error_keeps_the_retry_policy() -> None:
    result = _run(lambda attempt: RuntimeError("a bug") if attempt == 0 else None)
    assert result.success and _retries(result) == 1


def test_classification() -> None:
    assert failure_cause(QBOServerError(status=503)) is None
    assert failure_cause(RevioError(0, "no response")) is None
    assert failure_cause(RevioError(502, "bad gateway")) is None
    assert failure_cause(OAuthError("transport_error", "ConnectError")) is None
    assert failure_cause(KeyError("x")) is None
    assert failure_cause(sa.exc.OperationalError("select 1", {}, Exception("database is locked"))) is None
    denied = sa.exc.OperationalError("", {}, Exception('password authentication failed for user "revqb"'))
    assert (failure_cause(denied) or "").startswith("REVQB_DB_URL:")
    # a record-level error that escaped: retrying the same request cannot help
    assert failure_cause(parse_qbo_fault(400, b'{"Fault":{"Error":[{"code":"2020","Message":"Required"}]}}'))
    quota = RevioAuthError(403, "Out of call volume quota. Quota will be replenished in 0:10:00.")
    assert "quota" in (failure_cause(quota) or "")


@pytest.mark.slow
def test_run_failure_alert_carries_the_cause() -> None:
    @dg.asset(retry_policy=POLICY)
    @fail_fast
    def loads() -> None:
        raise OAuthError("invalid_client", "Client authentication failed", 401)

    job = dg.define_asset_job("j", selection=[loads])
    defs = dg.Definitions(assets=[loads], jobs=[job])
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("j").execute_in_process(instance=instance, raise_on_error=False)
        ctx: Any = dg.build_run_status_sensor_context(
            sensor_name="run_failure_alerts",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
        ).for_run_failure()
        alert = run_failure_alert(ctx, "http://dagster/runs/x")
    assert "QBO_CLIENT_ID / QBO_CLIENT_SECRET" in alert.text and "invalid_client" in alert.text
    assert "Exceeded max_retries" not in alert.text and "\n" not in alert.text
    assert "step loads: QBO_CLIENT_ID" in alert.text, alert.text


@pytest.mark.slow
def test_sync_job_with_no_environment_fails_at_once_listing_what_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No variable at all: the resources fall back to empty values (no production default), the preflight
    names every missing variable of the steps that ran, and nothing is retried."""
    from revqb_pipeline.definitions import defs

    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("REVQB_", "REVIO_", "QBO_")):
            monkeypatch.delenv(name)
    job = defs().resolve_job_def("revqb_sync_job")
    started = time.monotonic()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(partition_key="2026-01-01", instance=instance, raise_on_error=False)
    elapsed = time.monotonic() - started
    assert not result.success and _retries(result) == 0
    failures = [e for e in result.all_events if e.is_step_failure]
    assert {e.step_key for e in failures} >= {"revio__bills"}  # the catalog waits on the charges: skipped
    for event in failures:
        text = event.step_failure_data.user_failure_data.description
        for var in ("REVIO_BASE_URL", "REVIO_USERNAME", "REVIO_PASSWORD", "REVIO_SUBSCRIPTION_KEY"):
            assert f"{var}: not set" in text, text
    assert elapsed < 15, elapsed
