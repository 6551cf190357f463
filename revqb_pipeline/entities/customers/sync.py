"""Rev.io customers -> QBO customers: link what already exists, create only when nothing matches."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from revqb_pipeline.clients.errors import QBODuplicateName, QBOError
from revqb_pipeline.clients.qbo import QBOClient, in_clause
from revqb_pipeline.entities.customers.mapping import (
    CustomerIndex,
    account_marker,
    customer_payload,
    customer_update_payload,
    match_customer,
    resolve_display_name_collision,
)
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.writer import LedgeredWriter, WriteReport, WriteRequest

SOURCE_TYPE = "customer"


class CustomerAdapter:
    """Matching and updates for QBO customers (ledger -> account marker -> email -> display name)."""

    def __init__(self, qbo: QBOClient, ledger: Ledger, rows: dict[str, dict[str, Any]], cfg: MappingConfig):
        self.qbo = qbo
        self.ledger = ledger
        self.rows = rows  # source_id -> stg_customers row
        self.cfg = cfg
        self._customers: dict[str, dict[str, Any]] = {}
        self._index: CustomerIndex | None = None
        self._taken: set[str] = set()

    def _claimed(self) -> dict[str, str]:
        """QBO customer Id -> the Rev.io customer already linked to it in the ledger."""
        return {
            r.qbo_id: r.source_id
            for r in self.ledger.rows(source_type=SOURCE_TYPE, statuses=[LedgerStatus.SYNCED])
            if r.qbo_id
        }

    def index(self) -> CustomerIndex:
        if self._index is None:
            customers = list(self.qbo.query_all("Customer", where="Active IN (true, false)"))
            self._customers = {str(c["Id"]): c for c in customers}
            self._taken = {str(c.get("DisplayName", "")).casefold() for c in customers}
            self._index = self._build_index()
        return self._index

    def _build_index(self) -> CustomerIndex:
        return CustomerIndex.from_qbo(self._customers.values(), self.cfg.invoice.customer_notes_marker)

    def lookup(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        if self._index is not None:
            self._refresh([r.payload.get("DisplayName", "") for r in requests])
        index = self.index()
        claimed = self._claimed()
        found: dict[str, dict[str, Any]] = {}
        for req in requests:
            match = match_customer(self.rows[req.source_id], index, self.cfg)
            if match is None:
                continue
            owner = claimed.get(str(match.customer["Id"]))
            if owner is not None and owner != req.source_id:
                continue  # that QBO customer belongs to another Rev.io account
            found[req.source_id] = match.customer
        return found

    def _refresh(self, names: list[str]) -> None:
        """After a lost response, re-read the customers these requests would have created."""
        wanted = [n for n in names if n]
        if not wanted:
            return
        rows = self.qbo.query_rows(
            f"SELECT * FROM Customer WHERE DisplayName IN {in_clause(wanted)} AND Active IN (true, false)"
        )
        self._customers.update({str(c["Id"]): c for c in rows})
        self._index = self._build_index()
        self._taken |= {str(c.get("DisplayName", "")).casefold() for c in rows}

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        """Changed fields only; an inactive QBO customer that matches a billed account is reactivated."""
        name = str(desired.get("DisplayName", ""))
        if str(existing.get("DisplayName", "")).startswith(f"{name} (Rev.io "):
            desired = {**desired, "DisplayName": existing["DisplayName"]}  # keep a resolved 6240 suffix
        body = customer_update_payload(existing, desired)
        if existing.get("Active") is False:
            body = body or {"Id": existing["Id"], "SyncToken": existing["SyncToken"], "sparse": True}
            body["Active"] = True
        return body

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        if not isinstance(error, QBODuplicateName):
            return None
        name = str(request.payload.get("DisplayName", ""))
        self._taken.add(name.casefold())
        new_name = resolve_display_name_collision(name, request.source_id, self._taken)
        self._taken.add(new_name.casefold())
        return replace(
            request, payload={**request.payload, "DisplayName": new_name}, logical_hash=request.hash
        )


def customer_requests(
    rows: list[dict[str, Any]], cfg: MappingConfig, ledger: Ledger, partition_key: str | None
) -> tuple[list[WriteRequest], dict[str, str]]:
    """Write requests for staged customers; malformed ones are quarantined (source_id -> reason returned)."""
    requests: list[WriteRequest] = []
    bad: dict[str, str] = {}
    for row in rows:
        sid = str(row["customer_id"])
        try:
            payload = customer_payload(row, cfg)
        except RecordError as exc:
            ledger.quarantine(
                SOURCE_TYPE, sid, reason=str(exc), qbo_entity="Customer", partition_key=partition_key
            )
            bad[sid] = str(exc)
            continue
        requests.append(
            WriteRequest(
                source_type=SOURCE_TYPE,
                source_id=sid,
                qbo_entity="Customer",
                payload=payload,
                business_key=account_marker(row, cfg),
                partition_key=partition_key,
            )
        )
    return requests, bad


def sync_customers(
    qbo: QBOClient,
    ledger: Ledger,
    rows: list[dict[str, Any]],
    cfg: MappingConfig,
    partition_key: str | None = None,
) -> WriteReport:
    """Create, link or update the QBO customer of every staged Rev.io customer in ``rows``."""
    requests, bad = customer_requests(rows, cfg, ledger, partition_key)
    adapter = CustomerAdapter(qbo, ledger, {str(r["customer_id"]): r for r in rows}, cfg)
    report = LedgeredWriter(qbo, ledger, adapter).write(requests)
    for sid, reason in bad.items():
        report.record(sid, "quarantined", reason)
    return report
