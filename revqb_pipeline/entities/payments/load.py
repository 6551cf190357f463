"""Rev.io payments -> QBO Payments through the ledgered writer (plus voids and folded reversal rows).

A load works on a *working set*: the partition's payments and credits, every payment and credit of the
bills they touch (allocation is per bill), whole refund/bounce families, and every earlier record still
``waiting`` / ``failed`` / ``in_flight`` (so a payment that arrived before its invoice is applied by the
first load after the invoice lands). Payloads keep symbolic references until just before the write.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.clients.errors import QBOError, QBOTransportError
from revqb_pipeline.clients.qbo import BatchOp, QBOClient, in_clause
from revqb_pipeline.entities.customers.sync import sync_customers
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.credit_mapping import credit_memo_payload
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.money import from_cents, to_cents
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.reconcile import EntityReconciliation
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.resolver import (
    CREDIT_SOURCE_TYPE,
    Resolver,
    prepare_requests,
    synced_customers,
    synced_ids,
)
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import (
    LedgeredWriter,
    WriteReport,
    WriteRequest,
    chunk_request_id,
    read_by_ids,
    send_batches,
)

log = logging.getLogger("revqb.sync")

SOURCE_TYPE = "payment"
APPLY_SOURCE_TYPE = "credit_application"
REDRIVE_STATUSES = (LedgerStatus.WAITING, LedgerStatus.FAILED, LedgerStatus.IN_FLIGHT, LedgerStatus.PENDING)


# ----- working set ------------------------------------------------------------------------------------


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
            for sid, row in (ledger.get_many("bill", unstaged) if unstaged else {}).items()
            if row.status == LedgerStatus.QUARANTINED
        }
    ws.payments = dict(sorted(pays.items()))
    ws.credits = dict(sorted(creds.items()))
    return ws


# ----- payloads (pure composition of the mapping layer) -----------------------------------------------


@dataclass
class Documents:
    """Payload rows (for ``qbo_payloads``) of payments, credit memos and credit applications."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    applications: list[dict[str, Any]] = field(default_factory=list)


def _row(
    source_type: str, sid: int, entity: str, pk: str, key: str | None, env: dict[str, Any]
) -> dict[str, Any]:
    return {
        "source_type": source_type,
        "source_id": str(sid),
        "qbo_entity": entity,
        "partition_key": pk,
        "business_key": key,
        "payload": env,
    }


def build_documents(ws: WorkingSet, cfg: MappingConfig, partition_key: str) -> Documents:
    """Decisions and payload envelopes ``{"decision", "reason", "body", ...}`` for the whole working set."""
    docs = Documents()
    decisions = pm.plan_payments(ws.payments.values())
    allocs = pm.allocate(ws.bills, ws.credits.values(), decisions, ws.payments.values())
    for pid, p in ws.payments.items():
        d = decisions[pid]
        env: dict[str, Any] = {
            "decision": d.action,
            "reason": d.reason,
            "customer_id": p["customer_id"],
            "bill_id": p.get("bill_id"),
            "original_payment_id": d.original_payment_id,
            "body": None,
        }
        if d.action == "post":
            bid = p.get("bill_id")
            alloc = allocs.get(int(bid)) if bid else None
            applied = alloc.payments.get(pid, 0) if alloc else 0
            try:
                env["body"] = pm.payment_payload(p, d, applied, cfg)
            except RecordError as exc:
                env.update(decision="reject", reason=str(exc))
            else:
                if bid and int(bid) not in ws.bills:
                    # its bill has not been read yet: applying nothing now would post it unapplied
                    env.update(decision="wait", reason=ws.bill_wait_reason(bid))
                    env["body"] = None
                else:
                    env["reason"] += (
                        f"; {from_cents(applied)} applied to bill {bid}" if applied else "; unapplied"
                    )
        docs.payments.append(_row(SOURCE_TYPE, pid, "Payment", partition_key, pm.marker(pid, cfg), env))
    for cid, c in ws.credits.items():
        env = {"decision": "post", "reason": f"{c.get('credit_kind')} credit", "body": None}
        try:
            env["body"] = credit_memo_payload(c, cfg)
        except RecordError as exc:
            env.update(decision="reject", reason=str(exc))
        key = env["body"]["DocNumber"] if env["body"] else None
        docs.credits.append(_row(CREDIT_SOURCE_TYPE, cid, "CreditMemo", partition_key, key, env))
        bid = c.get("bill_id")
        if not bid or env["decision"] != "post":
            continue
        alloc = allocs.get(int(bid))
        applied = alloc.credits.get(cid, 0) if alloc else 0
        body = pm.credit_application_payload(c, applied)
        decision = "apply" if body else ("none" if int(bid) in ws.bills else "wait")
        app_env = {
            "decision": decision,
            "reason": (
                f"apply {from_cents(applied)} of credit memo to bill {bid}"
                if body
                else f"nothing to apply: bill {bid} is reversed or already covered"
                if decision == "none"
                else ws.bill_wait_reason(bid)
            ),
            "customer_id": c["customer_id"],
            "bill_id": bid,
            "body": body,
        }
        docs.applications.append(
            _row(APPLY_SOURCE_TYPE, cid, "Payment", partition_key, pm.credit_apply_marker(cid), app_env)
        )
    return docs


# ----- references -------------------------------------------------------------------------------------


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


# ----- QBO lookups by PrivateNote marker ---------------------------------------------------------------


class MarkerAdapter:
    """Payments are found by the ``<prefix><id>`` marker in PrivateNote among their customer's payments
    (Payment.DocNumber is not filterable); voided payments are ignored."""

    def __init__(self, qbo: QBOClient, prefix: str):
        self.qbo = qbo
        self.prefix = prefix

    def lookup(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        wanted = {r.source_id for r in requests}
        customers = sorted({str(r.payload["CustomerRef"]["value"]) for r in requests})
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(customers), 50):
            chunk = customers[start : start + 50]
            for row in self.qbo.query_all("Payment", where=f"CustomerRef IN {in_clause(chunk)}"):
                if pm.is_voided(row):
                    continue  # a voided payment is history: never linked, never edited
                for sid in pm.markers_in(row.get("PrivateNote"), self.prefix):
                    if sid in wanted:
                        found[sid] = row
        return found

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        if pm.is_voided(existing):
            return None  # never resurrect a voided payment by editing it
        return pm.payment_update_payload(existing, desired)

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        return None


# ----- customers --------------------------------------------------------------------------------------


def ensure_customers(
    qbo: QBOClient,
    ledger: Ledger,
    store: StagingStore,
    cfg: MappingConfig,
    customer_ids: Iterable[int | str],
    partition_key: str | None,
) -> WriteReport:
    """Sync the staged customers among ``customer_ids`` that have no synced QBO customer yet."""
    have = synced_customers(ledger)
    missing = sorted({str(c) for c in customer_ids} - set(have), key=int)
    rows = store.rows_in("stg_customers", "customer_id", [int(c) for c in missing]) if missing else []
    return sync_customers(qbo, ledger, rows, cfg, partition_key) if rows else WriteReport()


# ----- voids ------------------------------------------------------------------------------------------


def void_payments(
    qbo: QBOClient,
    ledger: Ledger,
    adapter: MarkerAdapter,
    targets: list[tuple[str, str, dict[str, Any]]],
    source_type: str,
    report: WriteReport,
    partition_key: str | None,
) -> None:
    """Void the QBO Payment of each ``(source_id, reason, customer symbolic body)``; idempotent.

    The current entity is read first (already voided -> just recorded). A record never written is looked
    up by marker when its last write's outcome is unknown; if nothing is in QBO the decision is recorded.
    """
    rows = ledger.get_many(source_type, [sid for sid, _, _ in targets])
    todo: list[tuple[str, str, str]] = []  # (sid, qbo id, reason)
    unknown: list[WriteRequest] = []
    for sid, reason, body in targets:
        row = rows.get(sid)
        if row is not None and row.status == LedgerStatus.VOIDED:
            report.record(sid, "unchanged", qbo_id=row.qbo_id)
            continue
        if row is not None and row.qbo_id:
            todo.append((sid, row.qbo_id, reason))
        elif row is not None and row.status in (LedgerStatus.IN_FLIGHT, LedgerStatus.FAILED) and body:
            unknown.append(WriteRequest(source_type, sid, "Payment", body))
        else:
            record(
                ledger,
                source_type,
                sid,
                LedgerStatus.VOIDED,
                f"{reason}; nothing was in QBO, nothing to void",
                action="voided",
                qbo_entity="Payment",
                partition_key=partition_key,
            )
            report.record(sid, "voided", "never reached QBO")
    if unknown:
        found = adapter.lookup(unknown)
        for req in unknown:
            hit = found.get(req.source_id)
            reason = next(r for s, r, _ in targets if s == req.source_id)
            if hit is not None:
                todo.append((req.source_id, str(hit["Id"]), reason))
            else:
                record(
                    ledger,
                    source_type,
                    req.source_id,
                    LedgerStatus.VOIDED,
                    f"{reason}; not found in QBO, nothing to void",
                    action="voided",
                    qbo_entity="Payment",
                    partition_key=partition_key,
                )
                report.record(req.source_id, "voided", "never reached QBO")
    if not todo:
        return
    current = read_by_ids(qbo, "Payment", [q for _, q, _ in todo])
    ops: list[tuple[str, str, str, dict[str, Any]]] = []
    for sid, qid, reason in todo:
        cur = current.get(qid)
        if cur is None or pm.is_voided(cur):
            state = "already voided" if cur is not None else "no longer in QBO"
            record(
                ledger,
                source_type,
                sid,
                LedgerStatus.VOIDED,
                f"{reason}; QBO Payment {qid} {state}",
                action="voided",
                qbo_entity="Payment",
                qbo_id=qid,
                partition_key=partition_key,
            )
            report.record(sid, "voided", qbo_id=qid)
            continue
        ops.append((sid, qid, reason, cur))

    def void_op(i: int, op: tuple[str, str, str, dict[str, Any]]) -> BatchOp:
        _, qid, _, cur = op
        body = {"Id": qid, "SyncToken": str(cur.get("SyncToken", "0")), "sparse": True}
        return BatchOp(bid=f"v{i}", operation="update", entity="Payment", body=body, options_data="void")

    def void_rid(chunk: list[tuple[str, str, str, dict[str, Any]]]) -> str:
        return chunk_request_id([f"void:{qid}:{cur.get('SyncToken')}" for _, qid, _, cur in chunk])

    for sent in send_batches(qbo, ops, void_op, void_rid):
        if sent.error is not None:
            # outcome unknown or refused: the next load re-reads the payments and tries again
            exc = sent.error
            for sid, qid, _reason, _ in sent.items:
                ledger.mark_failed(
                    source_type, sid, code=exc.code or None, error=f"void: {exc}", transient=True
                )
                report.record(sid, "failed", f"void of QBO Payment {qid}: {exc}")
            continue
        for i, (sid, qid, reason, _) in enumerate(sent.items):
            item = sent.results.get(f"v{i}")
            if item is not None and item.ok:
                record(
                    ledger,
                    source_type,
                    sid,
                    LedgerStatus.VOIDED,
                    f"{reason}; voided QBO Payment {qid}",
                    action="voided",
                    qbo_entity="Payment",
                    qbo_id=qid,
                    partition_key=partition_key,
                )
                report.record(sid, "voided", qbo_id=qid)
            else:
                err = item.error if item is not None else None
                transient = err is None or err.transient or isinstance(err, QBOTransportError)
                text = f"void of QBO Payment {qid}: {err}"
                ledger.mark_failed(
                    source_type, sid, code=err.code if err else None, error=text, transient=transient
                )
                report.record(sid, "failed" if transient else "quarantined", text)


# ----- the load ---------------------------------------------------------------------------------------


def prepare(
    rows: list[dict[str, Any]],
    ledger: Ledger,
    resolver: Resolver,
    source_type: str,
    report: WriteReport,
) -> list[WriteRequest]:
    """Write requests for payment/credit payload rows (their body sits under ``payload.body``)."""
    return prepare_requests(
        rows, ledger, resolver, source_type, report, body_of=lambda r: r["payload"]["body"]
    )


def _resolved_customer(row: dict[str, Any], resolver: Resolver) -> dict[str, Any] | None:
    cid = str(row["payload"].get("customer_id") or "")
    qid = resolver.customers.get(cid)
    return {"CustomerRef": {"value": qid}} if qid else None


def sync_payments(
    qbo: QBOClient, ledger: Ledger, rows: list[dict[str, Any]], refs: RefIds, cfg: MappingConfig
) -> WriteReport:
    """Load payment payload rows: voids first (they free invoice balance), then creates/updates through
    the ledgered writer, then the folded refund/reversal rows and rejections are recorded."""
    report = WriteReport()
    resolver = Resolver.load(ledger, refs)
    adapter = MarkerAdapter(qbo, cfg.invoice.payment_note_marker)
    by_decision: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_decision.setdefault(row["payload"]["decision"], []).append(row)
    voids = [
        (str(r["source_id"]), r["payload"]["reason"], _resolved_customer(r, resolver) or {})
        for r in by_decision.get("void", [])
    ]
    pk = rows[0].get("partition_key") if rows else None
    void_payments(qbo, ledger, adapter, voids, SOURCE_TYPE, report, pk)
    requests = prepare(by_decision.get("post", []), ledger, resolver, SOURCE_TYPE, report)
    report.merge(LedgeredWriter(qbo, ledger, adapter).write(requests))
    for row in by_decision.get("wait", []):
        sid = str(row["source_id"])
        reason = row["payload"]["reason"]
        record(
            ledger,
            SOURCE_TYPE,
            sid,
            LedgerStatus.WAITING,
            reason,
            action="waiting",
            qbo_entity="Payment",
            partition_key=row.get("partition_key"),
        )
        report.record(sid, "waiting", reason)
    for row in by_decision.get("reject", []):
        sid = str(row["source_id"])
        record(
            ledger,
            SOURCE_TYPE,
            sid,
            LedgerStatus.QUARANTINED,
            row["payload"]["reason"],
            action="quarantined",
            qbo_entity="Payment",
            partition_key=row.get("partition_key"),
        )
        report.record(sid, "quarantined", row["payload"]["reason"])
    current = ledger.get_many(
        SOURCE_TYPE, [str(r["payload"]["original_payment_id"]) for r in by_decision.get("fold", [])]
    )
    for row in by_decision.get("fold", []):
        sid = str(row["source_id"])
        orig = str(row["payload"]["original_payment_id"])
        o = current.get(orig)
        reason = row["payload"]["reason"]
        if o is not None and o.status in (LedgerStatus.SYNCED, LedgerStatus.VOIDED):
            status = o.status
            how = "voided" if status == LedgerStatus.VOIDED else "netted into"
            detail = f"{reason} ({how} QBO Payment {o.qbo_id})"
            changed = record(
                ledger,
                SOURCE_TYPE,
                sid,
                status,
                detail,
                action="folded",
                qbo_entity="Payment",
                qbo_id=o.qbo_id,
                partition_key=row.get("partition_key"),
            )
            report.record(sid, "folded" if changed else "unchanged", detail, qbo_id=o.qbo_id)
        else:
            detail = f"{reason}; waiting for Rev.io payment {orig} ({o.status if o else 'not synced yet'})"
            record(
                ledger,
                SOURCE_TYPE,
                sid,
                LedgerStatus.WAITING,
                detail,
                action="waiting",
                qbo_entity="Payment",
                partition_key=row.get("partition_key"),
            )
            report.record(sid, "waiting", detail)
    return report


def payload_digest(rows: list[dict[str, Any]]) -> str:
    """A short digest of payload rows (for metadata: same digest = nothing changed)."""
    h = hashlib.sha256()
    for row in sorted(rows, key=lambda r: (r["source_type"], r["source_id"])):
        h.update(f"{row['source_type']}:{row['source_id']}:{payload_hash(row['payload'])}".encode())
    return h.hexdigest()[:12]


# ----- reconciliation ---------------------------------------------------------------------------------


def _qbo_payments_by_marker(rt: Runtime, prefix: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rt.qbo.query_all("Payment"):
        if pm.is_voided(row):
            continue
        for sid in pm.markers_in(row.get("PrivateNote"), prefix):
            out.setdefault(sid, []).append(row)
    return out


def reconcile_payments(rt: Runtime) -> EntityReconciliation:
    """Each staged Rev.io payment that should be in QBO has exactly one live QBO Payment carrying its marker,
    for its net amount; bounced / fully refunded ones have none."""
    rec = EntityReconciliation("payments")
    staged = rt.store.rows("stg_payments")
    decisions = pm.plan_payments(staged)
    live = _qbo_payments_by_marker(rt, rt.mapping.invoice.payment_note_marker)
    for pid, d in sorted(decisions.items()):
        found = live.get(str(pid), [])
        if len(found) > 1:
            rec.differences.append(f"payment {pid}: {len(found)} live QBO Payments carry its marker")
        if d.action == "post":
            rec.revio_count += 1
            rec.revio_total_cents += d.net_cents
            if not found:
                row = rt.ledger.get(SOURCE_TYPE, pid)
                why = (
                    f"{row.status}: {row.last_error}"
                    if row and row.last_error
                    else (row.status if row else "")
                )
                rec.differences.append(f"payment {pid}: no QBO Payment ({why or 'never synced'})")
                continue
            total = to_cents(found[0]["TotalAmt"])
            rec.qbo_count += 1
            rec.qbo_total_cents += total
            if total != d.net_cents:
                rec.differences.append(
                    f"payment {pid}: Rev.io net {from_cents(d.net_cents)} vs QBO {from_cents(total)}"
                )
        elif found:
            rec.differences.append(
                f"payment {pid} ({d.action}: {d.reason}) still has live QBO Payment {found[0]['Id']}"
            )
    return rec


def reconcile_credits(rt: Runtime) -> EntityReconciliation:
    """One QBO CreditMemo per staged Rev.io credit (DocNumber) with the credit's amount, and at most one live
    application Payment per credit."""
    rec = EntityReconciliation("credits")
    prefix = rt.mapping.invoice.credit_doc_number_prefix
    memos: dict[str, list[dict[str, Any]]] = {}
    for m in rt.qbo.query_all("CreditMemo", where=f"DocNumber LIKE '{prefix}%'"):
        memos.setdefault(str(m.get("DocNumber")), []).append(m)
    apps = _qbo_payments_by_marker(rt, pm.CREDIT_APPLY_MARKER)
    for c in sorted(rt.store.rows("stg_credits"), key=lambda r: int(r["credit_memo_id"])):
        cid = int(c["credit_memo_id"])
        rec.revio_count += 1
        rec.revio_total_cents += int(c["amount_cents"])
        found = memos.get(f"{prefix}{cid}", [])
        if len(found) > 1:
            rec.differences.append(f"credit {cid}: {len(found)} QBO credit memos")
        if len(apps.get(str(cid), [])) > 1:
            rec.differences.append(f"credit {cid}: {len(apps[str(cid)])} live application Payments")
        if not found:
            rec.differences.append(f"credit {cid}: no QBO credit memo")
            continue
        total = to_cents(found[0]["TotalAmt"])
        rec.qbo_count += 1
        rec.qbo_total_cents += total
        if total != int(c["amount_cents"]):
            rec.differences.append(
                f"credit {cid}: Rev.io {from_cents(int(c['amount_cents']))} vs QBO {from_cents(total)}"
            )
    return rec


def reconcile_balances(rt: Runtime) -> EntityReconciliation:
    """QBO invoice Balance = Rev.io's outstanding on the bill, and QBO customer Balance = Rev.io's balance
    (minus charges not on a bill yet, which reach QBO only with their bill), to the cent, read live."""
    rec = EntityReconciliation("balances")
    staged_bills = {int(b["bill_id"]) for b in rt.store.rows("stg_bills")}
    bills = [
        norm.normalize_bill(b) for b in rt.revio.iter_records("Bills") if int(b["bill_id"]) in staged_bills
    ]
    payments = [norm.normalize_payment(p) for p in rt.revio.iter_records("Payments")]
    outstanding = pm.revio_outstanding(bills, payments)
    invoices = synced_ids(rt.ledger, "bill")
    qbo_invoices = read_by_ids(
        rt.qbo, "Invoice", [invoices[str(b)] for b in outstanding if str(b) in invoices]
    )
    for bid, owed in sorted(outstanding.items()):
        qid = invoices.get(str(bid))
        inv = qbo_invoices.get(qid or "")
        rec.revio_count += 1
        rec.revio_total_cents += owed
        if inv is None:
            rec.differences.append(f"bill {bid}: no QBO invoice to compare")
            continue
        bal = to_cents(inv.get("Balance") or 0)
        rec.qbo_count += 1
        rec.qbo_total_cents += bal
        if bal != owed:
            rec.differences.append(
                f"bill {bid}: Rev.io outstanding {from_cents(owed)} vs QBO invoice {qid} "
                f"Balance {from_cents(bal)}"
            )
    unbilled: dict[int, int] = {}
    for ch in rt.revio.iter_records("Charges"):
        if not ch.get("bill_id"):
            unbilled[int(ch["customer_id"])] = unbilled.get(int(ch["customer_id"]), 0) + to_cents(
                ch["amount"]
            )
    customers = synced_customers(rt.ledger)
    qbo_customers = read_by_ids(rt.qbo, "Customer", customers.values())
    for raw in rt.revio.iter_records("Customers"):
        cid = str(raw["customer_id"])
        if cid not in customers or customers[cid] not in qbo_customers:
            continue
        want = int(norm.normalize_customer(raw)["balance_cents"] or 0) - unbilled.get(int(cid), 0)
        have = to_cents(qbo_customers[customers[cid]].get("Balance") or 0)
        if have != want:
            rec.differences.append(
                f"customer {cid}: Rev.io balance {from_cents(want)} vs QBO {from_cents(have)}"
            )
    return rec
