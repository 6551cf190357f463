"""`revqb sync --days-per-run N`: how days group into range runs, and its usage errors (exit 2)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.cli._runs import range_runs

COMMAND = ["sync", "--days-per-run"]


def test_one_day_per_run_keeps_the_partitions_as_given() -> None:
    days = ["2026-01-03", "2026-01-01", "2026-01-01"]
    assert range_runs(days) == [["2026-01-03"], ["2026-01-01"], ["2026-01-01"]]
    assert range_runs(["2026-01-01", "2026-02-01"], 1) == [["2026-01-01"], ["2026-02-01"]]  # month keys too


def test_days_group_into_runs_spanning_at_most_n_calendar_days() -> None:
    days = ["2026-01-01", "2026-01-02", "2026-01-31", "2026-02-01", "2026-03-15", "2026-01-02"]
    assert range_runs(days, 31) == [
        ["2026-01-01", "2026-01-02", "2026-01-31"],  # 01-01 .. 01-31: 31 days
        ["2026-02-01"],  # 03-15 is 42 days after 02-01
        ["2026-03-15"],
    ]
    assert range_runs(days, 2) == [["2026-01-01", "2026-01-02"], ["2026-01-31", "2026-02-01"], ["2026-03-15"]]


def test_a_year_of_daily_activity_is_twelve_runs_of_31_days() -> None:
    year = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(365)]
    runs = range_runs(year, 31)
    assert len(runs) == 12
    assert [d for run in runs for d in run] == year
    assert all(len(run) <= 31 for run in runs)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "must be at least 1: '0'"), ("a week", "not a whole number: 'a week'")],
)
def test_bad_days_per_run_is_a_usage_error(
    value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*COMMAND, value])
    assert exc.value.code == 2
    assert f"argument --days-per-run: {message}" in capsys.readouterr().err
