"""Rev.io account collection status -> QBO customer notes, with one alert per transition.

One run (``sync_collection_status``):

1. read every Rev.io customer (status changes are not tied to bill dates) and derive its collection state
   (``entities/dunning/mapping.py``); compare with the state recorded in ``dunning_state``; record the new
   state
   (``seq`` + 1 per transition) before touching QBO;
2. for every account whose note is not yet applied (ledger ``customer_status`` row missing, not synced, or
   synced with another payload hash) read the QBO customer (found through the ledger's ``customer`` row),
   and send a sparse update with its current SyncToken; a 5010 re-reads and retries once; outcomes go to
   the ledger (``failed`` for transient errors, ``quarantined`` for validation errors, ``waiting`` when the
   customer is not in QBO yet), so they show in ``revqb status`` and ``revqb retry``;
3. alert every transition whose key (``dunning:<customer>:<seq>``) was never sent, in one batched message.

A repeat run finds no transition, no note to apply and no alert to send: it writes nothing.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from revqb_pipeline.clients.errors import (
    OAuthError,
    QBOAuthError,
    QBODuplicateRequestId,
    QBOError,
    QBOStaleObject,
)
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.dunning.mapping import (
    AccountFacts,
    CollectionState,
    StatusSnapshot,
    Transition,
    account_facts,
    customer_status_update,
    desired_active,
    detect_transition,
    status_line,
)
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.notify import Alert, Notifier, NotifyResult
from revqb_pipeline.staging import Engine
from revqb_pipeline.staging.dunning import latest_transitions, load_dunning_states, save_dunning_states
from revqb_pipeline.staging.ledger import Intent, Ledger, LedgerError, LedgerStatus
from revqb_pipeline.sync.writer import update_entity

log = logging.getLogger("revqb.sync.dunning")

SOURCE_TYPE = "customer_status"
ALERT_SUBJECT = "revqb: Rev.io account status changes"
WAITING_REASON = "the QBO customer is not synced yet; the status note follows once it is"


@dataclass
class DunningReport:
    """What one status sync did (counts for Dagster metadata and the CLI; no secrets)."""

    customers: int = 0
    transitions: list[Transition] = field(default_factory=list)
    notes_updated: int = 0
    notes_unchanged: int = 0
    waiting: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)
    alerts: NotifyResult = field(default_factory=NotifyResult)

    def metadata(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "transitions": len(self.transitions),
            "notes_updated": self.notes_updated,
            "notes_unchanged": self.notes_unchanged,
            "waiting_for_customer": self.waiting,
            "failed": len(self.failed),
            "quarantined": len(self.quarantined),
            "unreadable": len(self.unreadable),
            "alerts_sent": self.alerts.sent,
            "alerts_logged_only": self.alerts.logged,
            "alert_errors": len(self.alerts.errors),
        }


# ----- the state table ---------------------------------------------------------------------------------


def load_states(engine: Engine) -> dict[str, tuple[StatusSnapshot, str | None]]:
    """Recorded snapshots (and the last transition's alert text) by customer id."""
    out: dict[str, tuple[StatusSnapshot, str | None]] = {}
    for r in load_dunning_states(engine):
        snap = StatusSnapshot(
            state=CollectionState(r.state),
            step=r.step,
            since=date.fromisoformat(r.since) if r.since else None,
            overdue_cents=r.overdue_cents,
            seq=r.seq,
        )
        out[r.customer_id] = (snap, r.transition)
    return out


def save_states(engine: Engine, rows: list[tuple[StatusSnapshot, AccountFacts, Transition | None]]) -> None:
    """Upsert changed snapshots (one transaction)."""
    save_dunning_states(
        engine,
        [
            {
                "customer_id": facts.customer_id,
                "state": snap.state.value,
                "step": snap.step,
                "since": snap.since.isoformat() if snap.since else None,
                "overdue_cents": snap.overdue_cents,
                "seq": snap.seq,
                "display_name": facts.display_name[:500],
                "transition": tr.describe() if tr else None,
            }
            for snap, facts, tr in rows
        ],
    )


# ----- applying a note -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Desired:
    customer_id: str
    line: str | None
    active: bool | None

    @property
    def hash(self) -> str:
        return payload_hash({"line": self.line, "active": self.active})


class _Applier:
    def __init__(self, qbo: QBOClient, ledger: Ledger, cfg: MappingConfig, report: DunningReport) -> None:
        self.qbo = qbo
        self.ledger = ledger
        self.cfg = cfg
        self.report = report
        self.marker = cfg.invoice.customer_notes_marker

    def body(self, current: dict[str, Any], want: _Desired) -> dict[str, Any] | None:
        return customer_status_update(current, want.line, self.cfg.dunning, want.active, self.marker)

    def apply(self, want: _Desired, qbo_id: str) -> None:
        sid = want.customer_id
        stored = self.ledger.record_intents(
            [
                Intent(
                    source_type=SOURCE_TYPE,
                    source_id=sid,
                    qbo_entity="Customer",
                    payload_hash=want.hash,
                    business_key=f"{self.cfg.dunning.status_line_prefix}{sid}",
                    partition_key=None,
                    request_id=uuid.uuid4().hex[:20],
                )
            ]
        )
        request_id = stored[sid].request_id or uuid.uuid4().hex[:20]
        try:
            result, action = self._write(want, qbo_id, request_id)
        except (OAuthError, QBOAuthError):
            raise
        except QBOError as exc:
            text = f"{exc.code} {exc.message}: {exc.detail}".strip() if exc.code else str(exc)
            self.ledger.mark_failed(
                SOURCE_TYPE, sid, code=exc.code or None, error=text, transient=exc.transient
            )
            (self.report.failed if exc.transient else self.report.quarantined)[sid] = text
            log.warning("customer %s status note: %s", sid, text)
            return
        token = str(result.get("SyncToken", ""))
        self.ledger.mark_synced(
            SOURCE_TYPE,
            sid,
            qbo_id=qbo_id,
            sync_token=token,
            payload_hash=want.hash,
            qbo_entity="Customer",
            action=action,
            detail=f"{action} status note of Customer {qbo_id}: {want.line or '(line removed)'}",
        )
        if action == "updated":
            self.report.notes_updated += 1
            try:
                self.ledger.set_sync_token("customer", sid, sync_token=token)
            except LedgerError:
                pass
        else:
            self.report.notes_unchanged += 1

    def _write(self, want: _Desired, qbo_id: str, request_id: str) -> tuple[dict[str, Any], str]:
        current = self.qbo.read("Customer", qbo_id)
        body = self.body(current, want)
        if body is None:
            return current, "unchanged"
        try:
            return self._update(body, request_id), "updated"
        except (QBOStaleObject, QBODuplicateRequestId):
            # 5010: someone changed the customer since the read; 600: same requestid, other body.
            current = self.qbo.read("Customer", qbo_id)
            body = self.body(current, want)
            if body is None:
                return current, "unchanged"
            return self._update(body, uuid.uuid4().hex[:20]), "updated"

    def _update(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        try:
            return update_entity(self.qbo, "Customer", body, request_id=request_id)
        except QBOError as exc:
            if exc.code == "6220" and body.get("Active") is False:
                # cannot deactivate a customer with an open balance: keep it active, still write the note
                log.warning("customer %s has an open balance in QBO; left active", body["Id"])
                body = {k: v for k, v in body.items() if k != "Active"}
                if "Notes" not in body:
                    raise
                return update_entity(self.qbo, "Customer", body, request_id=uuid.uuid4().hex[:20])
            raise


# ----- the run ---------------------------------------------------------------------------------------------


def sync_collection_status(
    qbo: QBOClient,
    ledger: Ledger,
    cfg: MappingConfig,
    customers: Iterable[dict[str, Any]],
    notifier: Notifier,
    as_of: date | None = None,
) -> DunningReport:
    """Detect transitions for ``customers`` (raw Rev.io records), update QBO notes, send alerts."""
    as_of = as_of or date.today()
    engine = ledger.engine
    report = DunningReport()
    previous = load_states(engine)
    current: dict[str, tuple[StatusSnapshot, AccountFacts]] = {}
    changed: list[tuple[StatusSnapshot, AccountFacts, Transition | None]] = []
    for raw in customers:
        report.customers += 1
        try:
            facts = account_facts(raw, cfg.dunning)
        except Exception as exc:  # one bad record must not stop the others
            cid = str(raw.get("customer_id") if isinstance(raw, dict) else "?")
            report.unreadable[cid] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        before = previous.get(facts.customer_id)
        snap, tr = detect_transition(before[0] if before else None, facts, cfg.dunning, as_of)
        current[facts.customer_id] = (snap, facts)
        if tr is not None:
            report.transitions.append(tr)
            changed.append((snap, facts, tr))
        elif before is None:
            changed.append((snap, facts, None))  # silent baseline
    save_states(engine, changed)

    _apply_notes(qbo, ledger, cfg, current, report)
    report.alerts = notifier.send(ALERT_SUBJECT, pending_alerts(engine))
    log.info(
        "status sync: %d customers, %d transitions, %d notes updated, %d alerts",
        report.customers,
        len(report.transitions),
        report.notes_updated,
        report.alerts.sent,
    )
    return report


def _apply_notes(
    qbo: QBOClient,
    ledger: Ledger,
    cfg: MappingConfig,
    current: dict[str, tuple[StatusSnapshot, AccountFacts]],
    report: DunningReport,
) -> None:
    wanted = {
        cid: _Desired(cid, status_line(snap, cfg.dunning), desired_active(snap, facts.status, cfg.dunning))
        for cid, (snap, facts) in current.items()
        if snap.seq > 0
    }
    if not wanted:
        return
    rows = ledger.get_many(SOURCE_TYPE, wanted)
    todo: list[_Desired] = []
    for cid, want in wanted.items():
        row = rows.get(cid)
        if row is not None and row.payload_hash == want.hash:
            if row.status == LedgerStatus.SYNCED:
                continue
            if row.status == LedgerStatus.QUARANTINED:
                report.quarantined[cid] = row.last_error or "quarantined"
                continue
        todo.append(want)
    if not todo:
        return
    customers = ledger.get_many("customer", [w.customer_id for w in todo])
    applier = _Applier(qbo, ledger, cfg, report)
    for want in sorted(todo, key=lambda w: w.customer_id):
        link = customers.get(want.customer_id)
        if link is None or not link.qbo_id:
            report.waiting += 1
            row = rows.get(want.customer_id)
            if row is None or row.status != LedgerStatus.WAITING:
                ledger.mark_waiting(
                    SOURCE_TYPE, want.customer_id, reason=WAITING_REASON, qbo_entity="Customer"
                )
            continue
        applier.apply(want, link.qbo_id)


def pending_alerts(engine: Engine) -> list[Alert]:
    """An alert for the latest transition of every account (the notifier drops the ones already sent)."""
    return [
        Alert(key=f"dunning:{cid}:{seq}", kind="dunning", text=text)
        for cid, seq, text in latest_transitions(engine)
    ]
