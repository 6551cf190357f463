"""The sync ledger: one row per source record and target QBO entity, plus a per-record event log.

Every method runs in its own transaction. Status changes are single ``UPDATE``/``UPSERT`` statements (row
locks on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two processes sharing the database stay consistent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from revqb_pipeline.staging._sql import IN_CHUNK, chunks, dialect_insert, row_chunk_size
from revqb_pipeline.staging.db import ledger_events, sync_ledger, utcnow, write_begin

L = sync_ledger
E = ledger_events


class LedgerStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SYNCED = "synced"
    FAILED = "failed"
    QUARANTINED = "quarantined"
    WAITING = "waiting"
    VOIDED = "voided"


PROBLEM_STATUSES: tuple[str, ...] = (LedgerStatus.FAILED, LedgerStatus.QUARANTINED, LedgerStatus.WAITING)


@dataclass(frozen=True)
class LedgerRow:
    """One ``sync_ledger`` row."""

    source_type: str
    source_id: str
    qbo_entity: str | None
    qbo_id: str | None
    sync_token: str | None
    business_key: str | None
    payload_hash: str | None
    request_id: str | None
    status: LedgerStatus
    attempts: int
    last_error_code: str | None
    last_error: str | None
    partition_key: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_mapping(cls, row: Any) -> LedgerRow:
        values = {name: row[name] for name in _ROW_FIELDS}
        values["status"] = LedgerStatus(values["status"])
        return cls(**values)


_ROW_FIELDS = tuple(f.name for f in fields(LedgerRow))
_STATUS_AT = _ROW_FIELDS.index("status")
_STATUSES = {s.value: s for s in LedgerStatus}


def _ledger_rows(result: sa.CursorResult[Any]) -> Iterator[LedgerRow]:
    """The result's rows as LedgerRows, read by position (cheaper than ``Row._mapping`` per row)."""
    keys = list(result.keys())
    at = [keys.index(name) for name in _ROW_FIELDS]
    for r in result:
        values = [r[i] for i in at]
        status = values[_STATUS_AT]
        values[_STATUS_AT] = _STATUSES.get(status) or LedgerStatus(status)
        yield LedgerRow(*values)


@dataclass(frozen=True)
class Intent:
    """A write about to be attempted (recorded before the call to QBO)."""

    source_type: str
    source_id: str
    qbo_entity: str
    payload_hash: str
    business_key: str | None
    partition_key: str | None
    request_id: str


@dataclass(frozen=True)
class Synced:
    """A write or link to record as ``synced`` (the arguments of :meth:`Ledger.mark_synced`)."""

    source_type: str
    source_id: str
    qbo_id: str
    sync_token: str | None
    payload_hash: str | None = None
    detail: str = ""
    action: str = "created"
    qbo_entity: str | None = None
    partition_key: str | None = None
    business_key: str | None = None


@dataclass(frozen=True)
class Failed:
    """A failed write to record (the arguments of :meth:`Ledger.mark_failed`)."""

    source_type: str
    source_id: str
    code: str | None
    error: str
    transient: bool


@dataclass(frozen=True)
class Parked:
    """A not-synced status and its reason (:meth:`Ledger.mark_waiting`, :meth:`Ledger.quarantine`)."""

    source_type: str
    source_id: str
    status: LedgerStatus
    reason: str
    code: str | None = None
    qbo_entity: str | None = None
    partition_key: str | None = None
    business_key: str | None = None


@dataclass(frozen=True)
class LedgerEvent:
    """One ``ledger_events`` row."""

    id: int
    source_type: str
    source_id: str
    at: datetime
    status: str
    action: str
    detail: str
    error_code: str | None


class LedgerError(LookupError):
    """A status change for a source record the ledger does not know."""


def _returning() -> tuple[sa.Column[Any], ...]:
    return tuple(L.c)


class Ledger:
    """The sync ledger API used by the writers, the Dagster assets and the CLI."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, source_type: str, source_id: str | int) -> LedgerRow | None:
        stmt = sa.select(L).where(L.c.source_type == source_type, L.c.source_id == str(source_id))
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return LedgerRow.from_mapping(row._mapping) if row else None

    def get_many(self, source_type: str, ids: Iterable[str | int]) -> dict[str, LedgerRow]:
        """Rows of ``source_type`` for ``ids`` (missing ids are absent), keyed by source_id."""
        wanted = list(dict.fromkeys(str(i) for i in ids))
        out: dict[str, LedgerRow] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = sa.select(L).where(L.c.source_type == source_type, L.c.source_id.in_(chunk))
                for row in _ledger_rows(conn.execute(stmt)):
                    out[row.source_id] = row
        return out

    def rows(
        self,
        source_type: str | None = None,
        statuses: Iterable[str] | None = None,
        partition_key: str | None = None,
    ) -> list[LedgerRow]:
        """Ledger rows filtered by source type, statuses and partition, in (source_type, source_id) order."""
        stmt = sa.select(L).order_by(L.c.source_type, L.c.source_id)
        if source_type is not None:
            stmt = stmt.where(L.c.source_type == source_type)
        if statuses is not None:
            stmt = stmt.where(L.c.status.in_([str(s) for s in statuses]))
        if partition_key is not None:
            stmt = stmt.where(L.c.partition_key == partition_key)
        with self.engine.connect() as conn:
            return list(_ledger_rows(conn.execute(stmt)))

    def find_by_qbo_id(self, qbo_entity: str, qbo_id: str | int) -> LedgerRow | None:
        """The row linked to a QBO entity id (e.g. to trace a QBO record back to Rev.io)."""
        stmt = sa.select(L).where(L.c.qbo_entity == qbo_entity, L.c.qbo_id == str(qbo_id)).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return LedgerRow.from_mapping(row._mapping) if row else None

    def find_by_qbo_ids(self, qbo_entity: str, qbo_ids: Iterable[str | int]) -> dict[str, list[LedgerRow]]:
        """QBO id -> the rows linked to it, for many ids of one entity (batched ``IN`` reads)."""
        wanted = list(dict.fromkeys(str(i) for i in qbo_ids))
        out: dict[str, list[LedgerRow]] = defaultdict(list)
        with self.engine.connect() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = (
                    sa.select(L)
                    .where(L.c.qbo_entity == qbo_entity, L.c.qbo_id.in_(chunk))
                    .order_by(L.c.source_type, L.c.source_id)
                )
                for r in conn.execute(stmt):
                    out[r.qbo_id].append(LedgerRow.from_mapping(r._mapping))
        return dict(out)

    def find_by_business_key(self, qbo_entity: str, business_key: str) -> list[LedgerRow]:
        """Rows claiming a business key (DocNumber, marker...) for an entity."""
        stmt = sa.select(L).where(L.c.qbo_entity == qbo_entity, L.c.business_key == business_key)
        with self.engine.connect() as conn:
            return [LedgerRow.from_mapping(r._mapping) for r in conn.execute(stmt)]

    def events(
        self, source_type: str | None = None, source_id: str | int | None = None, limit: int | None = None
    ) -> list[LedgerEvent]:
        """Events, newest first."""
        stmt = sa.select(E).order_by(E.c.id.desc())
        if source_type is not None:
            stmt = stmt.where(E.c.source_type == source_type)
        if source_id is not None:
            stmt = stmt.where(E.c.source_id == str(source_id))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [LedgerEvent(**r._mapping) for r in conn.execute(stmt)]

    def summary(self) -> dict[str, dict[str, int]]:
        """Row counts per source_type, per status."""
        stmt = sa.select(L.c.source_type, L.c.status, sa.func.count()).group_by(L.c.source_type, L.c.status)
        out: dict[str, dict[str, int]] = defaultdict(dict)
        with self.engine.connect() as conn:
            for source_type, status, n in conn.execute(stmt):
                out[source_type][status] = int(n)
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}

    def problems(self, statuses: Iterable[str] = PROBLEM_STATUSES) -> list[LedgerRow]:
        """Rows needing attention (failed, quarantined, waiting by default)."""
        return self.rows(statuses=statuses)

    # -- writes ---------------------------------------------------------------------------------------

    def record_intents(self, intents: Sequence[Intent]) -> dict[str, LedgerRow]:
        """Mark rows ``in_flight`` before writing, in one transaction; returns stored rows by source_id.

        A row already in flight with the same payload hash keeps its request_id (a retry of the same write);
        otherwise the intent's request_id is stored. Callers must use the returned request_id.
        All intents of one call must share a source_type (the result is keyed by source_id).
        """
        if not intents:
            return {}
        source_type = intents[0].source_type
        if any(i.source_type != source_type for i in intents):
            raise ValueError("record_intents: one source_type per call")
        # last intent per record wins; a stable key order avoids lock-order deadlocks between processes
        unique = sorted({str(i.source_id): i for i in intents}.values(), key=lambda i: str(i.source_id))
        now = utcnow()
        ins = dialect_insert(self._dialect, L)
        keep_request = sa.and_(
            L.c.status == LedgerStatus.IN_FLIGHT.value,
            L.c.payload_hash == ins.excluded.payload_hash,
            L.c.request_id.is_not(None),
        )
        stmt = ins.on_conflict_do_update(
            index_elements=["source_type", "source_id"],
            set_={
                "qbo_entity": ins.excluded.qbo_entity,
                "business_key": sa.func.coalesce(ins.excluded.business_key, L.c.business_key),
                "partition_key": sa.func.coalesce(ins.excluded.partition_key, L.c.partition_key),
                "payload_hash": ins.excluded.payload_hash,
                "request_id": sa.case((keep_request, L.c.request_id), else_=ins.excluded.request_id),
                "status": LedgerStatus.IN_FLIGHT.value,
                "attempts": L.c.attempts + 1,
                "updated_at": ins.excluded.updated_at,
            },
        )
        params = [
            {
                "source_type": i.source_type,
                "source_id": str(i.source_id),
                "qbo_entity": i.qbo_entity,
                "business_key": i.business_key,
                "partition_key": i.partition_key,
                "payload_hash": i.payload_hash,
                "request_id": i.request_id,
                "status": LedgerStatus.IN_FLIGHT.value,
                "attempts": 1,
                "created_at": now,
                "updated_at": now,
            }
            for i in unique
        ]
        events: list[dict[str, Any]] = []
        with write_begin(self.engine) as conn:
            for chunk in chunks(params, row_chunk_size(L)):
                conn.execute(stmt, list(chunk))
            stored = {
                r.source_id: r for r in self._select(conn, source_type, [p["source_id"] for p in params])
            }
            for i in unique:
                row = stored[str(i.source_id)]
                reused = row.request_id != i.request_id
                what = "retry of in-flight write, same payload, reusing" if reused else "intent to write,"
                detail = f"{row.qbo_entity}: {what} request {row.request_id} (attempt {row.attempts})"
                events.append(
                    _event(row.source_type, row.source_id, LedgerStatus.IN_FLIGHT, "intent", detail, now)
                )
            self._log(conn, events)
        return stored

    def mark_synced(
        self,
        source_type: str,
        source_id: str | int,
        *,
        qbo_id: str | int,
        sync_token: str | int | None,
        payload_hash: str | None = None,
        detail: str = "",
        action: str = "created",
        qbo_entity: str | None = None,
        partition_key: str | None = None,
        business_key: str | None = None,
    ) -> LedgerRow:
        """Record a write or link: status ``synced`` with the QBO id and SyncToken; clears errors.

        Creates the row when there is none (e.g. a record linked to an existing QBO entity without a write).
        """
        item = Synced(
            source_type,
            str(source_id),
            str(qbo_id),
            None if sync_token is None else str(sync_token),
            payload_hash,
            detail,
            action,
            qbo_entity,
            partition_key,
            business_key,
        )
        return self.mark_synced_many([item])[0]

    def mark_failed(
        self, source_type: str, source_id: str | int, *, code: str | None, error: str, transient: bool
    ) -> LedgerRow:
        """Record a failed write: ``failed`` (retried next run) if transient, else ``quarantined``."""
        return self.mark_failed_many([Failed(source_type, str(source_id), code, error, transient)])[0]

    def mark_synced_many(self, items: Sequence[Synced]) -> list[LedgerRow]:
        """:meth:`mark_synced` for many records in one transaction; returns their rows (one per record)."""
        return self.record_outcomes(items)

    def mark_failed_many(self, items: Sequence[Failed]) -> list[LedgerRow]:
        """:meth:`mark_failed` for many records in one transaction (LedgerError if a row is missing)."""
        return self.record_outcomes(items)

    def park_many(self, items: Sequence[Parked]) -> list[LedgerRow]:
        """:meth:`mark_waiting` / :meth:`quarantine` for many records in one transaction."""
        return self.record_outcomes(items)

    def record_outcomes(self, outcomes: Sequence[Synced | Failed | Parked]) -> list[LedgerRow]:
        """Synced, failed and parked records in one transaction: a few executemany statements and one event
        insert, whatever the count. Rows and events are those of the per-record methods, events in the
        given order. A record given more than once keeps its last outcome; one row per record comes back."""
        changes = [_change(o) for o in outcomes]
        if not changes:
            return []
        unique: dict[tuple[str, str], _Change] = {}
        for change in changes:
            unique.pop(change.key, None)
            unique[change.key] = change
        with write_begin(self.engine) as conn:
            return self._apply(conn, list(unique.values()))

    def quarantine(
        self,
        source_type: str,
        source_id: str | int,
        *,
        reason: str,
        code: str | None = None,
        qbo_entity: str | None = None,
        partition_key: str | None = None,
        business_key: str | None = None,
    ) -> LedgerRow:
        """Quarantine a record (bad input or permanent validation error), creating its row if needed."""
        return self._park(
            source_type,
            source_id,
            LedgerStatus.QUARANTINED,
            reason,
            code,
            qbo_entity,
            partition_key,
            business_key,
        )

    def mark_waiting(
        self,
        source_type: str,
        source_id: str | int,
        *,
        reason: str,
        qbo_entity: str,
        partition_key: str | None = None,
        business_key: str | None = None,
    ) -> LedgerRow:
        """Park a record whose dependency is not in QBO yet, creating its row if needed."""
        return self._park(
            source_type,
            source_id,
            LedgerStatus.WAITING,
            reason,
            None,
            qbo_entity,
            partition_key,
            business_key,
        )

    def _park(
        self,
        source_type: str,
        source_id: str | int,
        status: LedgerStatus,
        reason: str,
        code: str | None,
        qbo_entity: str | None,
        partition_key: str | None,
        business_key: str | None,
    ) -> LedgerRow:
        """Set a not-synced status with its reason (and error code), creating the row if needed."""
        item = Parked(
            source_type, str(source_id), status, reason, code, qbo_entity, partition_key, business_key
        )
        return self.park_many([item])[0]

    def record_decision(
        self,
        source_type: str,
        source_id: str | int,
        *,
        status: LedgerStatus,
        action: str,
        detail: str,
        qbo_id: str | None = None,
        qbo_entity: str | None = None,
        partition_key: str | None = None,
        business_key: str | None = None,
    ) -> LedgerRow:
        """Record an outcome that needed no write of its own (e.g. a refund folded into its payment)."""
        values: dict[str, Any] = {"status": status.value, "last_error_code": None, "last_error": None}
        if qbo_id is not None:
            values["qbo_id"] = qbo_id
        return self._upsert(
            source_type,
            source_id,
            values,
            action=action,
            detail=lambda _r: detail,
            qbo_entity=qbo_entity,
            partition_key=partition_key,
            business_key=business_key,
        )

    def mark_voided(self, source_type: str, source_id: str | int, *, detail: str) -> LedgerRow:
        """Record that the QBO entity was voided (e.g. the Rev.io bill was reversed)."""
        values = {"status": LedgerStatus.VOIDED.value, "last_error_code": None, "last_error": None}
        return self._update(source_type, source_id, values, action="voided", detail=lambda _r: detail)

    def set_sync_token(
        self,
        source_type: str,
        source_id: str | int,
        *,
        sync_token: str | int,
        qbo_id: str | int | None = None,
    ) -> LedgerRow:
        """Store a newer SyncToken (and optionally the QBO id) without changing the status or logging."""
        values: dict[str, Any] = {"sync_token": str(sync_token), "updated_at": utcnow()}
        if qbo_id is not None:
            values["qbo_id"] = str(qbo_id)
        stmt = (
            sa.update(L)
            .where(L.c.source_type == source_type, L.c.source_id == str(source_id))
            .values(values)
            .returning(*_returning())
        )
        with write_begin(self.engine) as conn:
            row = conn.execute(stmt).first()
        if row is None:
            raise LedgerError(f"no ledger row for {source_type} {source_id}")
        return LedgerRow.from_mapping(row._mapping)

    def mark_drifted(self, source_type: str, source_ids: Iterable[str | int], *, detail: str) -> int:
        """Make synced rows post again (drift restore): their payload hash is cleared, so the next load
        re-reads the QBO document and updates it back to the staged payload, or creates it again when it
        was deleted (a new intent, hence a new requestid). Status, QBO id and SyncToken stay. Returns how
        many rows changed."""
        ids = list(dict.fromkeys(str(i) for i in source_ids))
        now = utcnow()
        changed: list[str] = []
        with write_begin(self.engine) as conn:
            for chunk in chunks(ids, IN_CHUNK):
                stmt = (
                    sa.update(L)
                    .where(
                        L.c.source_type == source_type,
                        L.c.source_id.in_(chunk),
                        L.c.status == LedgerStatus.SYNCED.value,
                    )
                    .values(payload_hash=None, updated_at=now)
                    .returning(L.c.source_id)
                )
                changed += list(conn.execute(stmt).scalars())
            self._log(
                conn,
                [
                    _event(source_type, sid, LedgerStatus.SYNCED, "drift", detail, now)
                    for sid in sorted(changed)
                ],
            )
        return len(changed)

    def reset_for_retry(self, source_type: str | None = None, source_id: str | int | None = None) -> int:
        """Move failed/quarantined rows back to ``pending`` (``revqb retry``); returns how many."""
        now = utcnow()
        stmt = (
            sa.update(L)
            .where(L.c.status.in_([LedgerStatus.FAILED.value, LedgerStatus.QUARANTINED.value]))
            .values(status=LedgerStatus.PENDING.value, updated_at=now)
            .returning(L.c.source_type, L.c.source_id, L.c.last_error_code)
        )
        if source_type is not None:
            stmt = stmt.where(L.c.source_type == source_type)
        if source_id is not None:
            stmt = stmt.where(L.c.source_id == str(source_id))
        with write_begin(self.engine) as conn:
            reset = conn.execute(stmt).all()
            self._log(
                conn,
                [
                    _event(st, sid, LedgerStatus.PENDING, "retry", "reset for retry", now, code)
                    for st, sid, code in reset
                ],
            )
        return len(reset)

    # -- internals ------------------------------------------------------------------------------------

    def _select(self, conn: Connection, source_type: str, ids: list[str]) -> list[LedgerRow]:
        out: list[LedgerRow] = []
        for chunk in chunks(ids, IN_CHUNK):
            stmt = sa.select(L).where(L.c.source_type == source_type, L.c.source_id.in_(chunk))
            out.extend(_ledger_rows(conn.execute(stmt)))
        return out

    def _update(
        self,
        source_type: str,
        source_id: str | int,
        values: dict[str, Any],
        *,
        action: str,
        detail: Callable[[LedgerRow], str],
        error_code: str | None = None,
    ) -> LedgerRow:
        now = utcnow()
        stmt = (
            sa.update(L)
            .where(L.c.source_type == source_type, L.c.source_id == str(source_id))
            .values({**values, "updated_at": now})
            .returning(*_returning())
        )
        with write_begin(self.engine) as conn:
            result = conn.execute(stmt).first()
            if result is None:
                raise LedgerError(f"no ledger row for {source_type} {source_id}")
            row = LedgerRow.from_mapping(result._mapping)
            self._log(
                conn, [_event(source_type, row.source_id, row.status, action, detail(row), now, error_code)]
            )
        return row

    def _upsert(
        self,
        source_type: str,
        source_id: str | int,
        values: dict[str, Any],
        *,
        action: str,
        detail: Callable[[LedgerRow], str],
        code: str | None = None,
        qbo_entity: str | None = None,
        partition_key: str | None = None,
        business_key: str | None = None,
    ) -> LedgerRow:
        """Set ``values`` on the row, creating it if needed; identity fields only overwrite when given."""
        now = utcnow()
        ins = dialect_insert(self._dialect, L)
        identity = {"qbo_entity": qbo_entity, "partition_key": partition_key, "business_key": business_key}
        stmt = ins.values(
            source_type=source_type,
            source_id=str(source_id),
            attempts=0,
            created_at=now,
            updated_at=now,
            **identity,
            **values,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source_type", "source_id"],
            set_={
                **{k: sa.func.coalesce(ins.excluded[k], L.c[k]) for k in identity},
                **{k: ins.excluded[k] for k in values},
                "updated_at": now,
            },
        ).returning(*_returning())
        with write_begin(self.engine) as conn:
            row = LedgerRow.from_mapping(conn.execute(stmt).one()._mapping)
            self._log(conn, [_event(source_type, row.source_id, row.status, action, detail(row), now, code)])
        return row

    def _apply(self, conn: Connection, changes: list[_Change]) -> list[LedgerRow]:
        """Apply distinct-record ``changes`` (executemany per statement shape, in key order so two processes
        lock rows in the same order), read the rows back and log one event per change."""
        now = utcnow()
        groups: dict[tuple[bool, tuple[str, ...]], list[_Change]] = defaultdict(list)
        for change in sorted(changes, key=lambda c: c.key):
            groups[(change.upsert, tuple(sorted(change.values)))].append(change)
        for (upsert, names), group in groups.items():
            if upsert:
                stmt = self._upsert_statement(names)
                params = [
                    {
                        "source_type": c.source_type,
                        "source_id": c.source_id,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                        **c.identity,
                        **c.values,
                    }
                    for c in group
                ]
            else:
                stmt = (
                    sa.update(L)
                    .where(L.c.source_type == sa.bindparam("k_type"), L.c.source_id == sa.bindparam("k_id"))
                    .values(
                        {**{k: sa.bindparam(f"v_{k}") for k in names}, "updated_at": sa.bindparam("v_at")}
                    )
                )
                params = [
                    {
                        "k_type": c.source_type,
                        "k_id": c.source_id,
                        "v_at": now,
                        **{f"v_{k}": v for k, v in c.values.items()},
                    }
                    for c in group
                ]
            for chunk in chunks(params, row_chunk_size(L)):
                conn.execute(stmt, list(chunk))
        by_type: dict[str, list[str]] = defaultdict(list)
        for change in changes:
            by_type[change.source_type].append(change.source_id)
        stored = {
            (r.source_type, r.source_id): r for t, ids in by_type.items() for r in self._select(conn, t, ids)
        }
        rows: list[LedgerRow] = []
        events: list[dict[str, Any]] = []
        for change in changes:
            row = stored.get(change.key)
            if row is None:
                raise LedgerError(f"no ledger row for {change.source_type} {change.source_id}")
            rows.append(row)
            detail = change.detail(row)
            events.append(
                _event(row.source_type, row.source_id, row.status, change.action, detail, now, change.code)
            )
        self._log(conn, events)
        return rows

    def _upsert_statement(self, names: tuple[str, ...]) -> Any:
        """An executemany ``UPSERT`` setting ``names``; identity fields only overwrite when given."""
        ins = dialect_insert(self._dialect, L)
        return ins.on_conflict_do_update(
            index_elements=["source_type", "source_id"],
            set_={
                **{k: sa.func.coalesce(ins.excluded[k], L.c[k]) for k in _IDENTITY},
                **{k: ins.excluded[k] for k in names},
                "updated_at": ins.excluded.updated_at,
            },
        )

    @staticmethod
    def _log(conn: Connection, events: list[dict[str, Any]]) -> None:
        for chunk in chunks(events, row_chunk_size(E)):
            conn.execute(E.insert(), list(chunk))


def _event(
    source_type: str,
    source_id: str,
    status: str,
    action: str,
    detail: str,
    at: datetime,
    error_code: str | None = None,
) -> dict[str, Any]:
    return {
        "source_type": source_type,
        "source_id": source_id,
        "at": at,
        "status": str(status),
        "action": action,
        "detail": detail,
        "error_code": error_code,
    }


_IDENTITY = ("qbo_entity", "partition_key", "business_key")


@dataclass
class _Change:
    """One record's status change: ``values`` to set, creating the row (``upsert``) or not, and its event."""

    source_type: str
    source_id: str
    values: dict[str, Any]
    action: str
    detail: Callable[[LedgerRow], str]
    code: str | None = None
    upsert: bool = True
    identity: dict[str, str | None] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.source_type, self.source_id)


def _change(outcome: Synced | Failed | Parked) -> _Change:
    if isinstance(outcome, Synced):
        return _synced_change(outcome)
    if isinstance(outcome, Failed):
        return _failed_change(outcome)
    return _parked_change(outcome)


def _synced_change(i: Synced) -> _Change:
    values: dict[str, Any] = {
        "status": LedgerStatus.SYNCED.value,
        "qbo_id": str(i.qbo_id),
        "sync_token": i.sync_token,
        "last_error_code": None,
        "last_error": None,
    }
    if i.payload_hash is not None:
        values["payload_hash"] = i.payload_hash
    action = i.action
    return _Change(
        i.source_type,
        str(i.source_id),
        values,
        action,
        lambda r: i.detail or f"{action} {r.qbo_entity} {i.qbo_id} (SyncToken {i.sync_token})",
        identity={
            "qbo_entity": i.qbo_entity,
            "partition_key": i.partition_key,
            "business_key": i.business_key,
        },
    )


def _failed_change(i: Failed) -> _Change:
    status = LedgerStatus.FAILED if i.transient else LedgerStatus.QUARANTINED
    values = {"status": status.value, "last_error_code": i.code, "last_error": i.error}
    return _Change(
        i.source_type, str(i.source_id), values, status.value, lambda _r: i.error, i.code, upsert=False
    )


def _parked_change(i: Parked) -> _Change:
    values = {"status": LedgerStatus(i.status).value, "last_error_code": i.code, "last_error": i.reason}
    return _Change(
        i.source_type,
        str(i.source_id),
        values,
        LedgerStatus(i.status).value,
        lambda _r: i.reason,
        i.code,
        identity={
            "qbo_entity": i.qbo_entity,
            "partition_key": i.partition_key,
            "business_key": i.business_key,
        },
    )
