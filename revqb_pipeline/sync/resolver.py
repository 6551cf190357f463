"""Resolving symbolic references in built payloads, and turning payload rows into write requests.

A reference to something not in QBO yet (a customer, a bill's invoice, a credit memo) makes the record
*wait*; a reference to reference data the mapping should have created (an item, a payment method, an
account) *quarantines* it with the missing name.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from revqb_pipeline.mapping.symbols import (
    ACCOUNT_PREFIX,
    BILL_PREFIX,
    CREDIT_PREFIX,
    CUSTOMER_PREFIX,
    ITEM_PREFIX,
    PAYMENT_METHOD_PREFIX,
)
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.writer import WriteReport, WriteRequest

CREDIT_SOURCE_TYPE = "credit"


class Unresolved(Exception):
    """A symbolic reference with no QBO id yet; ``waits`` says whether the record waits or is quarantined."""

    def __init__(self, kind: str, key: str, waits: bool):
        super().__init__(f"{kind} {key}")
        self.kind = kind
        self.key = key
        self.waits = waits


def synced_ids(ledger: Ledger, source_type: str) -> dict[str, str]:
    """source_id -> QBO Id of every synced ledger row of ``source_type``."""
    return {
        r.source_id: r.qbo_id
        for r in ledger.rows(source_type=source_type, statuses=[LedgerStatus.SYNCED])
        if r.qbo_id
    }


def synced_customers(ledger: Ledger) -> dict[str, str]:
    """Rev.io customer id -> QBO customer Id, for every customer the ledger has synced."""
    return synced_ids(ledger, "customer")


@dataclass
class Resolver:
    """Swaps symbolic references (customer, invoice, credit memo, item, payment method, account) for Ids."""

    customers: dict[str, str]
    invoices: dict[str, str]
    credit_memos: dict[str, str]
    refs: RefIds

    @classmethod
    def load(cls, ledger: Ledger, refs: RefIds) -> Resolver:
        return cls(
            synced_customers(ledger), synced_ids(ledger, "bill"), synced_ids(ledger, CREDIT_SOURCE_TYPE), refs
        )

    def _swap(self, ref: dict[str, Any]) -> None:
        value = str(ref.get("value", ""))
        table: list[tuple[str, str, dict[str, str], bool]] = [
            (CUSTOMER_PREFIX, "customer", self.customers, True),
            (BILL_PREFIX, "invoice", self.invoices, True),
            (CREDIT_PREFIX, "credit memo", self.credit_memos, True),
            (ITEM_PREFIX, "item", self.refs.items, False),
            (PAYMENT_METHOD_PREFIX, "payment method", self.refs.payment_methods, False),
            (ACCOUNT_PREFIX, "account", self.refs.accounts, False),
        ]
        for prefix, kind, ids, waits in table:
            if value.startswith(prefix):
                key = value[len(prefix) :]
                if key not in ids:
                    raise Unresolved(kind, key, waits)
                ref["value"] = ids[key]
                return

    def resolve(self, body: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` with every symbolic reference replaced (raises Unresolved)."""
        out = copy.deepcopy(body)
        for key in ("CustomerRef", "PaymentMethodRef", "DepositToAccountRef"):
            if isinstance(out.get(key), dict):
                self._swap(out[key])
        for line in out.get("Line", []):
            detail = line.get("SalesItemLineDetail")
            if isinstance(detail, dict) and isinstance(detail.get("ItemRef"), dict):
                self._swap(detail["ItemRef"])
            for link in line.get("LinkedTxn", []):
                holder = {"value": link.get("TxnId")}
                self._swap(holder)
                link["TxnId"] = holder["value"]
        return out


def why_missing(ledger: Ledger, exc: Unresolved) -> str:
    """A readable reason for a record that waits on ``exc``'s dependency, with that dependency's state."""
    source = {"customer": "customer", "invoice": "bill", "credit memo": CREDIT_SOURCE_TYPE}.get(exc.kind)
    what = {
        "customer": "Rev.io customer",
        "invoice": "the invoice of Rev.io bill",
        "credit memo": "credit memo",
    }
    text = f"waiting for {what.get(exc.kind, exc.kind)} {exc.key} to reach QBO"
    row = ledger.get(source, exc.key) if source else None
    if row is not None:
        text += f" (it is {row.status}{': ' + row.last_error if row.last_error else ''})"
    elif source:
        text += " (not synced yet)"
    return text


def prepare_requests(
    rows: list[dict[str, Any]],
    ledger: Ledger,
    resolver: Resolver,
    source_type: str,
    report: WriteReport,
    body_of: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row["payload"],
) -> list[WriteRequest]:
    """Write requests for payload rows whose body resolves; the others wait (dependency missing) or are
    quarantined (mapping/reference data missing) with the reason."""
    out: list[WriteRequest] = []
    for row in rows:
        sid = str(row["source_id"])
        identity = {
            "qbo_entity": row["qbo_entity"],
            "partition_key": row.get("partition_key"),
            "business_key": row.get("business_key"),
        }
        try:
            body = resolver.resolve(body_of(row))
        except Unresolved as exc:
            if exc.waits:
                reason = why_missing(ledger, exc)
                ledger.mark_waiting(source_type, sid, reason=reason, **identity)
                report.record(sid, "waiting", reason)
            else:
                reason = f"no QBO {exc.kind} named {exc.key!r} (add it to the mapping file)"
                ledger.quarantine(source_type, sid, reason=reason, **identity)
                report.record(sid, "quarantined", reason)
            continue
        out.append(WriteRequest(source_type=source_type, source_id=sid, payload=body, **identity))
    return out
