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
    valid_email,
)
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.writer import LedgeredWriter, WriteReport, WriteRequest

SOURCE_TYPE = "customer"


#: Values per ``IN`` list of a customer lookup (one batch call carries up to 30 such queries).
LOOKUP_CHUNK = 100


class CustomerAdapter:
    """Matching and updates for QBO customers (ledger -> account marker -> email -> display name).

    A lookup reads only the QBO customers the requests could match: those with one of their display names
    (as mapped, and the ``(Rev.io <id>)`` variant a name collision gives) or, when email matching is on,
    one of their emails, inactive ones included, in one batch of ``IN`` queries. Nothing it reads grows
    with the realm's size. The account-marker rule applies among the customers read."""

    def __init__(self, qbo: QBOClient, ledger: Ledger, rows: dict[str, dict[str, Any]], cfg: MappingConfig):
        self.qbo = qbo
        self.ledger = ledger
        self.rows = rows  # source_id -> stg_customers row
        self.cfg = cfg
        self._customers: dict[str, dict[str, Any]] = {}
        self._taken: set[str] = set()

    def _claimed(self, qbo_ids: list[str]) -> dict[str, str]:
        """QBO customer Id -> the Rev.io customer already linked to it in the ledger (of ``qbo_ids``)."""
        wanted = set(qbo_ids)
        if not wanted:
            return {}
        return {
            r.qbo_id: r.source_id
            for r in self.ledger.rows(source_type=SOURCE_TYPE, statuses=[LedgerStatus.SYNCED])
            if r.qbo_id in wanted
        }

    def _read(self, requests: list[WriteRequest]) -> None:
        """Read the QBO customers named by these requests' display names or emails."""
        names: set[str] = set()
        emails: set[str] = set()
        for req in requests:
            name = str(req.payload.get("DisplayName", ""))
            if name:
                names.add(name)
                names.add(resolve_display_name_collision(name, req.source_id, {name}))
            email = valid_email(self.rows[req.source_id].get("email"))
            if email and self.cfg.customers.match_by_email:
                emails |= {email, email.lower()}
        wheres = [
            f"{field} IN {in_clause(chunk)} AND Active IN (true, false)"
            for field, values in (("DisplayName", sorted(names)), ("PrimaryEmailAddr", sorted(emails)))
            for chunk in (values[i : i + LOOKUP_CHUNK] for i in range(0, len(values), LOOKUP_CHUNK))
        ]
        for rows in self.qbo.query_all_many("Customer", wheres):
            self._customers.update({str(c["Id"]): c for c in rows})
            self._taken |= {str(c.get("DisplayName", "")).casefold() for c in rows}

    def lookup(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        self._read(requests)
        index = CustomerIndex.from_qbo(self._customers.values(), self.cfg.invoice.customer_notes_marker)
        matches = {}
        for req in requests:
            match = match_customer(self.rows[req.source_id], index, self.cfg)
            if match is not None:
                matches[req.source_id] = match.customer
        claimed = self._claimed([str(c["Id"]) for c in matches.values()])
        found: dict[str, dict[str, Any]] = {}
        for sid, customer in matches.items():
            owner = claimed.get(str(customer["Id"]))
            if owner is not None and owner != sid:
                continue  # that QBO customer belongs to another Rev.io account
            found[sid] = customer
        return found

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
