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
)
