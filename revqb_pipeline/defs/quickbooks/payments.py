"""Payments and credits: extract -> staging -> payloads -> loaded, on the daily bill-date partitions.

Partitioning: a payment or credit belongs to the day it was *created* in Rev.io, and also to the day of the
bill it is posted on (it is re-read with that bill's children). Loads work on a per-bill working set and
re-drive every waiting record (``sync/payments.py``), so a payment staged before its invoice exists waits
and is applied by the run in which the invoice lands. Customers of these records are synced by the loads
themselves when the partition's customer asset did not cover them.
"""

from functools import partial
from typing import Any

import dagster as dg

from revqb_pipeline.clients.errors import RevioError
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.partitions import naive_window
from revqb_pipeline.defs.quickbooks.assets import LOAD, MAPPING, md_table, report_metadata
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.defs.revio.assets import COMMON as EXTRACT
from revqb_pipeline.defs.staging.assets import COMMON as STAGE
from revqb_pipeline.defs.staging.assets import _result as stage_result
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.mapping.credits import credit_memo_total_cents
from revqb_pipeline.mapping.normalize import record_key, record_token
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.credits import sync_credit_applications, sync_credit_memos
from revqb_pipeline.sync.extract import fetch_children_for_bills, fetch_customers, window_end_inclusive
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.payments import (
    APPLY_SOURCE_TYPE,
    CREDIT_SOURCE_TYPE,
    SOURCE_TYPE,
    build_documents,
    ensure_customers,
    gather,
    payload_digest,
    sync_payments,
)
from revqb_pipeline.sync.reference import ensure_reference_data
from revqb_pipeline.sync.stage import stage_customers, stage_records
from revqb_pipeline.sync.writer import WriteReport

PAYMENT_PAYLOADS = dg.AssetKey(["quickbooks", "payment_payloads"])
CREDIT_PAYLOADS = dg.AssetKey(["quickbooks", "credit_memo_payloads"])
PER_ID_CUSTOMER_LIMIT = 25


# ----- extract ----------------------------------------------------------------------------------------


def _partition_records(
    client: RevioClient, resource: str, bills: list[dict], context: dg.AssetExecutionContext
) -> list[dict]:
    """Records created on the partition's day plus the children of the partition's bills."""
    start, end = naive_window(context)
    pk = {"payments": "payment_id", "credits": "credit_memo_id"}[resource]
    total = "credit_memo_amount" if resource == "credits" else None
    out = {
        record_token(r, pk): r
        for r in getattr(client, resource)(created_start=start, created_end=window_end_inclusive(end))
    }
    for rec in fetch_children_for_bills(client, resource, bills, start, end, total_field=total):
        out[record_token(rec, pk)] = rec
    if resource == "payments":  # reversal/refund rows need their original (its flags may have changed)
        for orig in sorted({o for r in out.values() if (o := record_key(r, "original_payment_id"))}):
            if record_token({pk: orig}, pk) not in out and (rec := _get_or_none(client, "Payments", orig)):
                out[record_token(rec, pk)] = rec
    return [out[k] for k in sorted(out)]


def _get_or_none(client: RevioClient, resource: str, rid: int) -> dict | None:
    """One record by id; ``None`` when Rev.io has no such record (a dangling reference in another
    record, which staging or the payment plan then reports)."""
    try:
        return client.get(resource, rid)
    except RevioError as exc:
        if exc.status == 404:
            return None
        raise


def _missing_customers(client: RevioClient, store: StagingStore, records: list[dict]) -> list[dict]:
    """Rev.io customers of ``records`` that are not staged yet (per id when few, else one paged read)."""
    ids = sorted({c for r in records if (c := record_key(r, "customer_id"))})
    have = (
        {int(c["customer_id"]) for c in store.rows_in("stg_customers", "customer_id", ids)} if ids else set()
    )
    missing = [i for i in ids if i not in have]
    if len(missing) <= PER_ID_CUSTOMER_LIMIT:
        return [c for i in missing if (c := _get_or_none(client, "Customers", i))]
    return fetch_customers(client, missing)


@dg.asset(
    key=["revio", "payments"],
    ins={"bills": dg.AssetIn(key=["revio", "bills"])},
    description="Payments created on the partition's day or posted on its bills (+ originals of reversals).",
    **EXTRACT,
)
@fail_fast
def revio_payments(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource, bills: list[dict]
) -> dict[str, list[dict]]:
    rt = staging.runtime(revio=revio)
    records = _partition_records(rt.revio, "payments", bills, context)
    out = {"records": records, "customers": _missing_customers(rt.revio, rt.store, records)}
    context.add_output_metadata({k: len(v) for k, v in out.items()})
    return out


@dg.asset(
    key=["revio", "credits"],
    ins={"bills": dg.AssetIn(key=["revio", "bills"])},
    description="Credits created on the partition's day or posted on its bills.",
    **EXTRACT,
)
@fail_fast
def revio_credits(
    context: dg.AssetExecutionContext, revio: RevioResource, staging: StagingResource, bills: list[dict]
) -> dict[str, list[dict]]:
    rt = staging.runtime(revio=revio)
    records = _partition_records(rt.revio, "credits", bills, context)
    out = {"records": records, "customers": _missing_customers(rt.revio, rt.store, records)}
    context.add_output_metadata({k: len(v) for k, v in out.items()})
    return out


# ----- staging ----------------------------------------------------------------------------------------


def _stage(
    staging: StagingResource,
    pk: str,
    extract: dict[str, list[dict]],
    *,
    table: str,
    resource: str,
    source_type: str,
    key: str,
    normalize: Any,
) -> dg.MaterializeResult:
    rt = staging.runtime()
    customers = stage_customers(rt.store, rt.ledger, extract["customers"], pk)
    report = stage_records(
        rt.store,
        rt.ledger,
        table=table,
        resource=resource,
        source_type=source_type,
        pk=key,
        raws=extract["records"],
        normalize=normalize,
        partition_key=pk,
    )
    report.quarantined.update({f"customer {k}": v for k, v in customers.quarantined.items()})
    result = stage_result(report)
    return dg.MaterializeResult(metadata={**(result.metadata or {}), "customers_staged": customers.inserted})


@dg.asset(key=["staging", "payments"], ins={"extract": dg.AssetIn(key=["revio", "payments"])}, **STAGE)
@fail_fast
def staging_payments(
    context: dg.AssetExecutionContext, staging: StagingResource, extract: dict[str, list[dict]]
) -> dg.MaterializeResult:
    pk = context.partition_key
    return _stage(
        staging,
        pk,
        extract,
        table="stg_payments",
        resource="Payments",
        source_type=SOURCE_TYPE,
        key="payment_id",
        normalize=partial(norm.normalize_payment, partition_key=pk),
    )


@dg.asset(key=["staging", "credits"], ins={"extract": dg.AssetIn(key=["revio", "credits"])}, **STAGE)
@fail_fast
def staging_credits(
    context: dg.AssetExecutionContext, staging: StagingResource, extract: dict[str, list[dict]]
) -> dg.MaterializeResult:
    pk = context.partition_key
    cfg = staging.runtime().mapping
    return _stage(
        staging,
        pk,
        extract,
        table="stg_credits",
        resource="Credits",
        source_type=CREDIT_SOURCE_TYPE,
        key="credit_memo_id",
        normalize=partial(norm.normalize_credit, partition_key=pk, cfg=cfg),
    )


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
