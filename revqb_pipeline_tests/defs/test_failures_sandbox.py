"""Permanent vs transient errors in real Dagster runs of the sync job over both sandboxes.

A wrong QBO client secret, a wrong Rev.io password, an unknown realm, an unreachable QBO or a revoked refresh
token fail the run at once: no step is retried (no STEP_UP_FOR_RETRY event), the failure message names what
to fix, and the run ends within seconds. A transient burst of 503s is still retried (client, then
RetryPolicy) and the day reaches QBO to the cent.
"""

import os
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from revqb_pipeline.staging.tokens import SqlTokenStore
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_sandbox.faults import FaultRule

pytestmark = pytest.mark.slow

FAST_S = 30.0  # the QBO assets' RetryPolicy waits 10 s before a first retry, 30 s before a second


def _run(p: Pipeline, partition: str) -> tuple[dg.ExecuteInProcessResult, float]:
    from revqb_pipeline.definitions import defs

    job = defs().resolve_job_def("revqb_sync_job")  # loaded now: resources see the current environment
    started = time.monotonic()
    result = job.execute_in_process(partition_key=partition, instance=p.instance, raise_on_error=False)
    return result, time.monotonic() - started


def _events(result: dg.ExecuteInProcessResult, kind: dg.DagsterEventType) -> list[Any]:
    return [e for e in result.all_events if e.event_type == kind]


def _failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """step key -> the Failure's description (the one-line cause)."""
    out = {}
    for event in _events(result, dg.DagsterEventType.STEP_FAILURE):
        data = event.step_failure_data
        out[event.step_key] = (data.user_failure_data.description if data.user_failure_data else "") or ""
    return out


def _assert_failed_at_once(
    result: dg.ExecuteInProcessResult, elapsed: float, *needles: str
) -> dict[str, str]:
    assert not result.success
    assert _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY) == []
    failures = _failures(result)
    assert failures
    for step, message in failures.items():
        assert all(n in message for n in needles), (step, message)
        assert "\n" not in message
    assert elapsed < FAST_S, elapsed
    print(f"run failed in {elapsed:.1f}s: {failures}")  # shown with -s
    return failures


def _first_bill_day(p: Pipeline) -> str:
    days = sorted({str(b["created_date"])[:10] for b in p.revio().iter_records("Bills")})
    return days[0]


def _qbo_invoice_total(p: Pipeline) -> Decimal:
    return sum((Decimal(str(i["TotalAmt"])) for i in p.qbo_all("Invoice")), Decimal(0))


def _revio_bill_total(p: Pipeline, day: str) -> Decimal:
    bills = [b for b in p.revio().iter_records("Bills") if str(b["created_date"])[:10] == day]
    return sum((Decimal(str(b["invoice_amount"])) for b in bills), Decimal(0))


def test_wrong_qbo_client_secret_fails_the_run_at_once(sqlite_url: str, tmp_path: Path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=4, seed=21) as p:
        day = _first_bill_day(p)
        os.environ["QBO_CLIENT_SECRET"] = "not-the-secret"
        result, elapsed = _run(p, day)
        failures = _assert_failed_at_once(result, elapsed, "QBO_CLIENT_SECRET", "invalid_client")
        # only the steps that need QBO failed; the Rev.io extract and the staging went through
        assert all(step.startswith("quickbooks") for step in failures), failures
        assert any(e.step_key == "revio__bills" for e in result.all_events if e.is_successful_output)


def test_wrong_revio_password_fails_the_run_at_once(sqlite_url: str, tmp_path: Path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=4, seed=22) as p:
        day = _first_bill_day(p)
        os.environ["REVIO_PASSWORD"] = "Wr0ng-Revio-Passw0rd"
        result, elapsed = _run(p, day)
        failures = _assert_failed_at_once(result, elapsed, "REVIO_PASSWORD")
        assert "revio__bills" in failures
        assert p.qbo_all("Invoice") == []


def test_unknown_realm_fails_the_run_at_once(sqlite_url: str, tmp_path: Path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=4, seed=23) as p:
        day = _first_bill_day(p)
        os.environ["QBO_REALM_ID"] = "9999999999"
        result, elapsed = _run(p, day)
        _assert_failed_at_once(result, elapsed, "QBO_REALM_ID")


def test_unreachable_qbo_fails_the_run_in_seconds(sqlite_url: str, tmp_path: Path) -> None:
    """Nothing listens on port 1: the preflight checks twice (2 s apart), then fails, naming the URL."""
    with pipeline(sqlite_url, tmp_path, customers=4, seed=26) as p:
        day = _first_bill_day(p)
        os.environ["QBO_BASE_URL"] = "http://127.0.0.1:1"
        os.environ["QBO_TOKEN_URL"] = "http://127.0.0.1:1/oauth2/v1/tokens/bearer"
        result, elapsed = _run(p, day)
        failures = _assert_failed_at_once(result, elapsed, "QBO_TOKEN_URL", "127.0.0.1:1")
        assert all(step.startswith("quickbooks") for step in failures), failures


def test_revoked_refresh_token_mid_process_fails_at_once_naming_it(sqlite_url: str, tmp_path: Path) -> None:
    """The preflight passed earlier in this process (cached); the revoked token surfaces inside a step."""
    with pipeline(sqlite_url, tmp_path, customers=4, seed=21) as p:
        days = sorted({str(b["created_date"])[:10] for b in p.revio().iter_records("Bills")})
        assert len(days) >= 2
        first, _ = _run(p, days[0])
        assert first.success
        rt = p.runtime()
        stored = SqlTokenStore(rt.engine, rt.settings.token_key).load(rt.settings.qbo_realm_id)
        assert stored is not None
        auth = (p.env["QBO_CLIENT_ID"], p.env["QBO_CLIENT_SECRET"])
        for token in (stored.refresh_token, p.env["QBO_REFRESH_TOKEN"]):
            httpx.post(
                f"{p.sb.qbo_url}/oauth2/v1/tokens/revoke", data={"token": token}, auth=auth
            ).raise_for_status()
        httpx.post(f"{p.sb.qbo_url}/_admin/oauth/expire-access-tokens").raise_for_status()
        result, elapsed = _run(p, days[1])
        _assert_failed_at_once(result, elapsed, "QBO_REFRESH_TOKEN", "invalid_grant")
        # raised inside the step (by @fail_fast), not by a preflight
        assert not any(
            e.step_failure_data.user_failure_data.metadata.get("preflight")
            for e in _events(result, dg.DagsterEventType.STEP_FAILURE)
        )


def test_transient_503_burst_is_retried_and_the_day_syncs_to_the_cent(
    sqlite_url: str, tmp_path: Path
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=4, seed=25) as p:
        day = _first_bill_day(p)
        # Rev.io: more 503s than the client's own tries (1 + 5): the extract step fails once with a
        # transient error and the RetryPolicy runs it again. QBO: a short burst the client absorbs.
        rule = FaultRule(kind="http_503", count=7, method="GET", path_regex=r"/v1/[Bb]ills$")
        httpx.post(f"{p.sb.revio_url}/_admin/faults", json={"rules": [rule.model_dump()]}).raise_for_status()
        p.qbo_faults([FaultRule(kind="http_503", count=3, path_regex="/batch")])
        result, _ = _run(p, day)
        assert result.success
        retried = _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
        assert [e.step_key for e in retried] == ["revio__bills"]
        assert _qbo_invoice_total(p) == _revio_bill_total(p, day) > 0
        assert len(p.qbo_all("Invoice")) == len(
            [b for b in p.revio().iter_records("Bills") if str(b["created_date"])[:10] == day]
        )
