"""Month-end Dagster definitions: the blocking check spec, the schedule, the job's shape and the lineage from
the daily loads (deps through a daily -> monthly mapping, so quiet days never block a month)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.partitions import TIMEZONE, month_partitions
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.defs.revenue.assets import (
    DAILY_LOADS,
    JOURNAL,
    REPORT,
    REPORT_CHECK,
    SUMMARY,
    reconciliation_report,
    revenue_journal,
    revenue_summary,
)
from revqb_pipeline.defs.revenue.schedules import month_end_revenue_job, month_end_revenue_schedule
from revqb_pipeline.entities.journals import checks


def resolved_schedule() -> dg.ScheduleDefinition:
    defs = dg.Definitions(
        assets=[revenue_summary, revenue_journal, reconciliation_report],
        jobs=[month_end_revenue_job],
        schedules=[month_end_revenue_schedule],
        resources={
            "staging": StagingResource(),
            "qbo": dg.ResourceDefinition.none_resource(),
            "revio": dg.ResourceDefinition.none_resource(),
        },
    )
    return defs.resolve_schedule_def("month_end_revenue_job_schedule")


def test_tick_on_the_first_requests_the_previous_month():
    tz = ZoneInfo(TIMEZONE)
    schedule = resolved_schedule()
    with dg.instance_for_test() as instance:
        for tick, expected in (
            (datetime(2025, 4, 1, 6, 0, tzinfo=tz), "2025-03-01"),
            (datetime(2026, 1, 1, 6, 0, tzinfo=tz), "2025-12-01"),
        ):
            with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as ctx:
                data = schedule.evaluate_tick(ctx)
            [request] = data.run_requests or []
            assert request.partition_key == expected
            assert request.run_key == expected


def test_schedule_shape():
    schedule = resolved_schedule()
    assert schedule.description
    assert schedule.cron_schedule == "0 6 1 * *"
    assert schedule.execution_timezone == TIMEZONE == month_partitions.timezone
    assert schedule.default_status == schedule_status()
    assert schedule.job_name == "month_end_revenue_job"


def test_monthly_assets_depend_on_the_daily_loads_as_deps_only():
    for asset in (revenue_summary, revenue_journal, reconciliation_report):
        assert asset.partitions_def == month_partitions
        assert asset.group_names_by_key[asset.key] == "revenue"
        spec = next(iter(asset.specs))
        assert spec.owners == ["team:finance-ops"] and spec.description
        assert all(c.description for c in asset.check_specs)
    assert DAILY_LOADS == tuple(
        dg.AssetKey(["quickbooks", n]) for n in ("invoices", "payments", "credit_memos")
    )
    assert set(revenue_summary.dependency_keys) == set(DAILY_LOADS)
    # deps, not inputs: nothing is loaded from the daily assets (Nothing-typed inputs only)
    assert all(i.dagster_type.is_nothing for i in revenue_summary.op.input_defs)
    for key in DAILY_LOADS:
        mapping = revenue_summary.get_partition_mapping(key)
        assert isinstance(mapping, dg.TimeWindowPartitionMapping)
    assert set(revenue_journal.dependency_keys) == {SUMMARY}
    assert set(reconciliation_report.dependency_keys) == {JOURNAL}
    [spec] = revenue_summary.check_specs
    assert spec.blocking and spec.name == checks.CHECK_NAME
    [report_check] = reconciliation_report.check_specs
    assert report_check.name == REPORT_CHECK and not report_check.blocking
    assert revenue_journal.op.pool == "qbo_api"
    assert JOURNAL == dg.AssetKey(["quickbooks", "revenue_journal"])
    assert month_end_revenue_job.name == "month_end_revenue_job"


def test_journals_reconciler_is_registered():
    from revqb_pipeline.entities import RECONCILERS
    from revqb_pipeline.entities.journals.sync import reconcile_journals

    assert RECONCILERS["journals"] is reconcile_journals


def test_project_definitions_schedule_the_month_end_job():
    from revqb_pipeline.definitions import defs

    d = defs()
    job = d.resolve_job_def("month_end_revenue_job")
    assert set(job.asset_layer.executable_asset_keys) == {SUMMARY, JOURNAL, REPORT}
    sync_job = d.resolve_job_def("revqb_sync_job")
    assert not {SUMMARY, JOURNAL, REPORT} & set(sync_job.asset_layer.executable_asset_keys)
    graph = d.resolve_asset_graph()
    assert set(graph.get(SUMMARY).parent_keys) == set(DAILY_LOADS)
    schedule = d.resolve_schedule_def("month_end_revenue_job_schedule")
    assert schedule.description and schedule.metadata["owners"].value == "team:finance-ops"
    assert job.metadata["owners"].value == "team:finance-ops"
    tick = datetime(2025, 7, 1, 6, 0, tzinfo=ZoneInfo(TIMEZONE))
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as ctx:
            data = schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in data.run_requests or []] == ["2025-06-01"]


@pytest.mark.slow
def test_a_month_with_quiet_days_runs(tmp_path):
    """Only three days of March have daily loads (the rest were quiet, never materialized): the month's
    summary still runs, because the daily loads are deps, not inputs."""
    staging = StagingResource(db_url=f"sqlite:///{tmp_path / 'revqb.db'}")
    with dg.instance_for_test() as instance:
        for day in ("2025-03-03", "2025-03-14", "2025-03-28"):
            for key in DAILY_LOADS:
                instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=day))
        result = dg.materialize(
            [revenue_summary],
            partition_key="2025-03-01",
            instance=instance,
            resources={"staging": staging},
            raise_on_error=False,
        )
        assert result.success
        [mat] = result.asset_materializations_for_node("revenue__summary")
        assert mat.partition == "2025-03-01"
        [check] = result.get_asset_check_evaluations()
        assert check.passed and check.partition == "2025-03-01"  # attached to its month
