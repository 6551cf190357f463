"""QuickBooks drift: documents revqb posted that someone changed, voided or deleted in QBO (issue 14).

One pass (:func:`detect_drift`):

1. **What changed in QBO.** Change Data Capture (``GET /cdc``) per entity since that entity's stored
   checkpoint (clamped to CDC's 30-day window; the next checkpoint is QBO's response time less an overlap),
   plus the webhook notifications stored by ``sync/qbo_events.py`` and not processed yet.
2. **Which of those revqb posted.** Joined to the ledger by QBO entity + id: synced rows with a staged
   payload. A document whose SyncToken is still the ledger's is revqb's own write: skipped without a read.
   Webhook-only changes are read in batched ``IN`` queries; a document gone is ``deleted``.
3. **What changed from what to what.** ``mapping/drift.py`` compares the mapped fields of the staged
   payload (references resolved through the ledger) with the document now, money exactly; no difference
   (e.g. a SyncToken bumped by applying a payment) is no drift, and closes an open drift as ``matches``.
4. **Recorded and alerted once.** A drift is one ``qbo_drift`` row; the same drift seen again (CDC after
   the webhook, the next pass) is not recorded again; each row is alerted once through the notifier
   (alert key ``drift:<id>``).

:func:`restore_drift` repairs open drifts of entities whose policy (mapping file, ``drift:``) is
``restore``: their ledger rows are marked to post again (``Ledger.mark_drifted``) and the entity's daily
load step re-runs for the staged payload's partition, so the ledgered writer updates the document back to
the staged payload with its current SyncToken, or creates a deleted one again with a new requestid (the
ledger then holds the new id). Unchanged records of that partition are skipped by their hash.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients.errors import QBOError
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.mapping.drift import (
    DRIFT_ENTITIES,
    DriftFinding,
    compare,
    posted_body,
    symbols_in,
)
from revqb_pipeline.mapping.symbols import SYMBOLS
from revqb_pipeline.notify import Alert, Notifier
from revqb_pipeline.staging.drift import DriftRecord, DriftStore, NewDrift
from revqb_pipeline.staging.ledger import Ledger, LedgerRow, LedgerStatus
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import read_by_ids

log = logging.getLogger("revqb.drift")

CDC_WINDOW = timedelta(days=30)
CDC_MARGIN = timedelta(minutes=5)  # stay inside the window whatever the clocks' skew
CDC_OVERLAP = timedelta(seconds=60)  # re-read the last minute: LastUpdatedTime has second precision
CDC_MAX = 1000  # objects per CDC response
ALERT_SUBJECT = "QuickBooks drift"

#: The load step that re-posts each source type (``restore``): step names of ``entities.STEPS``.
LOAD_STEPS: dict[str, str] = {
    "customer": "customers",
    "bill": "invoices",
    "payment": "payments",
    "credit": "credit_memos",
    "credit_application": "credit_memos",
}

LoadFn = Callable[[Runtime, str], Any]


@dataclass
class DriftReport:
    """What one detection pass saw and did."""

    cdc_objects: int = 0
    notifications: int = 0
    examined: int = 0
    own_writes: int = 0
    new: list[DriftRecord] = field(default_factory=list)
    known: int = 0
    matches_again: int = 0
    alerted: int = 0
    capped: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "cdc_objects": self.cdc_objects,
            "notifications": self.notifications,
            "examined": self.examined,
            "revqb_writes_skipped": self.own_writes,
            "new_drift": len(self.new),
            "known_drift": self.known,
            "resolved_matching": self.matches_again,
            "alerted": self.alerted,
        }


@dataclass
class RestoreReport:
    """What :func:`restore_drift` repaired (drift id -> detail) and could not."""

    restored: dict[int, str] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    loads: list[tuple[str, str]] = field(default_factory=list)  # (step, partition) re-run
    relinked: list[tuple[str, str]] = field(default_factory=list)  # dependants re-posted (type, id)


# ----- reading QBO ------------------------------------------------------------------------------------


def _parse_time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def cdc_since(checkpoint: str | None, now: datetime) -> datetime:
    """The ``changedSince`` of a pass: the checkpoint, never older than CDC's 30-day window allows."""
    oldest = now - CDC_WINDOW + CDC_MARGIN
    if checkpoint is None:
        return oldest
    return max(_parse_time(checkpoint), oldest)


def read_cdc(qbo: QBOClient, entity: str, since: datetime) -> tuple[list[dict[str, Any]], str]:
    """Objects of ``entity`` changed since ``since`` (``Deleted`` stubs included) and the next checkpoint:
    QBO's response time less the overlap, or the last object's time when the response hit CDC's cap."""
    params = {"entities": entity, "changedSince": since.isoformat(timespec="seconds")}
    data = qbo.request("GET", "/cdc", params=params)
    objects: list[dict[str, Any]] = []
    for block in data.get("CDCResponse") or []:
        for group in block.get("QueryResponse") or []:
            for key, rows in group.items():
                if key.lower() == entity.lower() and isinstance(rows, list):
                    objects += [r for r in rows if isinstance(r, dict)]
    server_now = _parse_time(str(data["time"])) if data.get("time") else datetime.now(UTC)
    next_since = server_now.replace(microsecond=0) - CDC_OVERLAP
    if len(objects) >= CDC_MAX:
        last = max(_parse_time(str(o["MetaData"]["LastUpdatedTime"])) for o in objects)
        if last > since:
            next_since = last
            log.warning("CDC %s: %s objects (the cap); continuing from %s next pass", entity, CDC_MAX, last)
    return objects, max(next_since, since).isoformat(timespec="seconds")


def _read_current(qbo: QBOClient, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any] | None]:
    """The documents now by id (None: gone), batched."""
    wanted = sorted(set(ids))
    found = read_by_ids(qbo, entity, wanted) if wanted else {}
    return {i: found.get(i) for i in wanted}


# ----- the ledger side ---------------------------------------------------------------------------------


@dataclass
class Posted:
    """A document revqb posted: its ledger row and the body it posted (staged payload)."""

    row: LedgerRow
    body: Mapping[str, Any]
    partition_key: str | None


def posted_documents(
    ledger: Ledger, store: DriftStore, entity: str, qbo_ids: Iterable[str]
) -> dict[str, Posted]:
    """QBO id -> what revqb posted there: a synced ledger row with a staged payload body (rows that only
    point at a document, such as a refund folded into its payment, posted nothing of their own)."""
    rows = ledger.find_by_qbo_ids(entity, qbo_ids)
    by_type: dict[str, list[LedgerRow]] = defaultdict(list)
    for linked in rows.values():
        for row in linked:
            if row.status == LedgerStatus.SYNCED:
                by_type[row.source_type].append(row)
    out: dict[str, Posted] = {}
    for source_type, typed in sorted(by_type.items()):
        payloads = store.payloads(source_type, [r.source_id for r in typed])
        for row in typed:
            staged = payloads.get(row.source_id)
            if staged is None or row.qbo_id is None or row.qbo_id in out:
                continue
            body = posted_body(jsonutil.loads(staged["payload_json"]))
            if body is not None:
                out[row.qbo_id] = Posted(row, body, staged.get("partition_key"))
    return out


def resolve_symbols(ledger: Ledger, bodies: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``revio-customer:12`` -> the QBO id of its synced ledger row, for every ledger-backed symbol the
    bodies name (one batched read per source type)."""
    wanted = {value for body in bodies for value in symbols_in(body)}
    by_type: dict[str, dict[str, str]] = defaultdict(dict)  # source_type -> key -> symbol
    for value in sorted(wanted):
        symbol = next((s for s in SYMBOLS if s.source_type and value.startswith(s.prefix)), None)
        if symbol is not None and symbol.source_type:
            by_type[symbol.source_type][value[len(symbol.prefix) :]] = value
    ids: dict[str, str] = {}
    for source_type, keys in by_type.items():
        for key, row in ledger.get_many(source_type, list(keys)).items():
            if row.status in (LedgerStatus.SYNCED, LedgerStatus.VOIDED) and row.qbo_id:
                ids[keys[key]] = row.qbo_id
    return ids


# ----- one pass ----------------------------------------------------------------------------------------


def detect_drift(
    rt: Runtime,
    *,
    notifier: Notifier | None = None,
    use_cdc: bool = True,
    use_webhooks: bool = True,
    now: datetime | None = None,
) -> DriftReport:
    """Detect, record and alert drift once (see the module docstring); returns what the pass did."""
    store = DriftStore(rt.engine)
    qbo, ledger = rt.qbo, rt.ledger
    realm = qbo.realm_id
    now = now or datetime.now(UTC)
    report = DriftReport()
    docs: dict[tuple[str, str], dict[str, Any] | None] = {}  # known current state
    seen_by: dict[tuple[str, str], str] = {}
    checkpoints: dict[str, str] = {}
    if use_cdc:
        for entity in DRIFT_ENTITIES:
            since = cdc_since(store.checkpoint(realm, entity), now)
            objects, checkpoints[entity] = read_cdc(qbo, entity, since)
            report.cdc_objects += len(objects)
            for obj in objects:
                key = (entity, str(obj.get("Id")))
                docs[key] = None if str(obj.get("status", "")).lower() == "deleted" else obj
                seen_by[key] = "cdc"
    pending = store.pending_notifications(realm) if use_webhooks else []
    report.notifications = len(pending)
    unread: dict[str, set[str]] = defaultdict(set)
    for note in pending:
        key = (note.entity, note.qbo_id)
        if key in docs:
            continue
        seen_by[key] = "webhook"
        if note.operation.lower() == "delete":
            docs[key] = None
        else:
            unread[note.entity].add(note.qbo_id)
    by_entity: dict[str, list[str]] = defaultdict(list)
    for entity, qbo_id in seen_by:
        by_entity[entity].append(qbo_id)
    found: list[tuple[Posted, dict[str, Any] | None, str]] = []
    for entity, qbo_ids in sorted(by_entity.items()):
        posted = posted_documents(ledger, store, entity, qbo_ids)
        to_read = sorted(i for i in unread.get(entity, set()) if i in posted)
        current = {i: docs[(entity, i)] for i in qbo_ids if (entity, i) in docs}
        current.update(_read_current(qbo, entity, to_read))
        for qbo_id, p in sorted(posted.items()):
            doc = current.get(qbo_id)
            if doc is not None and str(doc.get("SyncToken")) == str(p.row.sync_token):
                report.own_writes += 1  # revqb's own write (or nothing since): not drift
                continue
            found.append((p, doc, seen_by[(entity, qbo_id)]))
    report.examined = len(found)
    ids = resolve_symbols(ledger, [p.body for p, _, _ in found])
    open_drifts = {(d.source_type, d.source_id): d for d in store.drifts(open_only=True)}
    new: list[NewDrift] = []
    for p, doc, how in found:
        entity = p.row.qbo_entity or ""
        finding = compare(entity, p.body, doc, ids)
        key = (p.row.source_type, p.row.source_id)
        if finding is None:
            if key in open_drifts:
                store.resolve(open_drifts[key].id, "matches", "QBO holds what revqb posted again")
                report.matches_again += 1
            continue
        new.append(_new_drift(p.row, entity, finding, how))
    recorded = store.record(new)
    report.new = recorded
    report.known = len(new) - len(recorded)
    if notifier is not None:
        report.alerted = alert_drift(store, notifier)
    if pending:
        store.mark_processed(n.id for n in pending)
    for entity, since in checkpoints.items():
        store.set_checkpoint(realm, entity, since)
    return report


def _new_drift(row: LedgerRow, entity: str, finding: DriftFinding, how: str) -> NewDrift:
    qbo_id = row.qbo_id or ""
    return NewDrift(
        source_type=row.source_type,
        source_id=row.source_id,
        qbo_entity=entity,
        qbo_id=qbo_id,
        kind=finding.kind,
        changes=[{"field": c.field, "from": c.posted, "to": c.current} for c in finding.changes],
        fingerprint=finding.fingerprint(entity, qbo_id),
        detected_by=how,
    )


def drift_text(d: DriftRecord) -> str:
    """One alert / status line: ``Invoice 12 (Rev.io bill 7) voided in QBO: TotalAmt 120.00 -> 0.00``."""
    changes = "; ".join(f"{c['field']} {_show(c['from'])} -> {_show(c['to'])}" for c in d.changes)
    return f"{d.qbo_entity} {d.qbo_id} (Rev.io {d.source_type} {d.source_id}) {d.kind} in QBO: {changes}"


def _show(value: Any) -> str:
    return "(none)" if value is None else str(value)


def alert_drift(store: DriftStore, notifier: Notifier) -> int:
    """Alert every drift not alerted yet, once (alert key ``drift:<id>``); returns how many went out or
    were logged. When every channel failed they stay un-alerted for the next pass."""
    todo = store.drifts(unalerted=True)
    if not todo:
        return 0
    result = notifier.send(ALERT_SUBJECT, [Alert(f"drift:{d.id}", "drift", drift_text(d)) for d in todo])
    if notifier.channels and not result.channels:
        return 0
    store.mark_alerted(d.id for d in todo)
    return result.sent + result.logged


# ----- restore ----------------------------------------------------------------------------------------


def load_functions(steps: Iterable[Any]) -> dict[str, LoadFn]:
    """Source type -> the load step re-posting it (from ``entities.STEPS``, by :data:`LOAD_STEPS`)."""
    by_name = {s.name: s.run for s in steps}
    return {st: by_name[name] for st, name in LOAD_STEPS.items() if name in by_name}


def restore_drift(rt: Runtime, loads: Mapping[str, LoadFn]) -> RestoreReport:
    """Repair the open drifts whose entity's policy is ``restore`` (see the module docstring)."""
    store = DriftStore(rt.engine)
    policy = rt.mapping.drift
    todo = [
        d
        for d in store.drifts(open_only=True)
        if policy.policy_for(d.qbo_entity) == "restore" and d.source_type in loads
    ]
    report = RestoreReport()
    if not todo:
        return report
    by_type: dict[str, list[DriftRecord]] = defaultdict(list)
    for d in todo:
        by_type[d.source_type].append(d)
    runs: dict[tuple[int, str], tuple[LoadFn, str, str]] = {}
    for source_type, drifts in sorted(by_type.items()):
        ids = [d.source_id for d in drifts]
        staged = store.payloads(source_type, ids)
        rt.ledger.mark_drifted(
            source_type, ids, detail="QBO drift: re-post the staged payload from Rev.io (policy restore)"
        )
        fn = loads[source_type]
        for d in drifts:
            pk = (staged.get(d.source_id) or {}).get("partition_key")
            if pk is None:
                report.failed[d.id] = "no staged payload partition to re-post from"
                continue
            runs.setdefault((id(fn), pk), (fn, pk, LOAD_STEPS.get(source_type, source_type)))
    _run_loads(rt, runs, report)
    _relink_dependants(rt, store, [d for d in todo if d.kind == "deleted"], loads, report)
    for d in todo:
        if d.id in report.failed:
            continue
        detail = _verify_restored(rt, store, d)
        if detail.startswith("restored"):
            store.resolve(d.id, "restored", detail)
            report.restored[d.id] = detail
        else:
            report.failed[d.id] = detail
    return report


def _run_loads(rt: Runtime, runs: Mapping[Any, tuple[LoadFn, str, str]], report: RestoreReport) -> None:
    for fn, pk, name in sorted(runs.values(), key=lambda r: (r[1], r[2])):
        fn(rt, pk)
        report.loads.append((name, pk))


def _relink_dependants(
    rt: Runtime,
    store: DriftStore,
    recreated: list[DriftRecord],
    loads: Mapping[str, LoadFn],
    report: RestoreReport,
) -> None:
    """Documents applied to a deleted one that was created again (a payment or credit application on a
    deleted invoice) still point at the dead id: post them again so they apply to the new document."""
    prefixes = {s.source_type: s.prefix for s in SYMBOLS if s.source_type}
    runs: dict[tuple[int, str], tuple[LoadFn, str, str]] = {}
    for d in recreated:
        prefix = prefixes.get(d.source_type)
        if prefix is None:
            continue
        found = store.referencing(f"{prefix}{d.source_id}", [st for st in loads if st != d.source_type])
        for source_type, members in sorted(found.items()):
            changed = rt.ledger.mark_drifted(
                source_type,
                list(members),
                detail=f"re-apply to the recreated {d.qbo_entity} of {d.source_type} {d.source_id}",
            )
            if not changed:
                continue
            fn = loads[source_type]
            for sid, pk in sorted(members.items()):
                report.relinked.append((source_type, sid))
                if pk is not None:
                    runs.setdefault((id(fn), pk), (fn, pk, LOAD_STEPS.get(source_type, source_type)))
    _run_loads(rt, runs, report)


def _verify_restored(rt: Runtime, store: DriftStore, d: DriftRecord) -> str:
    """``restored: ...`` when QBO now holds the staged payload again, else why not."""
    row = rt.ledger.get(d.source_type, d.source_id)
    if row is None or row.status != LedgerStatus.SYNCED or not row.qbo_id or row.payload_hash is None:
        state = row.status if row else "missing"
        return f"not restored: ledger row is {state}{': ' + row.last_error if row and row.last_error else ''}"
    staged = store.payloads(d.source_type, [d.source_id]).get(d.source_id)
    body = posted_body(jsonutil.loads(staged["payload_json"])) if staged else None
    if body is None:
        return "not restored: no staged payload"
    try:
        current: dict[str, Any] | None = rt.qbo.read(d.qbo_entity, row.qbo_id)
    except QBOError as exc:
        if exc.code != "610":
            raise
        current = None
    finding = compare(d.qbo_entity, body, current, resolve_symbols(rt.ledger, [body]))
    if finding is not None:
        return f"not restored: still differs ({finding.summary()})"
    moved = f" (recreated; the deleted one was {d.qbo_entity} {d.qbo_id})" if row.qbo_id != d.qbo_id else ""
    return f"restored: {d.qbo_entity} {row.qbo_id} matches Rev.io again{moved}"


# ----- one call for schedules, checks and the CLI -----------------------------------------------------


def drift_pass(
    rt: Runtime, notifier: Notifier | None, loads: Mapping[str, LoadFn]
) -> tuple[DriftReport, RestoreReport]:
    """Detect (CDC + stored webhooks), alert once, then restore what the policy says to restore."""
    found = detect_drift(rt, notifier=notifier)
    return found, restore_drift(rt, loads)


def open_drift(rt: Runtime) -> list[DriftRecord]:
    """Drifts nobody has resolved yet (report policy, or a restore that did not take): the "unexplained"
    ones ``revqb status`` lists and the "no unexplained drift" check fails on."""
    return DriftStore(rt.engine).drifts(open_only=True)
