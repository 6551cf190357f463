"""Rev.io bills -> QBO invoices (one per bill, DocNumber = prefix + bill id).

Payloads are built with symbolic references (``revio-customer:<id>``, ``item:<name>``) so the payload layer
stays pure and checkable; ``sync/refs.py`` swaps in QBO ids just before the write.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from revqb_pipeline.clients.errors import QBOError
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.invoices import invoice_payload, invoice_update_payload
from revqb_pipeline.mapping.refs import CUSTOMER_PREFIX, ITEM_PREFIX
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.reference import RefIds
from revqb_pipeline.sync.refs import Resolver, prepare_requests
from revqb_pipeline.sync.writer import LedgeredWriter, WriteReport, WriteRequest, docnumber_lookup

log = logging.getLogger("revqb.sync")

SOURCE_TYPE = "bill"


def symbolic_item_refs(cfg: MappingConfig) -> dict[str, str]:
    return {name: f"{ITEM_PREFIX}{name}" for name in cfg.items}


def build_invoice_payloads(
    bills: list[dict[str, Any]],
    charges_by_bill: dict[int, list[dict[str, Any]]],
    cfg: MappingConfig,
    product_types: dict[int, dict[str, Any]] | None = None,
    products: dict[int, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Payload rows (for ``qbo_payloads``) and the bills that could not be mapped (bill_id -> reason)."""
    rows: list[dict[str, Any]] = []
    bad: dict[str, str] = {}
    items = symbolic_item_refs(cfg)
    for bill in bills:
        sid = str(bill["bill_id"])
        if bill.get("is_reversed"):
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


class InvoiceAdapter:
    """Invoices are found by DocNumber; updates are sparse with the current SyncToken."""

    def __init__(self, qbo: QBOClient):
        self.lookup: Callable[[list[WriteRequest]], dict[str, dict[str, Any]]] = docnumber_lookup(
            qbo, "Invoice"
        )

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        return invoice_update_payload(existing, desired)

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        return None


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
            qbo.void_invoice(row.qbo_id, str(current["SyncToken"]), request_id=uuid.uuid4().hex[:20])
        ledger.mark_voided(SOURCE_TYPE, sid, detail=f"Rev.io bill reversed; voided QBO invoice {row.qbo_id}")
        report.record(sid, "voided", qbo_id=row.qbo_id)
    return report


def sync_invoices(
    qbo: QBOClient,
    ledger: Ledger,
    payload_rows: list[dict[str, Any]],
    refs: RefIds,
    bills: list[dict[str, Any]],
) -> WriteReport:
    """Create or update one QBO invoice per payload row; void those whose bill was reversed."""
    report = WriteReport()
    requests = prepare_requests(payload_rows, ledger, Resolver.load(ledger, refs), SOURCE_TYPE, report)
    report.merge(LedgeredWriter(qbo, ledger, InvoiceAdapter(qbo)).write(requests))
    report.merge(void_reversed(qbo, ledger, bills))
    return report
