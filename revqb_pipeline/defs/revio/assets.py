"""Extract: raw Rev.io records for one bill-date partition."""

from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.partitions import bill_date_partitions, naive_window
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.mapping.normalize import record_key
from revqb_pipeline.sync.extract import fetch_bills, fetch_children_for_bills, fetch_customers

RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
COMMON: dict[str, Any] = {
    "group_name": "revio",
    "partitions_def": bill_date_partitions,
    "pool": "revio_api",
    "retry_policy": RETRY,
    "kinds": {"python"},
}


@dg.asset(key=["revio", "bills"], description="Rev.io bills created on the partition's bill date.", **COMMON)
@fail_fast
def revio_bills(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource
) -> list[dict]:
    start, end = naive_window(context)
    bills = fetch_bills(staging.runtime(revio=revio).revio, start, end)
    context.add_output_metadata({"records": len(bills)})
    return bills


@dg.asset(
    key=["revio", "charges"],
    ins={"bills": dg.AssetIn(key=["revio", "bills"])},
    description="Charges (recurring, usage, one-time, with their taxes) posted on the partition's bills.",
    **COMMON,
)
@fail_fast
def revio_charges(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource, bills: list[dict]
) -> list[dict]:
    start, end = naive_window(context)
    client = staging.runtime(revio=revio).revio
    charges = fetch_children_for_bills(client, "charges", bills, start, end, total_field="invoice_amount")
    context.add_output_metadata({"records": len(charges)})
    return charges


@dg.asset(
    key=["revio", "customers"],
    ins={"bills": dg.AssetIn(key=["revio", "bills"])},
    description="Customers billed on the partition's date, plus customers created or updated that day.",
    **COMMON,
)
@fail_fast
def revio_customers(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource, bills: list[dict]
) -> list[dict]:
    start, end = naive_window(context)
    client = staging.runtime(revio=revio).revio
    customers = fetch_customers(client, {c for b in bills if (c := record_key(b, "customer_id"))}, start, end)
    context.add_output_metadata({"records": len(customers)})
    return customers


@dg.asset(key=["revio", "catalog"], description="Rev.io products and product types.", **COMMON)
@fail_fast
def revio_catalog(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource
) -> dict[str, list[dict]]:
    client = staging.runtime(revio=revio).revio
    catalog = {"products": list(client.products()), "product_types": list(client.product_types())}
    context.add_output_metadata({k: len(v) for k, v in catalog.items()})
    return catalog
