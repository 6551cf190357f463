"""The month-end job and its schedule: 06:00 on the 1st (partitions' timezone) closes the previous month."""

from __future__ import annotations

import dagster as dg

from revqb_pipeline.defs.automation.status import schedule_status
from revqb_pipeline.defs.revenue.assets import GROUP

month_end_revenue_job = dg.define_asset_job(
    "month_end_revenue_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Revenue summary (blocking check) and the month's QBO JournalEntry, for one month.",
    tags={"revqb/kind": "month_end"},
)

month_end_revenue_schedule = dg.build_schedule_from_partitioned_job(
    month_end_revenue_job,
    hour_of_day=6,
    day_of_month=1,
    default_status=schedule_status(),
)
