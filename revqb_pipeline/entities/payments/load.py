"""The payments load: payment payload rows -> QBO Payments through the ledgered writer (plus voids and
folded reversal rows), and the helpers the credit load shares (``prepare``, ``ensure_customers``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.customers.sync import sync_customers
from revqb_pipeline.entities.payments.decisions import record, record_rows
from revqb_pipeline.entities.payments.markers import MarkerAdapter
from revqb_pipeline.entities.payments.source_types import CUSTOMER_SOURCE_TYPE, SOURCE_TYPE
from revqb_pipeline.entities.payments.voids import void_payments
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.resolver import Resolver, prepare_requests
from revqb_pipeline.sync.writer import LedgeredWriter, WriteReport, WriteRequest


def ensure_customers(
    qbo: QBOClient,
    ledger: Ledger,
    store: StagingStore,
    cfg: MappingConfig,
    customer_ids: Iterable[int | str],
    partition_key: str | None,
) -> WriteReport:
    """Sync the staged customers among ``customer_ids`` that have no synced QBO customer yet."""
    wanted = {str(c) for c in customer_ids}
    rows_of = ledger.get_many(CUSTOMER_SOURCE_TYPE, sorted(wanted))  # only these customers' rows
    have = {sid for sid, r in rows_of.items() if r.status == LedgerStatus.SYNCED and r.qbo_id}
    missing = sorted(wanted - have, key=int)
    rows = store.rows_in("stg_customers", "customer_id", [int(c) for c in missing]) if missing else []
    return sync_customers(qbo, ledger, rows, cfg, partition_key) if rows else WriteReport()


def prepare(
    rows: list[dict[str, Any]],
    ledger: Ledger,
    resolver: Resolver,
    source_type: str,
    report: WriteReport,
) -> list[WriteRequest]:
    """Write requests for payment/credit payload rows (their body sits under ``payload.body``)."""
    return prepare_requests(
        rows, ledger, resolver, source_type, report, body_of=lambda r: r["payload"]["body"]
    )


def _resolved_customer(row: dict[str, Any], resolver: Resolver) -> dict[str, Any] | None:
    cid = str(row["payload"].get("customer_id") or "")
    qid = resolver.synced_id(CUSTOMER_SOURCE_TYPE, cid) if cid else None
    return {"CustomerRef": {"value": qid}} if qid else None


def sync_payments(
    qbo: QBOClient, ledger: Ledger, rows: list[dict[str, Any]], refs: RefIds, cfg: MappingConfig
) -> WriteReport:
    """Load payment payload rows: voids first (they free invoice balance), then creates/updates through
    the ledgered writer, then the folded refund/reversal rows and rejections are recorded."""
    report = WriteReport()
    resolver = Resolver.load(ledger, refs)
    adapter = MarkerAdapter(qbo, cfg.invoice.payment_note_marker)
    by_decision: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_decision.setdefault(row["payload"]["decision"], []).append(row)
    void_rows = by_decision.get("void", [])
    void_customers = [str(r["payload"]["customer_id"]) for r in void_rows if r["payload"].get("customer_id")]
    resolver.prime_keys(CUSTOMER_SOURCE_TYPE, void_customers)  # one read for the voids' customers
    voids = [
        (str(r["source_id"]), r["payload"]["reason"], _resolved_customer(r, resolver) or {})
        for r in void_rows
    ]
    pk = rows[0].get("partition_key") if rows else None
    void_payments(qbo, ledger, adapter, voids, SOURCE_TYPE, report, pk)
    requests = prepare(by_decision.get("post", []), ledger, resolver, SOURCE_TYPE, report)
    report.merge(LedgeredWriter(qbo, ledger, adapter).write(requests))
    for decision, status in (("wait", LedgerStatus.WAITING), ("reject", LedgerStatus.QUARANTINED)):
        record_rows(ledger, report, by_decision.get(decision, []), SOURCE_TYPE, status, qbo_entity="Payment")
    current = ledger.get_many(
        SOURCE_TYPE, [str(r["payload"]["original_payment_id"]) for r in by_decision.get("fold", [])]
    )
    for row in by_decision.get("fold", []):
        sid = str(row["source_id"])
        orig = str(row["payload"]["original_payment_id"])
        o = current.get(orig)
        reason = row["payload"]["reason"]
        if o is not None and o.status in (LedgerStatus.SYNCED, LedgerStatus.VOIDED):
            status = o.status
            how = "voided" if status == LedgerStatus.VOIDED else "netted into"
            detail = f"{reason} ({how} QBO Payment {o.qbo_id})"
            changed = record(
                ledger,
                SOURCE_TYPE,
                sid,
                status,
                detail,
                action="folded",
                qbo_entity="Payment",
                qbo_id=o.qbo_id,
                partition_key=row.get("partition_key"),
            )
            report.record(sid, "folded" if changed else "unchanged", detail, qbo_id=o.qbo_id)
        else:
            detail = f"{reason}; waiting for Rev.io payment {orig} ({o.status if o else 'not synced yet'})"
            record(
                ledger,
                SOURCE_TYPE,
                sid,
                LedgerStatus.WAITING,
                detail,
                action="waiting",
                qbo_entity="Payment",
                partition_key=row.get("partition_key"),
            )
            report.record(sid, "waiting", detail)
    return report
