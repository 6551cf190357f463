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

from revqb_pipeline.mapping.symbols import BY_KIND, SYMBOLS, Symbol
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.writer import WriteReport, WriteRequest


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


@dataclass
class Resolver:
    """Swaps symbolic references (``mapping/symbols.py: SYMBOLS``) for QBO ids: ledger-backed ones from
    ``synced`` (source type -> source id -> QBO id), reference data from ``refs``."""

    synced: dict[str, dict[str, str]]
    refs: RefIds

    @classmethod
    def load(cls, ledger: Ledger, refs: RefIds) -> Resolver:
        types = {s.source_type for s in SYMBOLS if s.source_type}
        return cls({t: synced_ids(ledger, t) for t in sorted(types)}, refs)

    def ids(self, symbol: Symbol) -> dict[str, str]:
        """Key -> QBO id of everything ``symbol`` can point at."""
        if symbol.source_type:
            return self.synced.get(symbol.source_type, {})
        return getattr(self.refs, symbol.reference or "")

    def _swap(self, ref: dict[str, Any]) -> None:
        value = str(ref.get("value", ""))
        for symbol in SYMBOLS:
            if value.startswith(symbol.prefix):
                key = value[len(symbol.prefix) :]
                ids = self.ids(symbol)
                if key not in ids:
                    raise Unresolved(symbol.kind, key, symbol.waits)
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
    symbol = BY_KIND.get(exc.kind)
    source = symbol.source_type if symbol else None
    text = f"waiting for {symbol.what if symbol else exc.kind} {exc.key} to reach QBO"
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
