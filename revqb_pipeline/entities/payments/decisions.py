"""Ledger rows of decisions that write nothing to QBO (wait, reject, fold, void of nothing)."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
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
    row = ledger.get(source_type, sid)
    if (
        row is not None
        and row.status == status
        and row.last_error
        == (detail if status in (LedgerStatus.WAITING, LedgerStatus.QUARANTINED) else row.last_error)
    ):
        if status not in (LedgerStatus.SYNCED, LedgerStatus.VOIDED) or row.qbo_id == qbo_id:
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
    it under the same action."""
    action = "waiting" if status == LedgerStatus.WAITING else "quarantined"
    for row in rows:
        sid = str(row["source_id"])
        reason = row["payload"]["reason"]
        record(
            ledger,
            source_type,
            sid,
            status,
            reason,
            action=action,
            qbo_entity=qbo_entity,
            partition_key=row.get("partition_key"),
        )
        report.record(sid, action, reason)
