"""Payments' and credits' daily QBO steps.

Partitioning: a payment or credit belongs to the day it was *created* in Rev.io, and also to the day of the
bill it is posted on (it is re-read with that bill's children). Loads work on a per-bill working set and
re-drive every waiting record (``working_set.py``), so a payment staged before its invoice exists waits and
is applied by the run in which the invoice lands. Customers of these records are synced by the loads
themselves when the partition's customer asset did not cover them.
"""

from __future__ import annotations

from typing import Any

from revqb_pipeline.entities.payments.credit_load import sync_credit_applications, sync_credit_memos
from revqb_pipeline.entities.payments.credit_mapping import credit_memo_total_cents
from revqb_pipeline.entities.payments.documents import build_documents, payload_digest
from revqb_pipeline.entities.payments.load import ensure_customers, sync_payments
from revqb_pipeline.entities.payments.source_types import APPLY_SOURCE_TYPE, CREDIT_SOURCE_TYPE, SOURCE_TYPE
from revqb_pipeline.entities.payments.working_set import gather
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.reference_data import RefIds, ensure_reference_data
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import (
    CheckOutcome,
    CheckSpec,
    Step,
    StepResult,
    md_table,
    report_metadata,
    written,
)

STAGED = ("staging/payments", "staging/credits", "staging/bills")


def _decisions(rows: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["payload"]["decision"]] = counts.get(r["payload"]["decision"], 0) + 1
    return counts


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


def payment_payloads(rt: Runtime, partition_key: str) -> StepResult:
    """A decision per Rev.io payment (post / void / fold / reject) and its QBO Payment body, checked."""
    docs = build_documents(gather(rt.store, rt.ledger, partition_key), rt.mapping, partition_key)
    save_payloads(rt.store, docs.payments)
    bad: dict[str, str] = {}
    for row in docs.payments:
        body = row["payload"]["body"]
        if not body:
            continue
        applied = sum(ln["Amount"] for ln in body["Line"])
        if body["TotalAmt"] < 0 or applied > body["TotalAmt"]:
            bad[row["source_id"]] = f"TotalAmt {body['TotalAmt']}, applied {applied}"
    check = CheckOutcome(
        "payment_amounts_valid",
        passed=not bad,
        metadata={"invalid": len(bad), **({"payments": md_table(bad, "payment")} if bad else {})},
    )
    metadata = {
        "payloads": len(docs.payments),
        **_decisions(docs.payments),
        "digest": payload_digest(docs.payments),
    }
    return StepResult(metadata, checks=[check])


def credit_memo_payloads(rt: Runtime, partition_key: str) -> StepResult:
    """One QBO CreditMemo body per Rev.io credit and the zero-total Payment applying it, checked."""
    ws = gather(rt.store, rt.ledger, partition_key)
    docs = build_documents(ws, rt.mapping, partition_key)
    save_payloads(rt.store, docs.credits + docs.applications)
    bad: dict[str, str] = {}
    for row in docs.credits:
        body = row["payload"]["body"]
        want = int(ws.credits[int(row["source_id"])]["amount_cents"])
        if body and credit_memo_total_cents(body) != want:
            bad[row["source_id"]] = f"memo {credit_memo_total_cents(body)} cents vs Rev.io {want} cents"
    check = CheckOutcome(
        "credit_memo_totals_tie",
        passed=not bad,
        metadata={"mismatched": len(bad), **({"credits": md_table(bad, "credit")} if bad else {})},
    )
    metadata = {
        "credit_memos": len(docs.credits),
        "applications": sum(1 for r in docs.applications if r["payload"]["decision"] == "apply"),
        "rejected": sum(1 for r in docs.credits if r["payload"]["decision"] == "reject"),
        "digest": payload_digest(docs.credits + docs.applications),
    }
    return StepResult(metadata, checks=[check])


def load_payments(rt: Runtime, partition_key: str) -> StepResult:
    """QBO Payments applied to their invoices; bounced ones voided, refunds netted, waits re-driven."""
    rows = load_payloads(rt.store, SOURCE_TYPE, [partition_key])
    refs = ensure_reference_data(rt.qbo, rt.mapping) if rows else RefIds()  # only read to resolve rows
    customers = ensure_customers(rt.qbo, rt.ledger, rt.store, rt.mapping, _customers_of(rows), partition_key)
    report = sync_payments(rt.qbo, rt.ledger, rows, refs, rt.mapping)
    metadata = report_metadata(report)
    metadata.update({"folded": report.counts.get("folded", 0), "customers_synced": written(customers)})
    return StepResult(metadata)


def load_credit_memos(rt: Runtime, partition_key: str) -> StepResult:
    """QBO CreditMemos, applied to their bill's invoice by a zero-total Payment."""
    memos = load_payloads(rt.store, CREDIT_SOURCE_TYPE, [partition_key])
    applications = load_payloads(rt.store, APPLY_SOURCE_TYPE, [partition_key])
    refs = ensure_reference_data(rt.qbo, rt.mapping) if memos or applications else RefIds()
    customers = ensure_customers(rt.qbo, rt.ledger, rt.store, rt.mapping, _customers_of(memos), partition_key)
    report = sync_credit_memos(rt.qbo, rt.ledger, memos, refs)
    applied = sync_credit_applications(rt.qbo, rt.ledger, applications, refs)
    metadata = report_metadata(report)
    metadata.update({f"application_{k}": v for k, v in report_metadata(applied).items()})
    metadata["customers_synced"] = written(customers)
    return StepResult(metadata)


STEPS = (
    Step(
        "payment_payloads",
        "A decision per Rev.io payment (post / void / fold / reject) and the QBO Payment body.",
        deps=STAGED,
        run=payment_payloads,
        checks=(
            CheckSpec(
                "payment_amounts_valid",
                "TotalAmt >= 0 and the amount applied to invoices never exceeds it.",
                blocking=True,
            ),
        ),
    ),
    Step(
        "credit_memo_payloads",
        "One QBO CreditMemo body per Rev.io credit, and the zero-total Payment applying it.",
        deps=STAGED,
        run=credit_memo_payloads,
        checks=(
            CheckSpec(
                "credit_memo_totals_tie",
                "Every credit memo totals the Rev.io credit amount (tax included) to the cent.",
                blocking=True,
            ),
        ),
    ),
    Step(
        "payments",
        "QBO Payments applied to their invoices; bounced voided, refunds netted, waits re-driven.",
        deps=("quickbooks/payment_payloads", "quickbooks/invoices", "quickbooks/customers"),
        run=load_payments,
        load=True,
    ),
    Step(
        "credit_memos",
        "QBO CreditMemos, applied to their bill's invoice by a zero-total Payment.",
        deps=("quickbooks/credit_memo_payloads", "quickbooks/payments", "quickbooks/invoices"),
        run=load_credit_memos,
        load=True,
    ),
)
