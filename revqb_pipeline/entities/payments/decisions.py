"""Ledger rows of decisions that write nothing to QBO (wait, reject, fold, void of nothing)."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.staging.ledger import Ledger, LedgerRow, LedgerStatus, Parked
from revqb_pipeline.sync.writer import WriteReport


def record(
    ledger: Ledger,
    source_type: str,
    sid: str,
    status: LedgerStatus,
    detail: str,
    *,
    action: str,
    qbo_entity: str,
    qbo_id: str | None = None,
    partition_key: str | None = None,
    business_key: str | None = None,
) -> bool:
    """Record a decision that writes nothing (fold, void of nothing, reject); no-op when already recorded.

    Returns True when the ledger changed. (Uses the ledger's upsert: the public API has no status setter
    for rows without a write.)
    """
    if _already(ledger.get(source_type, sid), status, detail, qbo_id):
        return False
    if status == LedgerStatus.WAITING:
        ledger.mark_waiting(
            source_type,
            sid,
            reason=detail,
            qbo_entity=qbo_entity,
            partition_key=partition_key,
            business_key=business_key,
        )
        return True
    if status == LedgerStatus.QUARANTINED:
        ledger.quarantine(
            source_type,
            sid,
            reason=detail,
            qbo_entity=qbo_entity,
            partition_key=partition_key,
            business_key=business_key,
        )
        return True
    ledger.record_decision(
        source_type,
        sid,
        status=status,
        action=action,
        detail=detail,
        qbo_id=qbo_id,
        qbo_entity=qbo_entity,
        partition_key=partition_key,
        business_key=business_key,
    )
    return True


def _already(row: LedgerRow | None, status: LedgerStatus, detail: str, qbo_id: str | None) -> bool:
    """True when ``row`` already records this decision (nothing to write)."""
    if row is None or row.status != status:
        return False
    if status in (LedgerStatus.WAITING, LedgerStatus.QUARANTINED) and row.last_error != detail:
        return False
    return status not in (LedgerStatus.SYNCED, LedgerStatus.VOIDED) or row.qbo_id == qbo_id


def record_rows(
    ledger: Ledger,
    report: WriteReport,
    rows: list[dict[str, Any]],
    source_type: str,
    status: LedgerStatus,
    *,
    qbo_entity: str,
) -> None:
    """Record each payload row as ``status`` (waiting or quarantined) with its decision's reason, and report
    it under the same action: one batched read, and one ledger transaction for the rows that changed."""
    if status not in (LedgerStatus.WAITING, LedgerStatus.QUARANTINED):
        raise ValueError(f"record_rows: waiting or quarantined, not {status}")
    action = "waiting" if status == LedgerStatus.WAITING else "quarantined"
    current = ledger.get_many(source_type, [str(row["source_id"]) for row in rows]) if rows else {}
    changed: list[Parked] = []
    for row in rows:
        sid = str(row["source_id"])
        reason = row["payload"]["reason"]
        if not _already(current.get(sid), status, reason, None):
            changed.append(
                Parked(
                    source_type,
                    sid,
                    status,
                    reason,
                    qbo_entity=qbo_entity,
                    partition_key=row.get("partition_key"),
                )
            )
        report.record(sid, action, reason)
    ledger.park_many(changed)
