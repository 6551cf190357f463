"""Payments and credits: Rev.io payments (card, ACH, check; bounced, refunded) -> QBO Payments, and Rev.io
credits -> QBO CreditMemos applied to their bill's invoice (they share the per-bill allocation)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from revqb_pipeline.entities.customers import CUSTOMER
from revqb_pipeline.entities.customers.extract import missing_customers
from revqb_pipeline.entities.invoices import BILL
from revqb_pipeline.entities.payments.reconcile import (
    reconcile_balances,
    reconcile_credits,
    reconcile_payments,
)
from revqb_pipeline.entities.payments.source_types import APPLY_SOURCE_TYPE, CREDIT_SOURCE_TYPE, SOURCE_TYPE
from revqb_pipeline.entities.payments.steps import STEPS as STEPS
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.sync.extract import day_records
from revqb_pipeline.sync.spec import EntitySpec, ExtractContext, Extracted, Reconciler


def _day_extract(
    source_type: str, resource: str, pk: str, total: str | None, originals: str | None = None
) -> Callable[[ExtractContext], Extracted]:
    """The extract of a day's payments or credits (+ originals of reversals) and their unstaged customers."""

    def extract(ctx: ExtractContext) -> Extracted:
        bills = ctx.records(BILL.source_type)
        records = day_records(
            ctx.revio,
            resource,
            bills,
            ctx.start,
            ctx.end,
            primary_key=pk,
            total_field=total,
            originals_field=originals,
        )
        customers = missing_customers(ctx.revio, ctx.store, records, staging_table=CUSTOMER.staging_table)
        return {source_type: records, CUSTOMER.source_type: customers}

    return extract


PAYMENT = EntitySpec(
    name="payments",
    source_type=SOURCE_TYPE,
    resource="Payments",
    primary_key="payment_id",
    staging_table="stg_payments",
    normalizer=lambda ctx: partial(norm.normalize_payment, partition_key=ctx.partition_key),
    extract=_day_extract(SOURCE_TYPE, "Payments", "payment_id", None, "original_payment_id"),
    extract_inputs=("bills",),
    extract_description=(
        "Payments created on the partition's day or posted on its bills (+ originals of reversals)."
    ),
    qbo_entity="Payment",
    business_key="PrivateNote marker <invoice.payment_note_marker><payment_id>",
    watched_fields=(
        "bill_id",
        "amount",
        "bounced",
        "refund_flag",
        "original_payment_id",
        "customer_id",
        "method",
    ),
    list_method="payments",
)
CREDIT = EntitySpec(
    name="credits",
    source_type=CREDIT_SOURCE_TYPE,
    resource="Credits",
    primary_key="credit_memo_id",
    staging_table="stg_credits",
    normalizer=lambda ctx: partial(norm.normalize_credit, partition_key=ctx.partition_key, cfg=ctx.mapping),
    extract=_day_extract(CREDIT_SOURCE_TYPE, "Credits", "credit_memo_id", "credit_memo_amount"),
    extract_inputs=("bills",),
    extract_description="Credits created on the partition's day or posted on its bills.",
    qbo_entity="CreditMemo",
    business_key="DocNumber = <invoice.credit_doc_number_prefix><credit_memo_id>",
    watched_fields=("bill_id", "amount", "tax_amount", "atype", "is_bad_debt", "customer_id"),
    list_method="credits",
)

SPECS = (PAYMENT, CREDIT)
#: Ledger source types this entity writes besides its record types.
LEDGER_TYPES: tuple[str, ...] = (APPLY_SOURCE_TYPE,)
RECONCILERS: tuple[Reconciler, ...] = (
    ("payments", reconcile_payments),
    ("credits", reconcile_credits),
    ("balances", reconcile_balances),
)
