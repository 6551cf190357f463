"""Invoices: Rev.io bills and their charges (with the product catalog) -> QBO invoices."""

from __future__ import annotations

from functools import partial

from revqb_pipeline.entities.invoices.reconcile import reconcile_invoices
from revqb_pipeline.entities.invoices.steps import STEPS as STEPS
from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.sync.extract import fetch_children_for_bills, fetch_created
from revqb_pipeline.sync.spec import (
    EntitySpec,
    ExtractContext,
    Extracted,
    Normalizer,
    Reconciler,
    StageContext,
)


def _charge_normalizer(ctx: StageContext) -> Normalizer:
    types = {int(r["product_type_id"]): r for r in ctx.store.rows(PRODUCT_TYPE.staging_table)}
    products = {int(r["product_id"]): r for r in ctx.store.rows(PRODUCT.staging_table)}
    return partial(
        norm.normalize_charge, product_types=types, partition_key=ctx.partition_key, products=products or None
    )


def _charges(ctx: ExtractContext) -> Extracted:
    bills = ctx.records(BILL.source_type)
    return {
        CHARGE.source_type: fetch_children_for_bills(
            ctx.revio,
            "charges",
            bills,
            ctx.start,
            ctx.end,
            primary_key="charge_id",
            total_field="invoice_amount",
        )
    }


PRODUCT_TYPE = EntitySpec(
    name="product_types",
    source_type="product_type",
    resource="ProductTypes",
    primary_key="product_type_id",
    staging_table="stg_product_types",
    normalizer=lambda ctx: partial(norm.normalize_product_type, cfg=ctx.mapping),
    extract=lambda ctx: {"product_type": list(ctx.revio.product_types())},
    extract_asset="catalog",
    extract_description="Rev.io products and product types.",
    staging_only=True,
    list_method="product_types",
)
PRODUCT = EntitySpec(
    name="products",
    source_type="product",
    resource="Products",
    primary_key="product_id",
    staging_table="stg_products",
    normalizer=lambda ctx: norm.normalize_product,
    extract=lambda ctx: {"product": list(ctx.revio.products())},
    extract_asset="catalog",
    staging_only=True,
    list_method="products",
)
BILL = EntitySpec(
    name="bills",
    source_type=SOURCE_TYPE,
    resource="Bills",
    primary_key="bill_id",
    staging_table="stg_bills",
    normalizer=lambda ctx: partial(norm.normalize_bill, partition_key=ctx.partition_key),
    extract=lambda ctx: {SOURCE_TYPE: fetch_created(ctx.revio, "Bills", ctx.start, ctx.end)},
    extract_description="Rev.io bills created on the partition's bill date.",
    qbo_entity="Invoice",
    business_key="DocNumber = <invoice.doc_number_prefix><bill_id>",
    watched_fields=("invoice_amount", "credit_memo_amount", "amount_due", "is_reversed", "customer_id"),
    list_method="bills",
)
CHARGE = EntitySpec(
    name="charges",
    source_type="charge",
    resource="Charges",
    primary_key="charge_id",
    staging_table="stg_charges",
    normalizer=_charge_normalizer,
    extract=_charges,
    extract_inputs=("bills",),
    extract_description=(
        "Charges (recurring, usage, one-time, with their taxes) posted on the partition's bills."
    ),
    stage_deps=("catalog",),
    staging_only=True,
    list_method="charges",
)

SPECS = (PRODUCT_TYPE, PRODUCT, BILL, CHARGE)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = ()
RECONCILERS: tuple[Reconciler, ...] = (("invoices", reconcile_invoices),)
