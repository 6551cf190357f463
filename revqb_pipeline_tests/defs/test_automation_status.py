"""Issue 16: ``make dev`` is safe by default. Every sensor and schedule of the definitions starts STOPPED
unless ``REVQB_AUTOMATION=on`` (read at definitions load, from the environment or ``.env``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from revqb_pipeline.settings import automation_on

#: Builds the definitions in a fresh interpreter (the status is fixed at import) and prints every
#: sensor's and schedule's default status.
PROBE = """
import json
from revqb_pipeline.definitions import defs
d = defs()
print(json.dumps({
    "sensors": {s.name: s.default_status.value for s in d.sensors or []},
    "schedules": {s.name: s.default_status.value for s in d.schedules or []},
}))
"""
SENSORS = {"revio_changes_sensor", "failure_queue_alerts", "run_failure_alerts"}
SCHEDULES = {"customer_status_hourly", "month_end_revenue_job_schedule"}


def statuses(tmp_path: Path, value: str | None, dotenv: str | None = None) -> dict[str, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k != "REVQB_AUTOMATION"}
    if value is not None:
        env["REVQB_AUTOMATION"] = value
    if dotenv is not None:
        (tmp_path / ".env").write_text(dotenv)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("value", "dotenv", "expected"),
    [
        (None, None, "STOPPED"),
        ("off", None, "STOPPED"),
        ("on", None, "RUNNING"),
        (None, "REVQB_AUTOMATION=on\n", "RUNNING"),
        ("off", "REVQB_AUTOMATION=on\n", "STOPPED"),  # the environment wins over .env
    ],
)
def test_every_sensor_and_schedule_follows_the_setting(
    tmp_path: Path, value: str | None, dotenv: str | None, expected: str
) -> None:
    got = statuses(tmp_path, value, dotenv)
    assert SENSORS <= set(got["sensors"]) and SCHEDULES <= set(got["schedules"])
    assert set(got["sensors"].values()) == {expected}, got
    assert set(got["schedules"].values()) == {expected}, got


def test_the_setting_parses_on_off_and_names_itself_when_malformed() -> None:
    assert automation_on({}) is False
    assert automation_on({"REVQB_AUTOMATION": "on"}) is True
    assert automation_on({"REVQB_AUTOMATION": "OFF"}) is False
    with pytest.raises(ValueError, match="REVQB_AUTOMATION: 'sometimes' is not a boolean"):
        automation_on({"REVQB_AUTOMATION": "sometimes"})
