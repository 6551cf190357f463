"""Issue 16: a partition status that tells the truth.

- the daily partitions start at ``REVQB_START_DATE``, else at the tenant's first Rev.io activity recorded in
  the staging DB, else provisionally (fresh interpreters: the start is fixed when the definitions load);
- days confirmed empty count as materialized on a real DagsterInstance, so a backfill of missing
  partitions leaves them out; the change sensor confirms them from what it read;
- asset check results carry their partition.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.partition_status_cache import get_and_update_asset_status_cache_value

from revqb_pipeline.defs.automation.empty_days import (
    EMPTY_DESCRIPTION,
    confirmed_empty_days,
    empty_day_events,
    report_empty_days,
    sync_asset_keys,
)
from revqb_pipeline.defs.automation.sensors import WATCHED, evaluate
from revqb_pipeline.defs.partitions import bill_date_partitions
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.activity import FIRST_ACTIVITY_CURSOR, record_first_activity
from revqb_pipeline_tests._books import BILL_DAY
from revqb_pipeline_tests._harness import Pipeline

PROBE = """
import json
from revqb_pipeline.defs import partitions as p
print(json.dumps({"start": p.START_DATE, "source": p.START_SOURCE,
                  "first": p.bill_date_partitions.get_first_partition_key(),
                  "month": p.month_partitions.get_first_partition_key()}))
"""


def start_of(tmp_path: Path, **env: str) -> dict[str, str]:
    """The partitions' start as a fresh interpreter in ``tmp_path`` sees it with ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in ("REVQB_START_DATE", "REVQB_DB_URL")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "stderr": out.stderr}


def test_start_date_setting_then_recorded_first_activity_then_provisional(tmp_path: Path) -> None:
    db = tmp_path / "revqb.db"
    url = f"sqlite:///{db}"
    fresh = start_of(tmp_path, REVQB_DB_URL=url)
    assert fresh["source"].startswith("provisional") and fresh["start"] == "2025-01-01"
    assert "Run `revqb check`" in fresh["stderr"] and "REVQB_START_DATE" in fresh["stderr"]
    assert not db.exists()  # reading the start never creates the staging DB

    engine = make_engine(url)
    create_schema(engine)
    StagingStore(engine).set_cursor(FIRST_ACTIVITY_CURSOR, "2024-03-05")
    engine.dispose()
    recorded = start_of(tmp_path, REVQB_DB_URL=url)
    assert (recorded["start"], recorded["first"], recorded["month"]) == (
        "2024-03-05",
        "2024-03-05",
        "2024-03-01",
    )
    assert recorded["source"].startswith("first Rev.io activity")

    configured = start_of(tmp_path, REVQB_DB_URL=url, REVQB_START_DATE="2024-06-17")
    assert (configured["start"], configured["first"], configured["source"]) == (
        "2024-06-17",
        "2024-06-17",
        "REVQB_START_DATE",
    )
    (tmp_path / ".env").write_text("REVQB_START_DATE=2024-07-01\n")
    assert start_of(tmp_path, REVQB_DB_URL=url)["start"] == "2024-07-01"

    bad = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        env={**os.environ, "REVQB_START_DATE": "2024-13-01"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "REVQB_START_DATE: '2024-13-01' is not a date" in bad.stderr


def _status(instance: dg.DagsterInstance, key: dg.AssetKey) -> tuple[set[str], set[str]]:
    """(materialized, missing) partitions of ``key`` as the UI's partition status reads them."""
    value = get_and_update_asset_status_cache_value(instance, key, bill_date_partitions)
    assert value is not None
    materialized = set(
        value.deserialize_materialized_partition_subsets(bill_date_partitions).get_partition_keys()
    )
    failed = set(value.deserialize_failed_partition_subsets(bill_date_partitions).get_partition_keys())
    window = {d for d in bill_date_partitions.get_partition_keys() if "2025-03-01" <= d <= "2025-03-07"}
    return materialized & window, window - materialized - failed


def test_confirmed_empty_days_count_as_materialized_and_are_not_missing() -> None:
    keys = sync_asset_keys()
    assert len(keys) >= 20 and {k.path[0] for k in keys} == {"revio", "staging", "quickbooks"}
    active = ["2025-03-02", "2025-03-05"]
    quiet = confirmed_empty_days(date(2025, 3, 1), date(2025, 3, 7), active, today=date(2025, 3, 7))
    assert quiet == ["2025-03-01", "2025-03-03", "2025-03-04", "2025-03-06"]  # 03-07 is still running
    with dg.instance_for_test() as instance:
        assert report_empty_days(instance, quiet, "test") == len(quiet) * len(keys)
        for key in keys:
            materialized, missing = _status(instance, key)
            assert materialized == set(quiet), key
            # "backfill missing" targets exactly the days nobody has confirmed: the active days and today
            assert missing == {"2025-03-02", "2025-03-05", "2025-03-07"}, key
        event = instance.get_latest_materialization_event(keys[0])
        assert event is not None and event.asset_materialization is not None
        mat = event.asset_materialization
        assert mat.partition == "2025-03-06" and mat.description == EMPTY_DESCRIPTION
        assert mat.metadata["empty"].value is True and mat.metadata["confirmed_by"].value == "test"
    assert empty_day_events(["1999-01-01"], "test") == []  # before the first partition: nothing


@pytest.mark.slow
def test_sensor_confirms_quiet_days_and_a_later_record_still_gets_a_run(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    env.clock("2026-01-05T09:00:00")
    cid = min(env.bills())
    env.pay(cid, Decimal("10.00"), None)
    revio = env.runtime().revio

    first = evaluate(None, revio, max_empty_days=10_000)
    requested = {r.partition_key for r in first.run_requests or []}
    assert requested == {BILL_DAY, "2026-01-05"}
    quiet = {e.partition for e in first.asset_events}
    assert {"2026-01-02", "2026-01-03", "2026-01-04"} <= quiet and not quiet & requested
    assert max(quiet) == "2026-01-04"  # nothing after the last record read is confirmed yet
    assert {e.asset_key for e in first.asset_events} == set(sync_asset_keys())
    with dg.instance_for_test() as instance:
        for event in first.asset_events:  # what the sensor daemon does with them (a week of them here)
            if "2025-03-01" <= str(event.partition) <= "2025-03-07":
                instance.report_runless_asset_event(event)
        materialized, missing = _status(instance, dg.AssetKey(["quickbooks", "invoices"]))
        assert materialized == {d for d in quiet if "2025-03-01" <= d <= "2025-03-07"} and not missing

    again = evaluate(first.cursor, revio)
    assert not again.asset_events and not again.run_requests  # reported once

    env.clock("2026-01-07T12:00:00")  # a record on a later day confirms 01-06; 01-05 is unchanged
    env.pay(cid, Decimal("5.00"), None)
    later = evaluate(again.cursor, revio)
    assert {r.partition_key for r in later.run_requests or []} == {"2026-01-07"}
    assert {e.partition for e in later.asset_events} == {"2026-01-06"}

    capped = evaluate(None, revio, max_empty_days=5)  # a long quiet history: 5 days a tick, oldest first
    days = sorted({e.partition for e in capped.asset_events})
    assert len(days) == 5 and days[0] == bill_date_partitions.get_first_partition_key()
    following = date.fromordinal(date.fromisoformat(days[-1]).toordinal() + 1).isoformat()
    assert json.loads(capped.cursor or "{}")["watermark"][:10] <= following  # the rest stays in the window
    nxt = evaluate(capped.cursor, revio, max_empty_days=5)
    assert min(e.partition for e in nxt.asset_events) == following


@pytest.mark.slow
def test_the_sensor_tick_carries_the_empty_days_to_the_daemon_and_records_the_first_activity(
    env: Pipeline,
) -> None:
    """Through Dagster's own tick evaluation (what the daemon runs) and its wire format."""
    from dagster_shared.serdes import deserialize_value, serialize_value

    from revqb_pipeline.defs.automation.sensors import MAX_EMPTY_DAYS, revio_changes_sensor
    from revqb_pipeline.defs.partitions import START_SOURCE

    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    env.clock("2026-01-04T09:00:00")
    env.pay(min(env.bills()), Decimal("3.00"), None)
    resources = env.sensor_resources()
    from revqb_pipeline.definitions import defs

    repo = defs().get_repository_def()
    with dg.build_sensor_context(
        instance=env.instance, cursor=None, resources=resources, repository_def=repo
    ) as ctx:
        data = revio_changes_sensor.evaluate_tick(ctx)
    data = deserialize_value(serialize_value(data))  # the daemon receives it over gRPC
    days = sorted({e.partition for e in data.asset_events})
    assert len(days) == MAX_EMPTY_DAYS and days[0] == bill_date_partitions.get_first_partition_key()
    assert {r.partition_key for r in data.run_requests} == {BILL_DAY, "2026-01-04"}
    for event in data.asset_events[:40]:  # the daemon writes each with report_runless_asset_event
        env.instance.report_runless_asset_event(event)
    assert env.instance.get_latest_materialization_event(data.asset_events[0].asset_key) is not None
    if START_SOURCE.startswith("provisional"):  # the test run's definitions: the tick recorded the start
        assert env.runtime().store.get_cursor(FIRST_ACTIVITY_CURSOR) == BILL_DAY


@pytest.mark.slow
def test_first_activity_is_read_from_revio_and_recorded_once(env: Pipeline) -> None:
    rt = env.runtime()
    resources = [w[0] for w in WATCHED]
    assert record_first_activity(rt.store, rt.revio, resources) is None  # no bill, payment or credit yet
    assert rt.store.get_cursor(FIRST_ACTIVITY_CURSOR) is None
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    assert record_first_activity(rt.store, rt.revio, resources) == BILL_DAY
    env.clock("2026-01-09T09:00:00")
    env.pay(min(env.bills()), Decimal("1.00"), None)
    assert record_first_activity(rt.store, rt.revio, resources) == BILL_DAY  # kept, not re-read


@pytest.mark.slow
def test_check_results_carry_their_partition(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    result = env.execute(BILL_DAY)
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and {e.partition for e in evaluations} == {BILL_DAY}
    key = dg.AssetCheckKey(dg.AssetKey(["quickbooks", "invoice_payloads"]), "invoice_lines_valid")
    records = env.instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
    assert [(r.partition, r.status.value) for r in records] == [(BILL_DAY, "SUCCEEDED")]


@pytest.mark.slow
def test_a_range_run_reports_each_days_check_on_its_partition(env: Pipeline) -> None:
    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    tags = {
        "dagster/asset_partition_range_start": BILL_DAY,
        "dagster/asset_partition_range_end": "2026-01-03",
    }
    result = env.job.execute_in_process(tags=tags, instance=env.instance, raise_on_error=False)
    assert result.success
    key = dg.AssetCheckKey(dg.AssetKey(["quickbooks", "invoice_payloads"]), "invoice_lines_valid")
    records = env.instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    latest: dict[str | None, str] = {}
    for record in records:  # newest first
        latest.setdefault(record.partition, record.status.value)
    assert latest == {
        None: "SUCCEEDED",  # the run's merged result (it gates the loads)
        BILL_DAY: "SUCCEEDED",
        "2026-01-02": "SUCCEEDED",
        "2026-01-03": "SUCCEEDED",
    }


@pytest.mark.slow
def test_revqb_sync_over_a_window_records_the_start_and_confirms_its_quiet_days(
    env: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI end to end: runs for the active days, empty materializations for the quiet ones, and the
    tenant's first activity recorded for the next definitions load."""
    from revqb_pipeline.cli import main

    env.clock(f"{BILL_DAY}T01:00:00")
    env.admin("/billing-cycle", {"cycle_date": BILL_DAY})
    env.clock("2026-01-04T09:00:00")
    env.pay(min(env.bills()), Decimal("3.00"), None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(env.home))  # the CLI runs on the test's instance
    assert main(["sync", "--since", BILL_DAY, "--to", "2026-01-05"]) == 0
    assert env.runtime().store.get_cursor(FIRST_ACTIVITY_CURSOR) == BILL_DAY
    for key in (dg.AssetKey(["revio", "bills"]), dg.AssetKey(["quickbooks", "invoices"])):
        value = get_and_update_asset_status_cache_value(env.instance, key, bill_date_partitions)
        assert value is not None
        done = set(
            value.deserialize_materialized_partition_subsets(bill_date_partitions).get_partition_keys()
        )
        assert {BILL_DAY, "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05"} <= done, key
    quiet = env.instance.get_latest_materialization_event(dg.AssetKey(["quickbooks", "invoices"]))
    assert quiet is not None and quiet.asset_materialization is not None
    assert quiet.asset_materialization.partition == "2026-01-05"
    assert quiet.asset_materialization.metadata["confirmed_by"].value == "revqb sync"
