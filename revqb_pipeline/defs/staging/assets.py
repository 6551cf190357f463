"""Staging: normalized Rev.io records (integer cents) in the staging database; malformed ones quarantined.

Generated from ``revqb_pipeline.entities.REGISTRY``: ``staging/<asset>`` stages what ``revio/<asset>``
read, each record type into its own table with its own normalizer; a backfill range stages each day in
turn (the same code as a one-day run) and reports the days' counts summed.
"""

from typing import Any

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import DATA_ENG, beta_quiet, staging_column_schema
from revqb_pipeline.defs.partitions import bill_date_partitions, daily_backfill, run_days
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.entities import BY_SOURCE_TYPE, extract_assets
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.spec import EntitySpec, StageContext
from revqb_pipeline.sync.stage import StageReport, stage_extracted
from revqb_pipeline.sync.steps import md_table

COMMON: dict[str, Any] = {
    "group_name": "staging",
    "partitions_def": bill_date_partitions,
    "backfill_policy": daily_backfill,
    "kinds": {"sql"},
    "owners": [DATA_ENG],
}


def stage_result(report: StageReport, others: dict[str, int] | None = None) -> dg.MaterializeResult:
    """Counts, the quarantined records with their reasons, and how many other-type records were staged."""
    metadata: dict[str, Any] = report.metadata()
    if report.quarantined:
        metadata["quarantined_records"] = dg.MetadataValue.md(md_table(report.quarantined))
    metadata.update({f"{name}_staged": n for name, n in (others or {}).items()})
    return dg.MaterializeResult(metadata=metadata)


def nothing_staged(specs: tuple[EntitySpec, ...], extracted: Any) -> tuple[StageReport, dict[str, int]]:
    """What :func:`stage_extracted` reports for a day without records (zero counts, each other record
    type read with 0), without opening the staging database or loading the mapping."""
    own = {s.source_type for s in specs}
    return StageReport(), {BY_SOURCE_TYPE[t].name: 0 for t in extracted if t not in own}


@beta_quiet
def stage_asset(name: str, specs: tuple[EntitySpec, ...]) -> dg.AssetsDefinition:
    """``staging/<name>``: stages the records ``revio/<name>`` read (other record types first)."""
    tables = ", ".join(s.staging_table for s in specs)

    @dg.asset(
        name=name,
        key_prefix=[*connections.asset_prefix(), "staging"],
        ins={"extracted": dg.AssetIn(key=[*connections.asset_prefix(), "revio", name])},
        deps=[dg.AssetKey([*connections.asset_prefix(), "staging", d]) for s in specs for d in s.stage_deps],
        description=f"Rev.io {name} normalized into {tables} (integer cents, one row per record); malformed "
        "records quarantined with the reason. Columns: the staging table's, with its pandera checks.",
        metadata={"dagster/column_schema": staging_column_schema(*(s.staging_table for s in specs))},
        **COMMON,
    )
    @fail_fast
    def _stage(
        context: dg.AssetExecutionContext, staging: StagingResource, extracted: Any
    ) -> dg.MaterializeResult:
        days = run_days(context)
        rt: Runtime | None = None  # opened on the first day with records: an empty day stages nothing
        if len(days) == 1:
            if not any(extracted.values()):
                return stage_result(*nothing_staged(specs, extracted))
            rt = staging.runtime()
            ctx = StageContext(days[0], rt.mapping, rt.store)
            return stage_result(*stage_extracted(rt.store, rt.ledger, specs, BY_SOURCE_TYPE, extracted, ctx))
        report, others = StageReport(), {}
        for day in days:  # a backfill range: each day as a one-day run would, its quarantines keyed by day
            day_records = extracted.get(day, {})
            if not any(day_records.values()):
                part, part_others = nothing_staged(specs, day_records)
            else:
                rt = rt or staging.runtime()
                ctx = StageContext(day, rt.mapping, rt.store)
                part, part_others = stage_extracted(
                    rt.store, rt.ledger, specs, BY_SOURCE_TYPE, day_records, ctx
                )
            report.inserted += part.inserted
            report.updated += part.updated
            report.unchanged += part.unchanged
            report.quarantined.update({f"{day} {k}": v for k, v in part.quarantined.items()})
            for other, n in part_others.items():
                others[other] = others.get(other, 0) + n
        result = stage_result(report, others)
        return dg.MaterializeResult(metadata={**(result.metadata or {}), "days": len(days)})

    return _stage


staging_assets = [stage_asset(name, specs) for name, specs in extract_assets().items()]
