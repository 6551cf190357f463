"""The working set of a payments/credits load, read from staging and the ledger.

A load works on a *working set*: the partition's payments and credits, every payment and credit of the
bills they touch (allocation is per bill), whole refund/bounce families, and every earlier record still
``waiting`` / ``failed`` / ``in_flight`` (so a payment that arrived before its invoice is applied by the
first load after the invoice lands).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.entities.payments.source_types import (
    APPLY_SOURCE_TYPE,
    BILL_SOURCE_TYPE,
    CREDIT_SOURCE_TYPE,
    SOURCE_TYPE,
)
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore

REDRIVE_STATUSES = (LedgerStatus.WAITING, LedgerStatus.FAILED, LedgerStatus.IN_FLIGHT, LedgerStatus.PENDING)


@dataclass
class WorkingSet:
    """Staged rows a payments/credits load needs (``stg_*`` dicts keyed by id)."""

    payments: dict[int, dict[str, Any]] = field(default_factory=dict)
    credits: dict[int, dict[str, Any]] = field(default_factory=dict)
    bills: dict[int, dict[str, Any]] = field(default_factory=dict)
    held_bills: dict[int, str] = field(default_factory=dict)  # bill id -> why it is not staged

    def bill_wait_reason(self, bill_id: Any) -> str:
        """Why a record on ``bill_id`` waits for that bill's invoice, naming the bill (and its cause)."""
        why = self.held_bills.get(int(bill_id))
        state = f"the bill is quarantined: {why}" if why else "the bill is not staged yet"
        return f"waiting for the invoice of Rev.io bill {bill_id} ({state})"


def _ids(rows: Iterable[Any]) -> list[str]:
    return [r.source_id for r in rows if str(r.source_id).isdigit()]


def gather(store: StagingStore, ledger: Ledger, partition_key: str) -> WorkingSet:
    """The working set of one partition (see the module docstring)."""
    ws = WorkingSet()
    part_bills = {int(b["bill_id"]) for b in store.rows("stg_bills", partition_key=partition_key)}
    pays = {int(p["payment_id"]): p for p in store.rows("stg_payments", partition_key=partition_key)}
    creds = {int(c["credit_memo_id"]): c for c in store.rows("stg_credits", partition_key=partition_key)}
    redrive_p = _ids(ledger.rows(source_type=SOURCE_TYPE, statuses=REDRIVE_STATUSES))
    redrive_c = _ids(ledger.rows(source_type=CREDIT_SOURCE_TYPE, statuses=REDRIVE_STATUSES))
    redrive_c += _ids(ledger.rows(source_type=APPLY_SOURCE_TYPE, statuses=REDRIVE_STATUSES))
    if redrive_p:
        pays.update({int(p["payment_id"]): p for p in store.rows_in("stg_payments", "payment_id", redrive_p)})
    if redrive_c:
        creds.update(
            {int(c["credit_memo_id"]): c for c in store.rows_in("stg_credits", "credit_memo_id", redrive_c)}
        )
    bill_ids = part_bills | {int(r["bill_id"]) for r in [*pays.values(), *creds.values()] if r.get("bill_id")}
    if bill_ids:
        ids = sorted(bill_ids)
        pays.update({int(p["payment_id"]): p for p in store.rows_in("stg_payments", "bill_id", ids)})
        creds.update({int(c["credit_memo_id"]): c for c in store.rows_in("stg_credits", "bill_id", ids)})
    # whole families: originals of reversal/refund rows, and the reversal/refund rows of originals
    originals = sorted({int(p["original_payment_id"]) for p in pays.values() if p.get("original_payment_id")})
    if originals:
        pays.update({int(p["payment_id"]): p for p in store.rows_in("stg_payments", "payment_id", originals)})
    children = store.rows_in("stg_payments", "original_payment_id", sorted(pays)) if pays else []
    pays.update({int(p["payment_id"]): p for p in children})
    more_bills = {int(p["bill_id"]) for p in pays.values() if p.get("bill_id")} - bill_ids
    if more_bills:
        ids = sorted(more_bills)
        pays.update({int(p["payment_id"]): p for p in store.rows_in("stg_payments", "bill_id", ids)})
        creds.update({int(c["credit_memo_id"]): c for c in store.rows_in("stg_credits", "bill_id", ids)})
        bill_ids |= more_bills
    if bill_ids:
        ws.bills = {int(b["bill_id"]): b for b in store.rows_in("stg_bills", "bill_id", sorted(bill_ids))}
        unstaged = sorted(bill_ids - set(ws.bills))
        ws.held_bills = {
            int(sid): row.last_error or "quarantined"
            for sid, row in (ledger.get_many(BILL_SOURCE_TYPE, unstaged) if unstaged else {}).items()
            if row.status == LedgerStatus.QUARANTINED
        }
    ws.payments = dict(sorted(pays.items()))
    ws.credits = dict(sorted(creds.items()))
    return ws
