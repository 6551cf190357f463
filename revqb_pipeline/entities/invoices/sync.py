"""Rev.io bills -> QBO invoices (one per bill, DocNumber = prefix + bill id).

Payloads are built with symbolic references (``revio-customer:<id>``, ``item:<name>``) so the payload layer
stays pure and checkable; ``sync/resolver.py`` swaps in QBO ids just before the write.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.invoices.mapping import invoice_payload, invoice_update_payload
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.normalize import record_key
from revqb_pipeline.mapping.symbols import CUSTOMER_PREFIX, ITEM_PREFIX
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.reference_data import RefIds, ensure_reference_data_with
from revqb_pipeline.sync.resolver import Resolver, prepare_requests
from revqb_pipeline.sync.writer import (
    DocNumberAdapter,
    DocNumberLookup,
    KnownKeys,
    LedgeredWriter,
    WriteReport,
    void_invoice,
)

log = logging.getLogger("revqb.sync")

SOURCE_TYPE = "bill"
CHARGES_RESOURCE = "Charges"  # the staging quarantine's resource name for charges


def symbolic_item_refs(cfg: MappingConfig) -> dict[str, str]:
    return {name: f"{ITEM_PREFIX}{name}" for name in cfg.items}


def held_charges(store: StagingStore, bill_ids: Iterable[int]) -> dict[int, list[tuple[str, str]]]:
    """bill id -> ``(charge id, reason)`` of each quarantined charge of that bill (read from the
    quarantined raw record, so a charge quarantined for a malformed amount still names its bill)."""
    wanted = set(bill_ids)
    out: dict[int, list[tuple[str, str]]] = {}
    for q in store.quarantined(CHARGES_RESOURCE) if wanted else []:
        try:
            raw = json.loads(q.get("raw_json") or "null")
        except ValueError:
            continue
        bid = record_key(raw, "bill_id")
        if bid in wanted:
            out.setdefault(bid, []).append((str(q["record_id"]), str(q["reason"])))
    return out


def held_reason(bill_id: Any, held: list[tuple[str, str]]) -> str:
    """``bill 45: charge 123 is quarantined (amount: 'abc' is not a number)`` (the charge's own cause)."""
    parts = []
    for cid, reason in sorted(held):
        cause = reason.removeprefix(f"Rev.io {CHARGES_RESOURCE} {cid}: ")
        cause = re.sub(rf"^charge {re.escape(cid)}:? ", "", cause)
        parts.append(f"charge {cid} is quarantined ({cause})")
    return f"bill {bill_id}: " + "; ".join(parts)


def build_invoice_payloads(
    bills: list[dict[str, Any]],
    charges_by_bill: dict[int, list[dict[str, Any]]],
    cfg: MappingConfig,
    product_types: dict[int, dict[str, Any]] | None = None,
    products: dict[int, dict[str, Any]] | None = None,
    held: Mapping[int, list[tuple[str, str]]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Payload rows (for ``qbo_payloads``) and the bills that could not be mapped (bill_id -> reason).

    A bill with a quarantined charge (``held``, see ``held_charges``) is not mapped: its reason names
    the charge and the charge's cause (not the consequence, a total that does not tie)."""
    rows: list[dict[str, Any]] = []
    bad: dict[str, str] = {}
    items = symbolic_item_refs(cfg)
    for bill in bills:
        sid = str(bill["bill_id"])
        if bill.get("is_reversed"):
            continue
        if held and held.get(int(bill["bill_id"])):
            bad[sid] = held_reason(sid, held[int(bill["bill_id"])])
            continue
        try:
            payload = invoice_payload(
                bill,
                charges_by_bill.get(int(bill["bill_id"]), []),
                customer_ref=f"{CUSTOMER_PREFIX}{bill['customer_id']}",
                item_refs=items,
                cfg=cfg,
                product_types=product_types,
                products=products,
            )
        except RecordError as exc:
            bad[sid] = str(exc)
            continue
        rows.append(
            {
                "source_type": SOURCE_TYPE,
                "source_id": sid,
                "qbo_entity": "Invoice",
                "partition_key": bill.get("partition_key"),
                "business_key": payload["DocNumber"],
                "payload": payload,
            }
        )
    return rows, bad


def void_reversed(qbo: QBOClient, ledger: Ledger, bills: list[dict[str, Any]]) -> WriteReport:
    """Void the QBO invoice of every reversed Rev.io bill that reached QBO."""
    report = WriteReport()
    for bill in bills:
        if not bill.get("is_reversed"):
            continue
        sid = str(bill["bill_id"])
        row = ledger.get(SOURCE_TYPE, sid)
        if row is None or row.status == LedgerStatus.VOIDED or not row.qbo_id:
            continue
        current = qbo.read("Invoice", row.qbo_id)
        if "Voided" not in str(current.get("PrivateNote", "")):
            void_invoice(qbo, row.qbo_id, str(current["SyncToken"]), request_id=uuid.uuid4().hex[:20])
        ledger.mark_voided(SOURCE_TYPE, sid, detail=f"Rev.io bill reversed; voided QBO invoice {row.qbo_id}")
        report.record(sid, "voided", qbo_id=row.qbo_id)
    return report


def keys_to_create(ledger: Ledger, payload_rows: list[dict[str, Any]]) -> list[str]:
    """The DocNumbers of the payload rows the ledger does not hold as synced: the rows that will be
    created (or linked, when an earlier run's write got through without its outcome)."""
    rows = ledger.get_many(SOURCE_TYPE, [str(r["source_id"]) for r in payload_rows])
    return [
        str(r["business_key"])
        for r in payload_rows
        if r.get("business_key")
        and not ((row := rows.get(str(r["source_id"]))) and row.status == LedgerStatus.SYNCED and row.qbo_id)
    ]


def prepare_load(
    qbo: QBOClient, ledger: Ledger, cfg: MappingConfig, payload_rows: list[dict[str, Any]], slices: int
) -> tuple[RefIds, KnownKeys | None]:
    """The reference data ids and one DocNumber lookup of the day's ``keys_to_create``, made ahead of the
    load: sent in the reference data's ``/batch`` call when those are read (no request of its own), else
    alone when the load has more than one slice (one call instead of one per slice), else None (the one
    slice looks up its creates itself, in one call with the read of its updates).

    Safe because nothing else writes a revqb DocNumber of this realm meanwhile: the QBO load steps run
    behind the realm's one-slot pool, and a record whose earlier write got through without an outcome is
    found here all the same."""
    if not payload_rows:  # reference data are only read to resolve payloads: none, no QBO request
        return RefIds(), None
    lookup = DocNumberLookup(qbo, "Invoice")
    keys = keys_to_create(ledger, payload_rows)
    refs, rows = ensure_reference_data_with(qbo, cfg, lookup.key_queries(keys))
    if rows is not None:
        return refs, lookup.known(keys, rows)
    return refs, lookup.ahead(keys) if slices > 1 else None


def sync_invoices(
    qbo: QBOClient,
    ledger: Ledger,
    payload_rows: list[dict[str, Any]],
    refs: RefIds,
    bills: list[dict[str, Any]],
    known: KnownKeys | None = None,
) -> WriteReport:
    """Create or update one QBO invoice per payload row; void those whose bill was reversed. ``known``:
    a DocNumber lookup made ahead of this write (``prepare_load``), used instead of one of its own."""
    report = WriteReport()
    requests = prepare_requests(payload_rows, ledger, Resolver.load(ledger, refs), SOURCE_TYPE, report)
    adapter = DocNumberAdapter(qbo, "Invoice", invoice_update_payload, known=known)
    report.merge(LedgeredWriter(qbo, ledger, adapter).write(requests))
    report.merge(void_reversed(qbo, ledger, bills))
    return report
