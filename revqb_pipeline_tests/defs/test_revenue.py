"""Month-end Dagster definitions: the blocking pandera check, the schedule, and the job's shape."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd

from revqb_pipeline.defs.partitions import TIMEZONE, month_partitions
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.defs.revenue import checks
from revqb_pipeline.defs.revenue.assets import JOURNAL, SUMMARY, revenue_journal, revenue_summary
from revqb_pipeline.defs.revenue.schedules import month_end_revenue_job, month_end_revenue_schedule
from revqb_pipeline.entities.journals.mapping import journal_payload
from revqb_pipeline.entities.journals.revenue import Month, RevenueCharge, summarize_month
from revqb_pipeline.mapping.config import RevenueConfig, RevenueKind

CFG = RevenueConfig(
    by_charge_kind={
        "recurring": RevenueKind(
            account="Telecom Services Revenue", deferred=True, deferred_account="Deferred Revenue"
        ),
        "usage": RevenueKind(account="Usage Revenue"),
        "one_time": RevenueKind(account="Installation Revenue"),
    }
)


def _summary_and_payload():
    charges = [
        RevenueCharge(1, 1, date(2025, 1, 15), "recurring", 3100, date(2025, 1, 15), date(2025, 2, 14)),
        RevenueCharge(2, 1, date(2025, 1, 15), "usage", 999, date(2024, 12, 15), date(2025, 1, 14)),
    ]
    summary = summarize_month(charges, Month(2025, 1), CFG)
    payload = journal_payload(summary, CFG)
    assert payload is not None
    return summary, payload


INVOICED = {"recurring": 3100, "usage": 999, "_bills": 4099}


# ----- the check ---------------------------------------------------------------------------------------


def test_check_passes_for_a_good_month():
    summary, payload = _summary_and_payload()
    result = checks.check_revenue(summary, payload, INVOICED)
    assert result.passed, result.metadata


def test_check_fails_for_an_unbalanced_entry():
    summary, payload = _summary_and_payload()
    payload["Line"][1]["Amount"] = payload["Line"][1]["Amount"] + 1  # credit 15.00 vs debit 14.00
    result = checks.check_revenue(summary, payload, INVOICED)
    assert not result.passed
    assert "debits != credits" in result.metadata["failures"].value


def test_check_fails_when_billing_does_not_tie_to_invoices():
    summary, payload = _summary_and_payload()
    result = checks.check_revenue(summary, payload, {**INVOICED, "usage": 1000, "_bills": 4100})
    assert not result.passed
    assert "invoiced" in result.metadata["failures"].value


def test_check_fails_for_untied_frames():
    tie = pd.DataFrame(
        [
            {
                "category": "recurring",
                "billed_cents": 3100,
                "invoiced_cents": 3100,
                "recognized_cents": 1700,
                "deferred_opening_cents": 0,
                "deferred_closing_cents": 1300,  # 1700 + 1300 != 3100
            }
        ]
    )
    lines = pd.DataFrame(
        [
            {"account": "Telecom Services Revenue", "posting_type": "Debit", "amount_cents": 1300},
            {"account": "Deferred Revenue", "posting_type": "Credit", "amount_cents": 1300},
        ]
    )
    accounts = pd.DataFrame(
        [
            {
                "account": "Telecom Services Revenue",
                "journal_net_debit_cents": 1300,
                "expected_net_debit_cents": 1400,
            },
            {
                "account": "Deferred Revenue",
                "journal_net_debit_cents": -1300,
                "expected_net_debit_cents": -1400,
            },
        ]
    )
    result = checks.validate_frames(tie, lines, accounts)
    assert not result.passed
    text = result.metadata["failures"].value
    assert "recognized + change in deferred != billed" in text
    assert "net debit differs" in text
    good_tie = tie.assign(deferred_closing_cents=1400)
    good_lines = lines.assign(amount_cents=1400)
    good_accounts = accounts.assign(journal_net_debit_cents=accounts["expected_net_debit_cents"])
    assert checks.validate_frames(good_tie, good_lines, good_accounts).passed


def test_check_rejects_negative_or_bad_posting_lines():
    tie = checks.tie_frame(*_summary_and_payload()[:1], INVOICED)
    lines = pd.DataFrame(
        [
            {"account": "A", "posting_type": "Debit", "amount_cents": -5},
            {"account": "B", "posting_type": "Sideways", "amount_cents": -5},
        ]
    )
    accounts = pd.DataFrame(columns=["account", "journal_net_debit_cents", "expected_net_debit_cents"])
    result = checks.validate_frames(tie, lines, accounts)
    assert not result.passed
    assert result.metadata["num_failures"].value >= 3


def test_an_empty_month_passes():
    summary = summarize_month([], Month(2025, 2), CFG)
    result = checks.check_revenue(summary, {"Line": []}, {"_bills": 0})
    assert result.passed


# ----- schedule and job --------------------------------------------------------------------------------


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
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
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
