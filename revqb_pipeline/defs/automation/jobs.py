"""Jobs: the partitioned Rev.io -> QBO sync (extract, stage, map, check, load) in one run per bill date."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._meta import DATA_ENG, OWNERS_METADATA, dagster_beta
from revqb_pipeline.defs.automation.status import sensor_status

SYNC_GROUPS = ("revio", "staging", "quickbooks_mapping", "quickbooks")

revqb_sync_job = dg.define_asset_job(
    "revqb_sync_job",
    selection=dg.AssetSelection.groups(*SYNC_GROUPS),
    description="Rev.io -> QuickBooks for one bill date: blocking checks stop the load in the same run.",
    tags={"revqb/kind": "sync", **connections.run_tags()},
    metadata={OWNERS_METADATA: DATA_ENG},  # owners= on a job warns (beta) whenever it is resolved
    # One process per run, not one per step: the steps form a chain behind one-slot pools anyway, and a
    # process per step costs seconds of imports each (a sensor-launched day took minutes: performance.md).
    executor_def=dg.in_process_executor,
)


def sync_sensor(
    evaluate: Callable[..., dg.SensorResult], *, name: str, interval_s: int, description: str
) -> dg.SensorDefinition:
    """A sensor that requests :data:`revqb_sync_job` runs, owned by data engineering, its default status
    set by ``REVQB_AUTOMATION``."""
    with dagster_beta():  # owners= on sensors is beta in Dagster 1.13
        return dg.sensor(
            name=name,
            job=revqb_sync_job,
            minimum_interval_seconds=interval_s,
            default_status=sensor_status(),
            description=description,
            owners=[DATA_ENG],
        )(evaluate)
