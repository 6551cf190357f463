"""Voids of QBO Payments (bounced or fully refunded payments, credit applications no longer needed)."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.clients.errors import QBOTransportError
from revqb_pipeline.clients.qbo import BatchOp, QBOClient
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.decisions import record
from revqb_pipeline.entities.payments.markers import MarkerAdapter
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.writer import (
    WriteReport,
    WriteRequest,
    chunk_request_id,
    read_by_ids,
    send_batches,
)


def void_payments(
    qbo: QBOClient,
    ledger: Ledger,
    adapter: MarkerAdapter,
    targets: list[tuple[str, str, dict[str, Any]]],
    source_type: str,
    report: WriteReport,
    partition_key: str | None,
) -> None:
    """Void the QBO Payment of each ``(source_id, reason, customer symbolic body)``; idempotent.

    The current entity is read first (already voided -> just recorded). A record never written is looked
    up by marker when its last write's outcome is unknown; if nothing is in QBO the decision is recorded.
    """
    rows = ledger.get_many(source_type, [sid for sid, _, _ in targets])
    todo: list[tuple[str, str, str]] = []  # (sid, qbo id, reason)
    unknown: list[WriteRequest] = []
    for sid, reason, body in targets:
        row = rows.get(sid)
        if row is not None and row.status == LedgerStatus.VOIDED:
            report.record(sid, "unchanged", qbo_id=row.qbo_id)
            continue
        if row is not None and row.qbo_id:
            todo.append((sid, row.qbo_id, reason))
        elif row is not None and row.status in (LedgerStatus.IN_FLIGHT, LedgerStatus.FAILED) and body:
            unknown.append(WriteRequest(source_type, sid, "Payment", body))
        else:
            record(
                ledger,
                source_type,
                sid,
                LedgerStatus.VOIDED,
                f"{reason}; nothing was in QBO, nothing to void",
                action="voided",
                qbo_entity="Payment",
                partition_key=partition_key,
            )
            report.record(sid, "voided", "never reached QBO")
    if unknown:
        found = adapter.lookup(unknown)
        for req in unknown:
            hit = found.get(req.source_id)
            reason = next(r for s, r, _ in targets if s == req.source_id)
            if hit is not None:
                todo.append((req.source_id, str(hit["Id"]), reason))
            else:
                record(
                    ledger,
                    source_type,
                    req.source_id,
                    LedgerStatus.VOIDED,
                    f"{reason}; not found in QBO, nothing to void",
                    action="voided",
                    qbo_entity="Payment",
                    partition_key=partition_key,
                )
                report.record(req.source_id, "voided", "never reached QBO")
    if not todo:
        return
    current = read_by_ids(qbo, "Payment", [q for _, q, _ in todo])
    ops: list[tuple[str, str, str, dict[str, Any]]] = []
    for sid, qid, reason in todo:
        cur = current.get(qid)
        if cur is None or pm.is_voided(cur):
            state = "already voided" if cur is not None else "no longer in QBO"
            record(
                ledger,
                source_type,
                sid,
                LedgerStatus.VOIDED,
                f"{reason}; QBO Payment {qid} {state}",
                action="voided",
                qbo_entity="Payment",
                qbo_id=qid,
                partition_key=partition_key,
            )
            report.record(sid, "voided", qbo_id=qid)
            continue
        ops.append((sid, qid, reason, cur))

    def void_op(i: int, op: tuple[str, str, str, dict[str, Any]]) -> BatchOp:
        _, qid, _, cur = op
        body = {"Id": qid, "SyncToken": str(cur.get("SyncToken", "0")), "sparse": True}
        return BatchOp(bid=f"v{i}", operation="update", entity="Payment", body=body, options_data="void")

    def void_rid(chunk: list[tuple[str, str, str, dict[str, Any]]]) -> str:
        return chunk_request_id([f"void:{qid}:{cur.get('SyncToken')}" for _, qid, _, cur in chunk])

    for sent in send_batches(qbo, ops, void_op, void_rid):
        if sent.error is not None:
            # outcome unknown or refused: the next load re-reads the payments and tries again
            exc = sent.error
            for sid, qid, _reason, _ in sent.items:
                ledger.mark_failed(
                    source_type, sid, code=exc.code or None, error=f"void: {exc}", transient=True
                )
                report.record(sid, "failed", f"void of QBO Payment {qid}: {exc}")
            continue
        for i, (sid, qid, reason, _) in enumerate(sent.items):
            item = sent.results.get(f"v{i}")
            if item is not None and item.ok:
                record(
                    ledger,
                    source_type,
                    sid,
                    LedgerStatus.VOIDED,
                    f"{reason}; voided QBO Payment {qid}",
                    action="voided",
                    qbo_entity="Payment",
                    qbo_id=qid,
                    partition_key=partition_key,
                )
                report.record(sid, "voided", qbo_id=qid)
            else:
                err = item.error if item is not None else None
                transient = err is None or err.transient or isinstance(err, QBOTransportError)
                text = f"void of QBO Payment {qid}: {err}"
                ledger.mark_failed(
                    source_type, sid, code=err.code if err else None, error=text, transient=transient
                )
                report.record(sid, "failed" if transient else "quarantined", text)
