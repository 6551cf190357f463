"""A day without Rev.io activity does the least work in a sync run (issue 10: fixed cost of a quiet run).

Customers are read only on a day with bills, payments or credits (the day the sensor and ``revqb sync``
call active), and a staging step with nothing to stage opens no database.
"""

from __future__ import annotations

import dagster as dg

from revqb_pipeline.defs.revio.assets import extract_assets_defs, gates
from revqb_pipeline.defs.staging.assets import nothing_staged
from revqb_pipeline.entities import BY_SOURCE_TYPE, extract_assets, watched
from revqb_pipeline.sync.stage import StageReport


def _asset(name: str) -> dg.AssetsDefinition:
    return next(a for a in extract_assets_defs if a.key == dg.AssetKey(["revio", name]))


def test_customers_are_read_only_on_a_day_with_activity() -> None:
    active = tuple(s.source_type for s in watched())
    assert set(active) == {"bill", "payment", "credit"}
    assert gates() == {"catalog": ("charge",), "customers": active}
    upstream = {k.path[-1] for k in _asset("customers").dependency_keys}
    assert upstream == {BY_SOURCE_TYPE[t].asset for t in active} == {"bills", "payments", "credits"}
    # The watched types themselves, and the bills' children, are not gated.
    assert not {"bills", "payments", "credits", "charges"} & set(gates())


def test_a_staging_step_without_records_reports_zero_counts_without_the_database() -> None:
    specs = extract_assets()["payments"]
    report, others = nothing_staged(specs, {"customer": [], "payment": []})
    assert report == StageReport() and report.metadata()["quarantined"] == 0
    assert others == {"customers": 0}  # the other record type it read, as stage_extracted reports it
