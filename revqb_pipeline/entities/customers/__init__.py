"""Customers: Rev.io accounts -> QBO customers (found by account marker, email or name; else created)."""

from __future__ import annotations

from revqb_pipeline.entities.customers.extract import fetch_customers
from revqb_pipeline.entities.customers.reconcile import reconcile_customers
from revqb_pipeline.entities.customers.steps import STEPS as STEPS
from revqb_pipeline.entities.customers.sync import SOURCE_TYPE
from revqb_pipeline.mapping.normalize import normalize_customer
from revqb_pipeline.mapping.normalize import record_key as _key
from revqb_pipeline.sync.spec import (
    EntitySpec,
    ExtractContext,
    Extracted,
    Normalizer,
    Reconciler,
    StageContext,
)


def _extract(ctx: ExtractContext) -> Extracted:
    billed = {c for b in ctx.records("bill") if (c := _key(b, "customer_id"))}
    return {"customer": fetch_customers(ctx.revio, billed, ctx.start, ctx.end)}


def _normalizer(ctx: StageContext) -> Normalizer:
    return lambda raw: {**normalize_customer(raw), "partition_key": ctx.partition_key}


CUSTOMER = EntitySpec(
    name="customers",
    source_type=SOURCE_TYPE,
    resource="Customers",
    primary_key="customer_id",
    staging_table="stg_customers",
    normalizer=_normalizer,
    extract=_extract,
    extract_inputs=("bills",),
    extract_description=(
        "Customers billed on the partition's date, plus customers created or updated that day."
    ),
    qbo_entity="Customer",
    business_key="revio:account:<customer_id> in Notes, then email, then display name",
    list_method="customers",
)

SPECS = (CUSTOMER,)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = (("customers", reconcile_customers),)
