"""Jobs: the partitioned Rev.io -> QBO sync (extract, stage, map, check, load) in one run per bill date."""

from __future__ import annotations

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._meta import DATA_ENG, OWNERS_METADATA

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
