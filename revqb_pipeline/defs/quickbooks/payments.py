"""Payments and credits: payloads -> loaded, on the daily bill-date partitions (extract and staging are
generated from the registry in ``defs/revio`` and ``defs/staging``).

Partitioning: a payment or credit belongs to the day it was *created* in Rev.io, and also to the day of the
bill it is posted on (it is re-read with that bill's children). Loads work on a per-bill working set and
re-drive every waiting record (``entities/payments/sync.py``), so a payment staged before its invoice
exists waits and is applied by the run in which the invoice lands. Customers of these records are synced by
the loads themselves when the partition's customer asset did not cover them.
"""

from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.quickbooks.assets import LOAD, MAPPING, md_table, report_metadata
from revqb_pipeline.defs.resources import QBOResource, StagingResource
from revqb_pipeline.entities.payments.credit_mapping import credit_memo_total_cents
from revqb_pipeline.entities.payments.credit_sync import sync_credit_applications, sync_credit_memos
from revqb_pipeline.entities.payments.sync import (
    APPLY_SOURCE_TYPE,
    CREDIT_SOURCE_TYPE,
    SOURCE_TYPE,
    build_documents,
    ensure_customers,
    gather,
    payload_digest,
    sync_payments,
)
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.reference_data import ensure_reference_data
from revqb_pipeline.sync.writer import WriteReport

PAYMENT_PAYLOADS = dg.AssetKey(["quickbooks", "payment_payloads"])
CREDIT_PAYLOADS = dg.AssetKey(["quickbooks", "credit_memo_payloads"])


# ----- payloads ---------------------------------------------------------------------------------------

STAGED = [
    dg.AssetKey(["staging", "payments"]),
    dg.AssetKey(["staging", "credits"]),
    dg.AssetKey(["staging", "bills"]),
]


def _decisions(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["payload"]["decision"]] = counts.get(r["payload"]["decision"], 0) + 1
    return counts


@dg.asset(
    key=PAYMENT_PAYLOADS,
    deps=STAGED,
    description="A decision per Rev.io payment (post / void / fold / reject) and the QBO Payment body.",
    check_specs=[
        dg.AssetCheckSpec(
            "payment_amounts_valid",
            asset=PAYMENT_PAYLOADS,
            blocking=True,
            description="TotalAmt >= 0 and the amount applied to invoices never exceeds it.",
        )
    ],
    **MAPPING,
)
@fail_fast
def payment_payloads(context: dg.AssetExecutionContext, staging: StagingResource):
    rt = staging.runtime()
    pk = context.partition_key
    docs = build_documents(gather(rt.store, rt.ledger, pk), rt.mapping, pk)
    save_payloads(rt.store, docs.payments)
    yield dg.MaterializeResult(
        metadata={
            "payloads": len(docs.payments),
            **_decisions(docs.payments),
            "digest": payload_digest(docs.payments),
        }
    )
    bad: dict[str, str] = {}
    for row in docs.payments:
        body = row["payload"]["body"]
        if not body:
            continue
        applied = sum(ln["Amount"] for ln in body["Line"])
        if body["TotalAmt"] < 0 or applied > body["TotalAmt"]:
            bad[row["source_id"]] = f"TotalAmt {body['TotalAmt']}, applied {applied}"
    yield dg.AssetCheckResult(
        check_name="payment_amounts_valid",
        passed=not bad,
        metadata={"invalid": len(bad), **({"payments": md_table(bad, "payment")} if bad else {})},
    )


@dg.asset(
    key=CREDIT_PAYLOADS,
    deps=STAGED,
    description="One QBO CreditMemo body per Rev.io credit, and the zero-total Payment applying it.",
    check_specs=[
        dg.AssetCheckSpec(
            "credit_memo_totals_tie",
            asset=CREDIT_PAYLOADS,
            blocking=True,
            description="Every credit memo totals the Rev.io credit amount (tax included) to the cent.",
        )
    ],
    **MAPPING,
)
@fail_fast
def credit_memo_payloads(context: dg.AssetExecutionContext, staging: StagingResource):
    rt = staging.runtime()
    pk = context.partition_key
    ws = gather(rt.store, rt.ledger, pk)
    docs = build_documents(ws, rt.mapping, pk)
    save_payloads(rt.store, docs.credits + docs.applications)
    yield dg.MaterializeResult(
        metadata={
            "credit_memos": len(docs.credits),
            "applications": sum(1 for r in docs.applications if r["payload"]["decision"] == "apply"),
            "rejected": sum(1 for r in docs.credits if r["payload"]["decision"] == "reject"),
            "digest": payload_digest(docs.credits + docs.applications),
        }
    )
    bad: dict[str, str] = {}
    for row in docs.credits:
        body = row["payload"]["body"]
        want = int(ws.credits[int(row["source_id"])]["amount_cents"])
        if body and credit_memo_total_cents(body) != want:
            bad[row["source_id"]] = f"memo {credit_memo_total_cents(body)} cents vs Rev.io {want} cents"
    yield dg.AssetCheckResult(
        check_name="credit_memo_totals_tie",
        passed=not bad,
        metadata={"mismatched": len(bad), **({"credits": md_table(bad, "credit")} if bad else {})},
    )


# ----- loads ------------------------------------------------------------------------------------------


def _customers_of(rows: list[dict[str, Any]]) -> set[int]:
    out = set()
    for r in rows:
        body = r["payload"].get("body") or {}
        ref = str((body.get("CustomerRef") or {}).get("value", ""))
        if ref.startswith("revio-customer:"):
            out.add(int(ref.split(":", 1)[1]))
        elif r["payload"].get("customer_id"):
            out.add(int(r["payload"]["customer_id"]))
    return out


@dg.asset(
    key=["quickbooks", "payments"],
    deps=[
        PAYMENT_PAYLOADS,
        dg.AssetKey(["quickbooks", "invoices"]),
        dg.AssetKey(["quickbooks", "customers"]),
    ],
    description="QBO Payments applied to their invoices; bounced voided, refunds netted, waits re-driven.",
    **LOAD,
)
@fail_fast
def qbo_payments(
    context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource
) -> dg.MaterializeResult:
    rt = staging.runtime(qbo=qbo)
    pk = context.partition_key
    rows = load_payloads(rt.store, SOURCE_TYPE, [pk])
    refs = ensure_reference_data(rt.qbo, rt.mapping)
    customers = ensure_customers(rt.qbo, rt.ledger, rt.store, rt.mapping, _customers_of(rows), pk)
    report = sync_payments(rt.qbo, rt.ledger, rows, refs, rt.mapping)
    metadata = report_metadata(report)
    metadata.update({"folded": report.counts.get("folded", 0), "customers_synced": _written(customers)})
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=["quickbooks", "credit_memos"],
    deps=[CREDIT_PAYLOADS, dg.AssetKey(["quickbooks", "payments"]), dg.AssetKey(["quickbooks", "invoices"])],
    description="QBO CreditMemos, applied to their bill's invoice by a zero-total Payment.",
    **LOAD,
)
@fail_fast
def qbo_credit_memos(
    context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource
) -> dg.MaterializeResult:
    rt = staging.runtime(qbo=qbo)
    pk = context.partition_key
    memos = load_payloads(rt.store, CREDIT_SOURCE_TYPE, [pk])
    applications = load_payloads(rt.store, APPLY_SOURCE_TYPE, [pk])
    refs = ensure_reference_data(rt.qbo, rt.mapping)
    customers = ensure_customers(rt.qbo, rt.ledger, rt.store, rt.mapping, _customers_of(memos), pk)
    report = sync_credit_memos(rt.qbo, rt.ledger, memos, refs)
    applied = sync_credit_applications(rt.qbo, rt.ledger, applications, refs)
    metadata = report_metadata(report)
    metadata.update({f"application_{k}": v for k, v in report_metadata(applied).items()})
    metadata["customers_synced"] = _written(customers)
    return dg.MaterializeResult(metadata=metadata)


def _written(report: WriteReport) -> int:
    return sum(report.counts.get(a, 0) for a in ("created", "linked", "updated"))
