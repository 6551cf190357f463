"""The default status of every sensor and schedule: STOPPED unless ``REVQB_AUTOMATION=on`` (read once, at
definitions load). Either way the UI toggle starts or stops each one; a toggle overrides the default."""

from __future__ import annotations

import dagster as dg

from revqb_pipeline.settings import automation_on

AUTOMATION_ON = automation_on()


def sensor_status() -> dg.DefaultSensorStatus:
    """RUNNING with ``REVQB_AUTOMATION=on``, else STOPPED."""
    return dg.DefaultSensorStatus.RUNNING if AUTOMATION_ON else dg.DefaultSensorStatus.STOPPED


def schedule_status() -> dg.DefaultScheduleStatus:
    """RUNNING with ``REVQB_AUTOMATION=on``, else STOPPED."""
    return dg.DefaultScheduleStatus.RUNNING if AUTOMATION_ON else dg.DefaultScheduleStatus.STOPPED
