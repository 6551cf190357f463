"""Staging: normalized Rev.io records (integer cents) in the staging database; malformed ones quarantined."""

from functools import partial
from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.partitions import bill_date_partitions
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.sync.stage import StageReport, stage_customers, stage_records

COMMON: dict[str, Any] = {"group_name": "staging", "partitions_def": bill_date_partitions, "kinds": {"sql"}}


def md_cell(text: object) -> str:
    """``text`` safe in a markdown table cell (a reason may quote a value holding ``|`` or newlines)."""
    return str(text).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _result(report: StageReport) -> dg.MaterializeResult:
    metadata: dict[str, Any] = report.metadata()
    if report.quarantined:
        rows = sorted(report.quarantined.items())
        table = "\n".join(f"| {md_cell(rid)} | {md_cell(why)} |" for rid, why in rows)
        metadata["quarantined_records"] = dg.MetadataValue.md("| record | reason |\n|---|---|\n" + table)
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(key=["staging", "catalog"], ins={"catalog": dg.AssetIn(key=["revio", "catalog"])}, **COMMON)
@fail_fast
def staging_catalog(
    context: dg.AssetExecutionContext, staging: StagingResource, catalog: dict[str, list[dict]]
) -> dg.MaterializeResult:
    rt = staging.runtime()
    pk = context.partition_key
    types = stage_records(
        rt.store,
        rt.ledger,
        table="stg_product_types",
        resource="ProductTypes",
        source_type="product_type",
        pk="product_type_id",
        raws=catalog["product_types"],
        normalize=partial(norm.normalize_product_type, cfg=rt.mapping),
        partition_key=pk,
    )
    products = stage_records(
        rt.store,
        rt.ledger,
        table="stg_products",
        resource="Products",
        source_type="product",
        pk="product_id",
        raws=catalog["products"],
        normalize=norm.normalize_product,
        partition_key=pk,
    )
    types.inserted += products.inserted
    types.updated += products.updated
    types.unchanged += products.unchanged
    types.quarantined.update(products.quarantined)
    return _result(types)


@dg.asset(key=["staging", "customers"], ins={"customers": dg.AssetIn(key=["revio", "customers"])}, **COMMON)
@fail_fast
def staging_customers(
    context: dg.AssetExecutionContext, staging: StagingResource, customers: list[dict]
) -> dg.MaterializeResult:
    rt = staging.runtime()
    return _result(stage_customers(rt.store, rt.ledger, customers, context.partition_key))


@dg.asset(key=["staging", "bills"], ins={"bills": dg.AssetIn(key=["revio", "bills"])}, **COMMON)
@fail_fast
def staging_bills(
    context: dg.AssetExecutionContext, staging: StagingResource, bills: list[dict]
) -> dg.MaterializeResult:
    rt = staging.runtime()
    pk = context.partition_key
    return _result(
        stage_records(
            rt.store,
            rt.ledger,
            table="stg_bills",
            resource="Bills",
            source_type="bill",
            pk="bill_id",
            raws=bills,
            normalize=partial(norm.normalize_bill, partition_key=pk),
            partition_key=pk,
        )
    )


@dg.asset(
    key=["staging", "charges"],
    ins={"charges": dg.AssetIn(key=["revio", "charges"])},
    deps=[dg.AssetKey(["staging", "catalog"])],
    **COMMON,
)
@fail_fast
def staging_charges(
    context: dg.AssetExecutionContext, staging: StagingResource, charges: list[dict]
) -> dg.MaterializeResult:
    rt = staging.runtime()
    pk = context.partition_key
    types = {int(r["product_type_id"]): r for r in rt.store.rows("stg_product_types")}
    products = {int(r["product_id"]): r for r in rt.store.rows("stg_products")}
    return _result(
        stage_records(
            rt.store,
            rt.ledger,
            table="stg_charges",
            resource="Charges",
            source_type="charge",
            pk="charge_id",
            raws=charges,
            normalize=partial(
                norm.normalize_charge, product_types=types, partition_key=pk, products=products or None
            ),
            partition_key=pk,
        )
    )
