"""Month-end revenue JournalEntries in QBO: one per month, found by DocNumber, updated in place.

- Charges come from the staging database (``stg_charges`` joined to ``stg_bills``, reversed bills excluded):
  every charge billed in the month, plus charges billed in the ``LOOKBACK_MONTHS`` before it whose service
  period reaches into the month (their deferred balance is still open). The daily sync fills these tables.
- The payload is written through :class:`LedgeredWriter` (source_type ``journal``, source_id ``YYYY-MM``,
  business key the DocNumber), so a re-run with the same amounts makes no call, changed amounts update the
  same entry (Id + SyncToken, lines replaced) and a lost create response is linked by DocNumber.
- A month with nothing to post has no entry: if one exists (an earlier run posted amounts that have since
  netted to zero), it is **deleted** (JournalEntries cannot be voided) and the ledger row marked ``voided``.
  Leaving it would keep a stale deferral in the GL.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from revqb_pipeline.clients.errors import QBOError
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.journals.mapping import (
    ENTITY,
    SOURCE_TYPE,
    debit_total_cents,
    doc_number,
    expected_net_debits,
    journal_payload,
    journal_update_payload,
    net_debits_by_account,
    resolve_journal_refs,
)
from revqb_pipeline.entities.journals.revenue import (
    Month,
    MonthRevenue,
    RevenueCharge,
    charge_from_rows,
    lookback_start,
    summarize_month,
)
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.staging import Engine
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.revenue import invoiced_totals, revenue_charge_rows
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.reconcile import EntityReconciliation
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import (
    DocNumberAdapter,
    LedgeredWriter,
    WriteReport,
    WriteRequest,
    create_entity,
    delete_entity,
)

log = logging.getLogger("revqb.sync")


# ----- reading the staging database --------------------------------------------------------------------


def load_month_charges(engine: Engine, month: Month) -> list[RevenueCharge]:
    """Charges that can move revenue or deferred revenue in ``month`` (see the module docstring)."""
    rows = revenue_charge_rows(engine, lookback_start(month).first_day, month.first_day, month.last_day)
    return [charge_from_rows(r, r) for r in rows]


def invoiced_amounts(engine: Engine, month: Month) -> dict[str, int]:
    """Σ tax-excluded charge amounts per charge kind on the month's (non-reversed) bills, straight from SQL,
    plus ``"_bills"``: Σ bill invoice amounts minus Σ charge taxes (the bills' own totals)."""
    return invoiced_totals(engine, month.first_day, month.last_day)


def month_summary(rt: Runtime, month: Month) -> MonthRevenue:
    return summarize_month(load_month_charges(rt.engine, month), month, rt.mapping.revenue)


# ----- payload rows (qbo_payloads) ---------------------------------------------------------------------


def payload_row(summary: MonthRevenue, cfg: MappingConfig, partition_key: str) -> dict[str, Any]:
    """The ``qbo_payloads`` row for the month. An empty month stores ``Line: []`` (meaning: no entry)."""
    body = journal_payload(summary, cfg.revenue)
    doc = doc_number(cfg.revenue, summary.month)
    if body is None:
        body = {"DocNumber": doc, "TxnDate": summary.month.last_day.isoformat(), "Line": []}
    return {
        "source_type": SOURCE_TYPE,
        "source_id": summary.month.key,
        "qbo_entity": ENTITY,
        "partition_key": partition_key,
        "business_key": doc,
        "payload": body,
    }


def save_month_payload(rt: Runtime, summary: MonthRevenue, partition_key: str) -> dict[str, Any]:
    row = payload_row(summary, rt.mapping, partition_key)
    save_payloads(rt.store, [row])
    return row


def load_month_payload(rt: Runtime, month: Month) -> dict[str, Any] | None:
    """The stored payload row for ``month`` (None if the summary was never built)."""
    for row in load_payloads(rt.store, SOURCE_TYPE):
        if row["source_id"] == month.key:
            return row
    return None


# ----- writing -------------------------------------------------------------------------------------------


def _rid(*parts: str) -> str:
    return hashlib.sha256(":".join(("revqb", *parts)).encode()).hexdigest()[:32]


def ensure_class(qbo: QBOClient, name: str) -> str:
    """The QBO Class id for ``name``, created when missing (request id derived from the name)."""
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    rows = qbo.query_rows(f"SELECT * FROM Class WHERE Name = '{escaped}'")
    if rows:
        return str(rows[0]["Id"])
    return str(create_entity(qbo, "Class", {"Name": name}, request_id=_rid("Class", name))["Id"])


def existing_entries(qbo: QBOClient, doc: str) -> list[dict[str, Any]]:
    escaped = doc.replace("\\", "\\\\").replace("'", "\\'")
    return qbo.query_rows(f"SELECT * FROM {ENTITY} WHERE DocNumber = '{escaped}'")


def delete_month_entry(qbo: QBOClient, ledger: Ledger, month: Month, doc: str, report: WriteReport) -> None:
    """Remove this month's entry (found by ledger id and by DocNumber) because nothing is left to post."""
    row = ledger.get(SOURCE_TYPE, month.key)
    found = {str(e["Id"]): e for e in existing_entries(qbo, doc)}
    if row and row.status == LedgerStatus.SYNCED and row.qbo_id and row.qbo_id not in found:
        try:
            found[row.qbo_id] = qbo.read(ENTITY, row.qbo_id)
        except QBOError:
            pass  # already gone
    for qid, entry in sorted(found.items()):
        token = str(entry.get("SyncToken", "0"))
        delete_entity(qbo, ENTITY, qid, token, request_id=_rid("delete", ENTITY, qid, token))
        log.info("deleted %s %s (%s): nothing to recognize for %s", ENTITY, qid, doc, month.key)
    if found:
        report.record(month.key, "deleted", f"deleted {', '.join(sorted(found))}")
        if row is not None:
            ledger.mark_voided(
                SOURCE_TYPE, month.key, detail=f"deleted {ENTITY} {', '.join(sorted(found))}: empty month"
            )
    else:
        report.record(month.key, "empty", "nothing to post")


def sync_month_journal(
    qbo: QBOClient,
    ledger: Ledger,
    payload_row: dict[str, Any],
    refs: RefIds,
    classes: dict[str, str] | None = None,
) -> WriteReport:
    """Create, update or delete the month's entry so QBO holds exactly ``payload_row``'s entry."""
    month = Month.parse(str(payload_row["source_id"]))
    payload = payload_row["payload"]
    report = WriteReport()
    if not payload.get("Line"):
        delete_month_entry(qbo, ledger, month, str(payload_row["business_key"]), report)
        return report
    body = resolve_journal_refs(payload, refs.accounts, classes)
    request = WriteRequest(
        source_type=SOURCE_TYPE,
        source_id=month.key,
        qbo_entity=ENTITY,
        payload=body,
        business_key=str(payload_row["business_key"]),
        partition_key=payload_row.get("partition_key"),
    )
    return LedgeredWriter(qbo, ledger, DocNumberAdapter(qbo, ENTITY, journal_update_payload)).write([request])


def post_month_journal(rt: Runtime, month: Month, refs: RefIds) -> WriteReport:
    """Post the stored payload for ``month`` (built by the ``revenue/summary`` asset)."""
    row = load_month_payload(rt, month)
    if row is None:
        raise LookupError(f"no revenue journal payload for {month.key}: materialize revenue/summary first")
    classes = None
    if rt.mapping.revenue.journal_class and row["payload"].get("Line"):
        name = rt.mapping.revenue.journal_class
        classes = {name: ensure_class(rt.qbo, name)}
    return sync_month_journal(rt.qbo, rt.ledger, row, refs, classes)


# ----- reconciliation --------------------------------------------------------------------------------------


def reconcile_journals(rt: Runtime) -> EntityReconciliation:
    """Each month's JournalEntry in QBO equals what the staged charges imply now (one entry per month).

    Months checked: those with a ledger row, a stored payload or an entry with the journal prefix in QBO.
    Counts are months that need / have an entry; totals are the entries' debit totals.
    """
    rec = EntityReconciliation("journals")
    cfg = rt.mapping.revenue
    prefix = cfg.journal_doc_number_prefix
    accounts = {
        str(a["Name"]): str(a["Id"]) for a in rt.qbo.query_all("Account", where="Active IN (true, false)")
    }
    by_doc: dict[str, list[dict[str, Any]]] = {}
    for entry in rt.qbo.query_all(ENTITY, where=f"DocNumber LIKE '{prefix}%'"):
        by_doc.setdefault(str(entry.get("DocNumber")), []).append(entry)
    months: set[Month] = set()
    for row in rt.ledger.rows(source_type=SOURCE_TYPE):
        months.add(Month.parse(row.source_id))
    for row in load_payloads(rt.store, SOURCE_TYPE):
        months.add(Month.parse(str(row["source_id"])))
    for doc in by_doc:
        try:
            months.add(Month.parse(doc[len(prefix) :]))
        except ValueError:
            rec.differences.append(f"QBO JournalEntry {doc} does not name a month")
    for month in sorted(months):
        summary = month_summary(rt, month)
        doc = doc_number(cfg, month)
        missing = [
            a for c in summary.categories if c.deferred_change_cents for a in (c.account, c.deferred_account)
        ]
        unknown = sorted({str(a) for a in missing if a not in accounts})
        if unknown:
            rec.differences.append(f"{month}: accounts not in QBO: {', '.join(unknown)}")
            continue
        expected = expected_net_debits(summary, accounts)
        debit_total = sum(abs(c.deferred_change_cents) for c in summary.categories)
        found = by_doc.get(doc, [])
        rec.revio_count += 1 if expected else 0
        rec.revio_total_cents += debit_total
        if len(found) > 1:
            ids = ", ".join(str(e["Id"]) for e in found)
            rec.differences.append(f"{month}: {len(found)} JournalEntries {doc} ({ids})")
        if not found:
            if expected:
                reason = ledger_reason(rt.ledger, month)
                rec.differences.append(f"{month}: no JournalEntry {doc} in QBO ({reason})")
            continue
        entry = found[0]
        rec.qbo_count += 1
        have = net_debits_by_account(entry)
        rec.qbo_total_cents += debit_total_cents(entry)
        if not expected:
            rec.differences.append(
                f"{month}: JournalEntry {entry['Id']} exists but the month has nothing to post"
            )
        elif have != expected:
            rec.differences.append(
                f"{month}: JournalEntry {entry['Id']} nets {have} per account id, expected {expected}"
            )
        if str(entry.get("TxnDate")) != month.last_day.isoformat():
            rec.differences.append(f"{month}: JournalEntry {entry['Id']} is dated {entry.get('TxnDate')}")
    return rec


def ledger_reason(ledger: Ledger, month: Month) -> str:
    row = ledger.get(SOURCE_TYPE, month.key)
    if row is None:
        return "never posted"
    return f"{row.status}: {row.last_error}" if row.last_error else str(row.status)
