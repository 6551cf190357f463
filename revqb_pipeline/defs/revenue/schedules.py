"""The month-end job and its schedule: 06:00 on the 1st (partitions' timezone) closes the previous month."""

from __future__ import annotations

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._meta import OWNERS_METADATA
from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.revenue.assets import GROUP, OWNERS

#: ``owners=`` on a job or a schedule is beta in Dagster 1.13 and warns whenever it is resolved: the owners
#: go in the ``owners`` metadata entry instead (as on the other jobs).
OWNED = {OWNERS_METADATA: ", ".join(OWNERS)}

month_end_revenue_job = dg.define_asset_job(
    "month_end_revenue_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Month-end for one month: the revenue summary (blocking check), the month's QBO "
    "JournalEntry, then the reconciliation report (HTML + CSV, summary in the metadata).",
    tags={"revqb/kind": "month_end", **connections.run_tags()},
    metadata=OWNED,
)

month_end_revenue_schedule = dg.build_schedule_from_partitioned_job(
    month_end_revenue_job,
    description="Closes the previous month at 06:00 on the 1st (partitions' timezone): revenue summary, "
    "JournalEntry and reconciliation report. Starts STOPPED unless REVQB_AUTOMATION=on.",
    hour_of_day=6,
    day_of_month=1,
    default_status=schedule_status(),
    metadata=OWNED,
)
