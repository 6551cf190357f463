"""The one way revqb writes to QuickBooks: intent in the ledger, lookup, batched write, recorded outcome.

Protocol (docs/architecture.md): a payload whose hash is already synced is skipped; every create is preceded
by a business-key lookup (so an earlier write whose response was lost is linked, not repeated); the intent and
its ``requestid`` are committed before the write; a retried chunk reuses its ``requestid``; every outcome
lands in the ledger with a readable detail.

No other module calls a ``QBOClient`` write method (``revqb_pipeline_tests/test_architecture.py`` enforces
it): writes that do not fit :class:`LedgeredWriter` (reference data, status notes, voids, deletes) go through
:func:`create_entity`, :func:`update_entity`, :func:`delete_entity`, :func:`void_invoice` and
:func:`send_batches`, with the request ids their callers derive and record.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from revqb_pipeline.clients.errors import (
    OAuthError,
    QBOAuthError,
    QBODuplicateDocNumber,
    QBOError,
    QBOStaleObject,
    QBOTransportError,
)
from revqb_pipeline.clients.qbo import BatchItemResult, BatchOp, QBOClient, in_clause
from revqb_pipeline.mapping.hashing import payload_hash
from revqb_pipeline.money import MoneyError, to_decimal
from revqb_pipeline.staging.ledger import Failed, Intent, Ledger, LedgerStatus, Synced

log = logging.getLogger("revqb.sync")

BATCH_LIMIT = 30
SERVER_FIELDS = ("Id", "SyncToken", "MetaData", "domain", "sparse")

T = TypeVar("T")


@dataclass
class WriteRequest:
    """One logical write: a source record and the QBO entity body it should become."""

    source_type: str
    source_id: str
    qbo_entity: str
    payload: dict[str, Any]
    business_key: str | None = None
    partition_key: str | None = None
    logical_hash: str | None = None  # set when the payload was adjusted for QBO (e.g. a renamed customer)
    _hash: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def hash(self) -> str:
        """The hash the ledger compares: of the payload the source asked for, not of a QBO-side adjustment.
        Computed once (a request's payload is not changed after it is built; a corrected one is a new
        request)."""
        if self.logical_hash:
            return self.logical_hash
        if self._hash is None:
            self._hash = payload_hash(self.payload)
        return self._hash


@dataclass
class WriteReport:
    """What happened to each request, and the counts shown in Dagster metadata and the CLI; ``documents``
    keeps the QBO entity and document amount of the records the writer saw (the "documents" table)."""

    counts: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, tuple[str, str]] = field(default_factory=dict)  # source_id -> (action, detail)
    qbo_ids: dict[str, str] = field(default_factory=dict)  # source_id -> QBO Id
    documents: dict[str, tuple[str, Decimal | None]] = field(default_factory=dict)  # -> (entity, amount)

    def record(
        self,
        source_id: str,
        action: str,
        detail: str = "",
        qbo_id: str | None = None,
        *,
        entity: str | None = None,
        amount: Decimal | None = None,
    ) -> None:
        self.counts[action] += 1
        self.outcomes[source_id] = (action, detail)
        if qbo_id:
            self.qbo_ids[source_id] = qbo_id
        if entity:
            self.documents[source_id] = (entity, amount)

    def merge(self, other: WriteReport) -> None:
        self.counts.update(other.counts)
        self.outcomes.update(other.outcomes)
        self.qbo_ids.update(other.qbo_ids)
        self.documents.update(other.documents)


def payload_amount(payload: dict[str, Any]) -> Decimal | None:
    """The document amount of a QBO body, exact: ``TotalAmt``; else the sum of its line ``Amount``s (a
    journal entry: its debits) plus ``TxnTaxDetail.TotalTax``; else ``Amount``; None without any."""
    try:
        if payload.get("TotalAmt") is not None:
            return to_decimal(payload["TotalAmt"])
        lines = [ln for ln in payload.get("Line") or [] if isinstance(ln, dict) and "Amount" in ln]
        if lines:
            debits = [
                ln for ln in lines if (ln.get("JournalEntryLineDetail") or {}).get("PostingType") == "Debit"
            ]
            total = sum((to_decimal(ln["Amount"]) for ln in debits or lines), Decimal(0))
            tax = (payload.get("TxnTaxDetail") or {}).get("TotalTax")
            return total + (to_decimal(tax) if tax is not None and not debits else 0)
        if payload.get("Amount") is not None:
            return to_decimal(payload["Amount"])
    except MoneyError:
        return None
    return None


class EntityAdapter(Protocol):
    """Entity-specific parts of a write: finding an existing entity and building an update.

    An adapter may also offer ``lookup_queries(requests)`` (its lookup's ``(entity, where)`` queries) and
    ``lookup_rows(requests, results)`` (the lookup's answer from their rows): the writer then sends the
    lookup of a chunk's creates and the read of its updates in one ``/batch`` call."""

    def lookup(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        """Existing QBO entities for these requests, keyed by source_id (by business key)."""
        ...

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        """A sparse update turning ``existing`` into ``desired``, or None when they already agree."""
        ...

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        """A corrected request to try once more (e.g. a renamed customer after 6240), or None."""
        ...


class DocNumberLookup:
    """A ``lookup`` that finds entities whose ``field_name`` equals each request's business key: one
    ``IN`` query per 100 keys, all of them in one ``/batch`` call (``queries`` / ``rows`` let the writer
    send them together with its reads before updates)."""

    def __init__(self, qbo: QBOClient, entity: str, field_name: str = "DocNumber") -> None:
        self.qbo = qbo
        self.entity = entity
        self.field_name = field_name

    def queries(self, requests: list[WriteRequest]) -> list[tuple[str, str]]:
        return self.key_queries(r.business_key for r in requests if r.business_key)

    def key_queries(self, keys: Iterable[str]) -> list[tuple[str, str]]:
        """``(entity, where)`` queries finding ``keys``, 100 per ``IN`` list."""
        wanted = sorted(set(keys))
        return [
            (self.entity, f"{self.field_name} IN {in_clause(wanted[i : i + 100])}")
            for i in range(0, len(wanted), 100)
        ]

    def rows(
        self, requests: list[WriteRequest], results: list[list[dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        by_key = {r.business_key: r.source_id for r in requests if r.business_key}
        found: dict[str, dict[str, Any]] = {}
        for rows in results:
            for row in rows:
                sid = by_key.get(str(row.get(self.field_name)))
                if sid is not None:
                    found[sid] = row
        return found

    def __call__(self, requests: list[WriteRequest]) -> dict[str, dict[str, Any]]:
        return self.rows(requests, self.qbo.query_all_each(self.queries(requests)))

    def ahead(self, keys: Iterable[str]) -> KnownKeys:
        """One lookup of ``keys`` made ahead of their writes (all ``IN`` lists in one ``/batch`` call)."""
        wanted = {str(k) for k in keys if k}
        return self.known(wanted, self.qbo.query_all_each(self.key_queries(wanted)) if wanted else [])

    def known(self, keys: Iterable[str], results: list[list[dict[str, Any]]]) -> KnownKeys:
        """The :class:`KnownKeys` of ``keys`` from the rows of their ``key_queries`` (sent by the caller)."""
        wanted = {str(k) for k in keys if k}
        found = {str(row.get(self.field_name)): row for rows in results for row in rows}
        return KnownKeys(wanted, {k: row for k, row in found.items() if k in wanted})


@dataclass
class KnownKeys:
    """The answer of a business-key lookup made ahead of the writes it covers (a day's invoices, looked up
    before its first load slice): the keys asked (``keys``) and the QBO rows found among them (``rows``).

    Each key answers one create lookup only (:meth:`take`): a later lookup of the same key (a duplicate
    DocNumber, a lost response) asks QBO again. Safe only while nothing but the caller writes these keys
    meanwhile (the QBO load steps of a realm run behind a one-slot pool)."""

    keys: set[str]
    rows: dict[str, dict[str, Any]]

    def take(self, requests: list[WriteRequest]) -> tuple[list[WriteRequest], dict[str, dict[str, Any]]]:
        """The requests this answer does not cover, and the rows found for those it covers (source_id ->
        row); the covered keys are used up."""
        rest: list[WriteRequest] = []
        found: dict[str, dict[str, Any]] = {}
        for req in requests:
            key = req.business_key
            if key is None or key not in self.keys:
                rest.append(req)
                continue
            if key in self.rows:
                found[req.source_id] = self.rows[key]
        for req in requests:
            if req.business_key is not None:
                self.keys.discard(req.business_key)
                self.rows.pop(req.business_key, None)
        return rest, found


def docnumber_lookup(qbo: QBOClient, entity: str, field_name: str = "DocNumber") -> Callable[..., Any]:
    """A ``lookup`` that finds entities whose ``field_name`` equals each request's business key."""
    return DocNumberLookup(qbo, entity, field_name)


class DocNumberAdapter:
    """The adapter of a transaction found by its DocNumber (invoice, credit memo, journal entry): lookup by
    business key, a sparse update built by ``update_body``, no second try after a create error."""

    def __init__(
        self,
        qbo: QBOClient,
        entity: str,
        update_body: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any] | None],
        known: KnownKeys | None = None,
    ) -> None:
        self.lookup = DocNumberLookup(qbo, entity)
        self._update_body = update_body
        self.known = known  # a lookup made ahead: the creates it covers send no lookup of their own
        self._from_known: dict[str, dict[str, Any]] = {}

    def lookup_queries(self, requests: list[WriteRequest]) -> list[tuple[str, str]]:
        if self.known is None:
            return self.lookup.queries(requests)
        rest, self._from_known = self.known.take(requests)
        return self.lookup.queries(rest)

    def lookup_rows(
        self, requests: list[WriteRequest], results: list[list[dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        found = self.lookup.rows(requests, results)
        found.update(self._from_known)
        self._from_known = {}
        return found

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        return self._update_body(existing, desired)

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        return None


NAME_LISTS = frozenset({"Customer", "Vendor", "Employee", "Item", "Account", "Class", "Department", "Term"})


def id_queries(entity: str, ids: Iterable[str]) -> list[tuple[str, str]]:
    """``(entity, where)`` queries reading ``ids`` by Id, 100 per ``IN`` (inactive name-list records too)."""
    wanted = sorted(set(ids))
    active = " AND Active IN (true, false)" if entity in NAME_LISTS else ""
    return [(entity, f"Id IN {in_clause(wanted[i : i + 100])}{active}") for i in range(0, len(wanted), 100)]


def read_by_ids(qbo: QBOClient, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Current QBO entities by Id (``IN`` queries of 100, all in one ``/batch`` call)."""
    return {str(row["Id"]): row for found in qbo.query_all_each(id_queries(entity, ids)) for row in found}


def chunk_request_id(request_ids: list[str]) -> str:
    """The batch ``requestid`` for a chunk: derived from its members' ids, so a retried chunk reuses it."""
    return hashlib.sha256("|".join(request_ids).encode()).hexdigest()[:32]


# ----- single writes and raw batches (callers keep their own ledger protocol and request ids) ----------


def create_entity(qbo: QBOClient, entity: str, body: dict[str, Any], *, request_id: str) -> dict[str, Any]:
    """Create ``entity`` with ``request_id`` (a retry with the same id is replayed, not repeated)."""
    return qbo.create(entity, body, request_id=request_id)


def update_entity(qbo: QBOClient, entity: str, body: dict[str, Any], *, request_id: str) -> dict[str, Any]:
    """Sparse-update ``entity`` (``body`` carries ``Id`` and ``SyncToken``)."""
    return qbo.update(entity, body, request_id=request_id)


def delete_entity(
    qbo: QBOClient, entity: str, qbo_id: str, sync_token: str, *, request_id: str
) -> dict[str, Any]:
    """Delete a transaction (JournalEntries cannot be voided)."""
    return qbo.delete(entity, qbo_id, sync_token, request_id=request_id)


def void_invoice(qbo: QBOClient, qbo_id: str, sync_token: str, *, request_id: str) -> dict[str, Any]:
    """Void an invoice."""
    return qbo.void_invoice(qbo_id, sync_token, request_id=request_id)


@dataclass
class ChunkOutcome(Generic[T]):
    """One sent chunk: its items and per-``bId`` results, or the ``error`` that failed the whole call."""

    items: list[T]
    results: dict[str, BatchItemResult] = field(default_factory=dict)
    error: QBOError | None = None


def send_batches(
    qbo: QBOClient,
    items: Sequence[T],
    build_op: Callable[[int, T], BatchOp],
    request_id: Callable[[list[T]], str],
    *,
    chunk_size: int = BATCH_LIMIT,
) -> Iterator[ChunkOutcome[T]]:
    """Send ``items`` through ``/batch`` in chunks of at most 30, one outcome per chunk.

    ``request_id(chunk)`` is called just before the chunk's write: record intents there and return the
    chunk's ``requestid`` (derive it from the chunk, so a retried chunk reuses it). ``build_op(i, item)``
    builds the chunk's ``i``-th operation. 429s, 5xx and network errors are retried by the client with the
    same requestid and body; credential errors raise; any other error is yielded as the chunk's ``error``.
    """
    size = max(1, min(chunk_size, BATCH_LIMIT))
    for start in range(0, len(items), size):
        chunk = list(items[start : start + size])
        rid = request_id(chunk)
        ops = [build_op(i, item) for i, item in enumerate(chunk)]
        try:
            results = qbo.batch(ops, request_id=rid)
        except (OAuthError, QBOAuthError):
            raise
        except QBOError as exc:
            yield ChunkOutcome(chunk, error=exc)
            continue
        yield ChunkOutcome(chunk, results)


class LedgeredWriter:
    """Writes one entity type through the batch endpoint under the ledger's protocol.

    Outcomes (synced, failed) are queued and recorded with one ledger transaction per chunk
    (``Ledger.record_outcomes``), after the chunk's items are handled; the report is filled as they happen.
    """

    def __init__(
        self, qbo: QBOClient, ledger: Ledger, adapter: EntityAdapter, *, chunk_size: int = BATCH_LIMIT
    ):
        self.qbo = qbo
        self.ledger = ledger
        self.adapter = adapter
        self.chunk_size = min(chunk_size, BATCH_LIMIT)
        self._pending: dict[tuple[str, str], Synced | Failed] = {}

    # -- public -------------------------------------------------------------------------------------------
    def write(self, requests: list[WriteRequest]) -> WriteReport:
        report = WriteReport()
        if not requests:
            return report
        try:
            self._write(requests, report)
        finally:
            self._flush()
        return report

    def _write(self, requests: list[WriteRequest], report: WriteReport) -> None:
        source_type = requests[0].source_type
        rows = self.ledger.get_many(source_type, [r.source_id for r in requests])
        creates: list[WriteRequest] = []
        updates: list[tuple[WriteRequest, str]] = []  # (request, known qbo id)
        for req in requests:
            row = rows.get(req.source_id)
            if row and row.status == LedgerStatus.SYNCED and row.qbo_id:
                if row.payload_hash == req.hash:
                    report.record(req.source_id, "unchanged", qbo_id=row.qbo_id)
                else:
                    updates.append((req, row.qbo_id))
            elif row and row.status == LedgerStatus.QUARANTINED and row.payload_hash == req.hash:
                report.record(
                    req.source_id,
                    "quarantined",
                    row.last_error or "quarantined",
                    entity=req.qbo_entity,
                    amount=payload_amount(req.payload),
                )
            else:
                creates.append(req)

        existing, current = self._read(creates, updates)
        to_create = [r for r in creates if r.source_id not in existing]
        linked = [(r, str(existing[r.source_id]["Id"])) for r in creates if r.source_id in existing]
        if current is not None:  # the lookup's rows were read in the same call as the updates' rows
            current.update({qid: existing[r.source_id] for r, qid in linked})
        self._write_updates(updates, linked, report, current=current)
        self._write_creates(to_create, report, allow_retry=True)

    def _read(
        self, creates: list[WriteRequest], updates: list[tuple[WriteRequest, str]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]] | None]:
        """The lookup of ``creates`` (by business key) and, when the adapter can hand over its queries,
        the current rows of ``updates`` read in the same ``/batch`` call (else None: read them later)."""
        queries_of = getattr(self.adapter, "lookup_queries", None)
        if not creates:
            return {}, None
        if queries_of is None:
            return self.adapter.lookup(creates), None
        lookups: list[tuple[str, str]] = queries_of(creates)
        reads = id_queries(updates[0][0].qbo_entity, [qid for _, qid in updates]) if updates else []
        results = self.qbo.query_all_each(lookups + reads) if lookups or reads else []
        existing = self.adapter.lookup_rows(creates, results[: len(lookups)])  # type: ignore[attr-defined]
        # the lookup's rows are whole entities: a linked record is not read a second time
        return existing, {str(row["Id"]): row for rows in results[len(lookups) :] for row in rows}

    # -- updates ------------------------------------------------------------------------------------------
    def _write_updates(
        self,
        updates: list[tuple[WriteRequest, str]],
        linked: list[tuple[WriteRequest, str]],
        report: WriteReport,
        *,
        current: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        if not updates and not linked:
            return
        entity = (updates or linked)[0][0].qbo_entity
        if current is None:
            current = read_by_ids(self.qbo, entity, [qid for _, qid in updates + linked])
        ops: list[tuple[WriteRequest, dict[str, Any]]] = []
        link_ids = {r.source_id for r, _ in linked}
        for req, qid in updates + linked:
            found = current.get(qid)
            if found is None:
                # The entity is gone (deleted, or the lookup saw something a read cannot): create it again.
                log.warning(
                    "%s %s for %s %s not found; creating it", entity, qid, req.source_type, req.source_id
                )
                self._write_creates([req], report, allow_retry=False)
                continue
            body = self.adapter.update_body(found, req.payload)
            action = "linked" if req.source_id in link_ids else "unchanged"
            if body is None:
                self._synced(req, found, action, f"{action}: {entity} {qid} already matches", report)
            else:
                ops.append((req, body))
        self._run_ops(ops, "update", report, linked_ids=link_ids)

    # -- creates ------------------------------------------------------------------------------------------
    def _write_creates(self, creates: list[WriteRequest], report: WriteReport, *, allow_retry: bool) -> None:
        ops = [(req, req.payload) for req in creates]
        retry = self._run_ops(ops, "create", report, linked_ids=set())
        if retry and allow_retry:
            self._write_creates(retry, report, allow_retry=False)

    # -- the write itself ---------------------------------------------------------------------------------
    def _run_ops(
        self,
        ops: list[tuple[WriteRequest, dict[str, Any]]],
        operation: str,
        report: WriteReport,
        *,
        linked_ids: set[str],
    ) -> list[WriteRequest]:
        """Write ``ops`` in chunks; returns corrected requests the adapter wants tried once more."""
        retry: list[WriteRequest] = []

        def record_intents(chunk: list[tuple[WriteRequest, dict[str, Any]]]) -> str:
            intents = [
                Intent(
                    source_type=req.source_type,
                    source_id=req.source_id,
                    qbo_entity=req.qbo_entity,
                    payload_hash=req.hash,
                    business_key=req.business_key,
                    partition_key=req.partition_key,
                    request_id=uuid.uuid4().hex[:20],
                )
                for req, _ in chunk
            ]
            stored = self.ledger.record_intents(intents)
            ids = [stored[req.source_id].request_id or "" for req, _ in chunk]
            # an in-flight record keeps its request id; when it is linked and updated, that id belonged to
            # its create: an update chunk derives its own (stable across retries of the update)
            return chunk_request_id(ids if operation == "create" else [operation, *ids])

        def build_op(i: int, op: tuple[WriteRequest, dict[str, Any]]) -> BatchOp:
            return BatchOp(bid=f"b{i}", operation=operation, entity=op[0].qbo_entity, body=op[1])

        for sent in send_batches(self.qbo, ops, build_op, record_intents, chunk_size=self.chunk_size):
            chunk = sent.items
            if isinstance(sent.error, QBOTransportError):
                self._resolve_unknown([req for req, _ in chunk], operation, report, sent.error)
                continue
            if sent.error is not None:
                for req, _ in chunk:
                    self._fail(req, sent.error, report)
                continue
            try:
                for i, (req, body) in enumerate(chunk):
                    item = sent.results.get(f"b{i}")
                    if item is None:
                        no_item = QBOError(status=0, code="", message="no batch response for item")
                        self._fail(req, no_item, report)
                        continue
                    fixed = self._record_item(
                        req, body, item, operation, report, linked=req.source_id in linked_ids
                    )
                    if fixed is not None:
                        retry.append(fixed)
            finally:
                self._flush()  # one ledger transaction for the chunk's outcomes
        return retry

    def _record_item(
        self,
        req: WriteRequest,
        body: dict[str, Any],
        item: BatchItemResult,
        operation: str,
        report: WriteReport,
        *,
        linked: bool,
    ) -> WriteRequest | None:
        if item.error is None and item.body is not None:
            qid = str(item.body["Id"])
            action = "linked" if linked else ("created" if operation == "create" else "updated")
            self._synced(req, item.body, action, f"{action} {req.qbo_entity} {qid}", report)
            return None
        error = item.error or QBOError(status=0, code="", message="empty batch item")
        if isinstance(error, QBODuplicateDocNumber) and operation == "create":
            found = self.adapter.lookup([req]).get(req.source_id)
            if found is not None:
                self._write_updates([], [(req, str(found["Id"]))], report)
                return None
        if isinstance(error, QBOStaleObject) and operation == "update":
            self._retry_stale(req, report)
            return None
        if operation == "create":
            fixed = self.adapter.on_create_error(req, error)
            if fixed is not None:
                return fixed
        self._fail(req, error, report)
        return None

    def _retry_stale(self, req: WriteRequest, report: WriteReport) -> None:
        """5010: re-read the entity and apply the change once more with its current SyncToken."""
        row = self.ledger.get(req.source_type, req.source_id)
        qid = row.qbo_id if row else None
        current = self.qbo.read(req.qbo_entity, qid) if qid else None
        if current is None:
            self._fail(req, QBOStaleObject(status=400, code="5010", message="Stale Object Error"), report)
            return
        body = self.adapter.update_body(current, req.payload)
        try:
            result = (
                self.qbo.update(req.qbo_entity, body, request_id=uuid.uuid4().hex[:20])
                if body is not None
                else current
            )
        except QBOError as exc:
            self._fail(req, exc, report)
            return
        self._synced(
            req,
            result,
            "updated",
            f"updated {req.qbo_entity} {result['Id']} after re-reading a stale SyncToken",
            report,
        )

    def _resolve_unknown(
        self, reqs: list[WriteRequest], operation: str, report: WriteReport, exc: QBOTransportError
    ) -> None:
        """The batch's outcome is unknown: look each record up by business key before deciding."""
        log.warning("batch outcome unknown (%s); looking records up by business key", exc)
        found = self.adapter.lookup(reqs) if operation == "create" else {}
        for req in reqs:
            hit = found.get(req.source_id)
            if hit is not None:
                qid = str(hit["Id"])
                self._synced(
                    req,
                    hit,
                    "linked",
                    f"response lost; found {req.qbo_entity} {qid} by business key and linked it",
                    report,
                    note="found after lost response",
                )
            else:
                self._fail(req, exc, report)

    def _synced(
        self,
        req: WriteRequest,
        entity: dict[str, Any],
        action: str,
        detail: str,
        report: WriteReport,
        note: str = "",
    ) -> None:
        """Record that ``req`` now matches QBO entity ``entity`` (created, updated, linked or unchanged)."""
        qid = str(entity["Id"])
        self._queue(
            Synced(
                req.source_type,
                req.source_id,
                qbo_id=qid,
                sync_token=str(entity.get("SyncToken", "")),
                payload_hash=req.hash,
                detail=detail,
                action=action,
                qbo_entity=req.qbo_entity,
                partition_key=req.partition_key,
                business_key=req.business_key,
            )
        )
        report.record(
            req.source_id,
            action,
            note,
            qbo_id=qid,
            entity=None if action == "unchanged" else req.qbo_entity,
            amount=None if action == "unchanged" else payload_amount(req.payload),
        )

    def _fail(self, req: WriteRequest, error: QBOError, report: WriteReport) -> None:
        if isinstance(error, QBOAuthError):  # credentials / realm: fails the run, never one record's fault
            raise error
        transient = error.transient
        text = f"{error.code} {error.message}: {error.detail}".strip() if error.code else str(error)
        self._queue(Failed(req.source_type, req.source_id, error.code or None, text, transient))
        report.record(
            req.source_id,
            "failed" if transient else "quarantined",
            text,
            entity=req.qbo_entity,
            amount=payload_amount(req.payload),
        )

    def _queue(self, outcome: Synced | Failed) -> None:
        """Queue an outcome for the chunk's ledger transaction (a second outcome of one record flushes the
        first, so the ledger sees them in order)."""
        key = (outcome.source_type, outcome.source_id)
        if key in self._pending:
            self._flush()
        self._pending[key] = outcome

    def _flush(self) -> None:
        """Record the queued outcomes in one ledger transaction."""
        if not self._pending:
            return
        pending, self._pending = list(self._pending.values()), {}
        self.ledger.record_outcomes(pending)


def strip_server_fields(entity: dict[str, Any]) -> dict[str, Any]:
    """An entity without the fields QBO computes (for comparing desired vs existing)."""
    return {k: v for k, v in entity.items() if k not in SERVER_FIELDS}
