"""Month-end Dagster definitions: the blocking check spec, the schedule, and the job's shape."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.partitions import TIMEZONE, month_partitions
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.defs.revenue.assets import JOURNAL, SUMMARY, revenue_journal, revenue_summary
from revqb_pipeline.defs.revenue.schedules import month_end_revenue_job, month_end_revenue_schedule
from revqb_pipeline.entities.journals import checks


def resolved_schedule() -> dg.ScheduleDefinition:
    defs = dg.Definitions(
        assets=[revenue_summary, revenue_journal],
        jobs=[month_end_revenue_job],
        schedules=[month_end_revenue_schedule],
        resources={"staging": StagingResource(), "qbo": dg.ResourceDefinition.none_resource()},
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
    assert schedule.cron_schedule == "0 6 1 * *"
    assert schedule.execution_timezone == TIMEZONE == month_partitions.timezone
    assert schedule.default_status == schedule_status()
    assert schedule.job_name == "month_end_revenue_job"


def test_monthly_assets_have_no_dependency_on_daily_assets():
    for asset in (revenue_summary, revenue_journal):
        assert asset.partitions_def == month_partitions
        assert asset.group_names_by_key[asset.key] == "revenue"
    assert set(revenue_summary.dependency_keys) == set()
    assert set(revenue_journal.dependency_keys) == {SUMMARY}
    [spec] = revenue_summary.check_specs
    assert spec.blocking and spec.name == checks.CHECK_NAME
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
    assert set(job.asset_layer.executable_asset_keys) == {SUMMARY, JOURNAL}
    sync_job = d.resolve_job_def("revqb_sync_job")
    assert not {SUMMARY, JOURNAL} & set(sync_job.asset_layer.executable_asset_keys)
    schedule = d.resolve_schedule_def("month_end_revenue_job_schedule")
    tick = datetime(2025, 7, 1, 6, 0, tzinfo=ZoneInfo(TIMEZONE))
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=tick) as ctx:
            data = schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in data.run_requests or []] == ["2025-06-01"]
