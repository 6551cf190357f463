"""revio_changes_sensor over the Rev.io sandbox: stable run keys, advancing cursor, skips, and a
sensor-triggered run that applies a new payment in QBO."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest

from revqb_pipeline.defs.automation.sensors import MAX_RUNS, WATCHED, revio_changes_sensor
from revqb_pipeline.defs.partitions import START_DATE
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.changes import plan, scan, window_start
from revqb_pipeline_tests._books import BILL_DAY, invoice_balance
from revqb_pipeline_tests._harness import Pipeline


def tick(e: Pipeline, cursor: str | None) -> dg.SensorResult:
    """One evaluation with the real resources, the context used as a context manager."""
    resources = e.sensor_resources()
    with dg.build_sensor_context(instance=e.instance, cursor=cursor, resources=resources) as ctx:
        result = revio_changes_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def keys(result: dg.SensorResult) -> dict[str, str]:
    return {r.partition_key: r.run_key for r in result.run_requests or []}


def test_sensor_status_follows_the_setting() -> None:
    from revqb_pipeline.definitions import defs
    from revqb_pipeline.defs.automation.status import sensor_status

    sensor = defs().resolve_sensor_def("revio_changes_sensor")
    assert sensor.default_status == sensor_status()  # REVQB_AUTOMATION: test_automation_status.py
    assert sensor.job_name == "revqb_sync_job"


@pytest.mark.slow
def test_new_records_give_stable_run_keys_and_an_advancing_cursor(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    bills = env.bills()
    cid = min(bills)
    env.clock("2026-01-05T09:00:00")
    pid = env.pay(cid, Decimal("10.00"), int(bills[cid]["bill_id"]))

    first = tick(env, None)
    assert set(keys(first)) == {BILL_DAY, "2026-01-05"}
    assert all(k.startswith(f"{p}:") for p, k in keys(first).items())
    again = tick(env, None)  # same data, lost cursor: the same keys, which Dagster dedupes
    assert keys(again) == keys(first)

    quiet = tick(env, first.cursor)
    assert not quiet.run_requests and quiet.skip_reason is not None
    assert "no new or changed" in str(quiet.skip_reason.skip_message)

    env.clock("2026-01-07T12:00:00")
    env.pay(cid, Decimal("5.00"), None)
    newer = tick(env, quiet.cursor)
    assert set(keys(newer)) == {"2026-01-07"}
    c0, c1 = json.loads(first.cursor or "{}"), json.loads(newer.cursor or "{}")
    assert c1["watermark"] > c0["watermark"]

    env.admin(f"/payments/{pid}/bounce")  # changes a 2026-01-05 record, adds a reversal on 2026-01-07
    changed = tick(env, newer.cursor)
    assert set(keys(changed)) == {"2026-01-05", "2026-01-07"}
    assert keys(changed)["2026-01-05"] != keys(first)["2026-01-05"]
    assert not tick(env, changed.cursor).run_requests


@pytest.mark.slow
def test_time_budget_leaves_unread_days_for_the_next_tick(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    env.clock("2026-01-04T09:00:00")
    env.pay(min(env.bills()), Decimal("1.00"), None)
    since = window_start({}, 7, START_DATE)
    calls = iter(range(1000))
    stopped = scan(env.runtime().revio, since, WATCHED, deadline=0.5, clock=lambda: float(next(calls)))
    assert stopped.complete_until == BILL_DAY and stopped.days == {}
    requests, cursor, _ = plan({}, stopped, since, lambda d: True, MAX_RUNS)
    assert not requests and cursor["days"] == {}


@pytest.mark.slow
def test_sensor_triggered_run_applies_a_new_payment(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    first = tick(env, None)
    for request in first.run_requests or []:
        env.job.execute_in_process(
            partition_key=request.partition_key, instance=env.instance, tags=request.tags
        )
    cursor = first.cursor
    bills = env.bills()
    cid = min(bills)
    bill_id = int(bills[cid]["bill_id"])
    before = invoice_balance(env, bill_id)

    env.clock("2026-01-08T15:30:00")
    pid = env.pay(cid, Decimal("42.17"), bill_id, "CREDIT_CARD")
    result = tick(env, cursor)
    assert [r.partition_key for r in result.run_requests or []] == ["2026-01-08"]
    request: Any = result.run_requests[0]
    run = env.job.execute_in_process(
        partition_key=request.partition_key, instance=env.instance, tags=request.tags
    )
    assert run.success

    rt = env.runtime()
    row = rt.ledger.get("payment", pid)
    assert row is not None and row.status == LedgerStatus.SYNCED
    assert invoice_balance(env, bill_id) == before - Decimal("42.17")
    assert not tick(env, result.cursor).run_requests
