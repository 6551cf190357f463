"""Rev.io credits -> QBO CreditMemos (by DocNumber) and their zero-total applications (by marker).

Order inside a load: credit memos first, then the applications, which need both the memo and the bill's
invoice in QBO (else they wait with the reason and are re-driven by every later load). Payments are loaded
before credits in a run, and the allocation gives credits the first claim on an invoice, so no write ever
applies more than an invoice's open balance.
"""

from __future__ import annotations

from typing import Any

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.invoices.mapping import invoice_update_payload
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.decisions import record_rows
from revqb_pipeline.entities.payments.load import prepare
from revqb_pipeline.entities.payments.markers import MarkerAdapter
from revqb_pipeline.entities.payments.source_types import APPLY_SOURCE_TYPE, CREDIT_SOURCE_TYPE
from revqb_pipeline.entities.payments.voids import void_payments
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.resolver import Resolver
from revqb_pipeline.sync.writer import DocNumberAdapter, LedgeredWriter, WriteReport


def sync_credit_memos(
    qbo: QBOClient, ledger: Ledger, rows: list[dict[str, Any]], refs: RefIds
) -> WriteReport:
    """Create or update one QBO CreditMemo per credit payload row; rejected credits are quarantined."""
    report = WriteReport()
    resolver = Resolver.load(ledger, refs)
    post = [r for r in rows if r["payload"]["decision"] == "post"]
    rejected = [r for r in rows if r["payload"]["decision"] == "reject"]
    quarantined = LedgerStatus.QUARANTINED
    record_rows(ledger, report, rejected, CREDIT_SOURCE_TYPE, quarantined, qbo_entity="CreditMemo")
    requests = prepare(post, ledger, resolver, CREDIT_SOURCE_TYPE, report)
    adapter = DocNumberAdapter(qbo, "CreditMemo", invoice_update_payload)  # sparse updates, as invoices
    report.merge(LedgeredWriter(qbo, ledger, adapter).write(requests))
    return report


def sync_credit_applications(
    qbo: QBOClient, ledger: Ledger, rows: list[dict[str, Any]], refs: RefIds
) -> WriteReport:
    """Apply each credit memo to its bill's invoice with a zero-total Payment (``revio:credit-apply:<id>``);
    an application no longer needed (allocation 0) is voided if it exists."""
    report = WriteReport()
    resolver = Resolver.load(ledger, refs)  # after the memos were written: sees the new memo ids
    adapter = MarkerAdapter(qbo, pm.CREDIT_APPLY_MARKER)
    existing = ledger.get_many(APPLY_SOURCE_TYPE, [str(r["source_id"]) for r in rows])
    stale = [
        (str(r["source_id"]), r["payload"]["reason"], {})
        for r in rows
        if r["payload"]["decision"] == "none"
        and (row := existing.get(str(r["source_id"]))) is not None
        and row.status != LedgerStatus.VOIDED
    ]
    pk = rows[0].get("partition_key") if rows else None
    if stale:
        void_payments(qbo, ledger, adapter, stale, APPLY_SOURCE_TYPE, report, pk)
    waiting = [r for r in rows if r["payload"]["decision"] == "wait"]  # rows of one partition (pk)
    record_rows(ledger, report, waiting, APPLY_SOURCE_TYPE, LedgerStatus.WAITING, qbo_entity="Payment")
    apply = [r for r in rows if r["payload"]["decision"] == "apply"]
    requests = prepare(apply, ledger, resolver, APPLY_SOURCE_TYPE, report)
    report.merge(LedgeredWriter(qbo, ledger, adapter).write(requests))
    return report
