"""QuickBooks drift in the staging database: received QBO webhook notifications, CDC checkpoints and the
drift records (what a person changed in a document revqb posted, when it was alerted, how it was resolved).

The tables live beside the others but are created here (``ensure_schema``, idempotent) so the drift
feature adds no column or table to ``staging/db.py``. Every write is one transaction (``write_begin``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging._sql import IN_CHUNK, chunks, dialect_insert
from revqb_pipeline.staging.db import UTCDateTime, ensure_tables, qbo_payloads, utcnow, write_begin

drift_metadata = sa.MetaData()
_AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PG_LOCK = 727_014  # pg_advisory_xact_lock key serializing ensure_schema across processes


def _id() -> sa.Column[Any]:
    return sa.Column("id", _AutoId, primary_key=True, autoincrement=True)


def _required(name: str, length: int) -> sa.Column[Any]:
    """A ``NOT NULL`` string column of at most ``length`` characters."""
    return sa.Column(name, sa.String(length), nullable=False)


qbo_notifications = sa.Table(
    "qbo_notifications",
    drift_metadata,
    _id(),
    _required("realm_id", 64),
    _required("entity", 32),
    _required("qbo_id", 64),
    _required("operation", 16),
    _required("last_updated", 40),
    sa.Column("received_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("processed_at", UTCDateTime),
    sa.UniqueConstraint(
        "realm_id", "entity", "qbo_id", "operation", "last_updated", name="uq_qbo_notification"
    ),
    sa.Index("ix_qbo_notifications_processed", "processed_at"),
)

qbo_drift = sa.Table(
    "qbo_drift",
    drift_metadata,
    _id(),
    _required("source_type", 32),
    _required("source_id", 128),
    _required("qbo_entity", 32),
    _required("qbo_id", 64),
    _required("kind", 16),  # changed | voided | deleted
    sa.Column("changes_json", sa.Text, nullable=False),  # [{"field", "from", "to"}]
    _required("fingerprint", 64),
    # the fingerprint while the drift is open, NULL once resolved: one open row per record and drift
    sa.Column("open_key", sa.String(64)),
    _required("detected_by", 16),  # cdc | webhook
    sa.Column("detected_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("alerted_at", UTCDateTime),
    sa.Column("resolution", sa.String(16)),  # restored | matches | superseded (NULL: open)
    sa.Column("resolution_detail", sa.Text),
    sa.Column("resolved_at", UTCDateTime),
    sa.UniqueConstraint("source_type", "source_id", "open_key", name="uq_qbo_drift_open"),
    sa.Index("ix_qbo_drift_resolution", "resolution"),
)

qbo_cdc_checkpoints = sa.Table(
    "qbo_cdc_checkpoints",
    drift_metadata,
    sa.Column("realm_id", sa.String(64), primary_key=True),
    sa.Column("entity", sa.String(32), primary_key=True),
    _required("changed_since", 40),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)


def ensure_schema(engine: Engine) -> None:
    """Create the drift tables when missing (once per engine and process, ``ensure_tables``)."""
    ensure_tables(engine, drift_metadata.sorted_tables, pg_lock=_PG_LOCK)


@dataclass(frozen=True)
class Notification:
    """One entity change a QBO webhook announced."""

    realm_id: str
    entity: str
    qbo_id: str
    operation: str
    last_updated: str


@dataclass(frozen=True)
class StoredNotification(Notification):
    id: int = 0


@dataclass(frozen=True)
class NewDrift:
    """A drift to record."""

    source_type: str
    source_id: str
    qbo_entity: str
    qbo_id: str
    kind: str
    changes: list[dict[str, Any]]
    fingerprint: str
    detected_by: str


@dataclass(frozen=True)
class DriftRecord(NewDrift):
    """One ``qbo_drift`` row; ``changes`` are ``{"field", "from", "to"}`` dicts (from = what revqb
    posted, to = QBO at detection)."""

    id: int
    detected_at: datetime
    alerted_at: datetime | None
    resolution: str | None
    resolution_detail: str | None
    resolved_at: datetime | None

    @property
    def open(self) -> bool:
        return self.resolution is None

    @classmethod
    def from_row(cls, row: Any) -> DriftRecord:
        m = row._mapping
        columns = {f.name: m[f.name] for f in fields(cls) if f.name not in ("id", "changes")}
        return cls(id=int(m["id"]), changes=json.loads(m["changes_json"]), **columns)


class DriftStore:
    """Reads and writes of the drift tables (and the staged payloads drift compares against)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(engine)
        self._dialect = engine.dialect.name

    # -- webhook notifications -----------------------------------------------------------------------

    def save_notifications(self, items: Sequence[Notification]) -> int:
        """Store notifications not stored before (idempotent on realm, entity, id, operation, lastUpdated);
        returns how many were new."""
        unique = list(dict.fromkeys(items))
        if not unique:
            return 0
        now = utcnow()
        t = qbo_notifications
        stmt = (
            dialect_insert(self._dialect, t)
            .on_conflict_do_nothing(
                index_elements=["realm_id", "entity", "qbo_id", "operation", "last_updated"]
            )
            .returning(t.c.id)
        )
        stored = 0
        with write_begin(self.engine) as conn:
            for n in unique:
                values = {
                    "realm_id": n.realm_id,
                    "entity": n.entity,
                    "qbo_id": n.qbo_id,
                    "operation": n.operation,
                    "last_updated": n.last_updated,
                    "received_at": now,
                }
                stored += len(conn.execute(stmt.values(**values)).all())
        return stored

    def pending_notifications(self, realm_id: str, limit: int = 5000) -> list[StoredNotification]:
        """Notifications of ``realm_id`` not processed yet, oldest first."""
        t = qbo_notifications
        stmt = (
            sa.select(t)
            .where(t.c.realm_id == realm_id, t.c.processed_at.is_(None))
            .order_by(t.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                StoredNotification(r.realm_id, r.entity, r.qbo_id, r.operation, r.last_updated, id=int(r.id))
                for r in conn.execute(stmt)
            ]

    def mark_processed(self, ids: Iterable[int]) -> None:
        wanted = list(ids)
        t = qbo_notifications
        with write_begin(self.engine) as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                conn.execute(sa.update(t).where(t.c.id.in_(chunk)).values(processed_at=utcnow()))

    def notification_count(self, realm_id: str | None = None) -> int:
        t = qbo_notifications
        stmt = sa.select(sa.func.count()).select_from(t)
        if realm_id is not None:
            stmt = stmt.where(t.c.realm_id == realm_id)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    # -- CDC checkpoints -------------------------------------------------------------------------------

    def checkpoint(self, realm_id: str, entity: str) -> str | None:
        t = qbo_cdc_checkpoints
        stmt = sa.select(t.c.changed_since).where(t.c.realm_id == realm_id, t.c.entity == entity)
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar()

    def set_checkpoint(self, realm_id: str, entity: str, changed_since: str) -> None:
        t = qbo_cdc_checkpoints
        ins = dialect_insert(self._dialect, t)
        stmt = ins.values(
            realm_id=realm_id, entity=entity, changed_since=changed_since, updated_at=utcnow()
        ).on_conflict_do_update(
            index_elements=["realm_id", "entity"],
            set_={"changed_since": ins.excluded.changed_since, "updated_at": ins.excluded.updated_at},
        )
        with write_begin(self.engine) as conn:
            conn.execute(stmt)

    # -- drift records ---------------------------------------------------------------------------------

    def record(self, items: Sequence[NewDrift]) -> list[DriftRecord]:
        """Insert drifts not already open with the same fingerprint for their record; returns the new rows.

        An open drift of the same record with another fingerprint (the document changed again) is
        resolved as ``superseded`` by the new one."""
        t = qbo_drift
        out: list[DriftRecord] = []
        now = utcnow()
        with write_begin(self.engine) as conn:
            for d in items:
                stmt = (
                    dialect_insert(self._dialect, t)
                    .values(
                        source_type=d.source_type,
                        source_id=d.source_id,
                        qbo_entity=d.qbo_entity,
                        qbo_id=d.qbo_id,
                        kind=d.kind,
                        changes_json=json.dumps(d.changes),
                        fingerprint=d.fingerprint,
                        open_key=d.fingerprint,
                        detected_by=d.detected_by,
                        detected_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["source_type", "source_id", "open_key"])
                    .returning(*t.c)
                )
                row = conn.execute(stmt).first()
                if row is None:
                    continue
                new = DriftRecord.from_row(row)
                conn.execute(
                    sa.update(t)
                    .where(
                        t.c.source_type == d.source_type,
                        t.c.source_id == d.source_id,
                        t.c.resolution.is_(None),
                        t.c.id != new.id,
                    )
                    .values(
                        resolution="superseded",
                        resolution_detail=f"changed again: drift {new.id}",
                        resolved_at=now,
                        open_key=None,
                    )
                )
                out.append(new)
        return out

    def drifts(
        self,
        *,
        open_only: bool = False,
        unalerted: bool = False,
        source_type: str | None = None,
        source_ids: Iterable[str] | None = None,
    ) -> list[DriftRecord]:
        """Drift rows, oldest first."""
        t = qbo_drift
        stmt = sa.select(t).order_by(t.c.id)
        if open_only:
            stmt = stmt.where(t.c.resolution.is_(None))
        if unalerted:
            stmt = stmt.where(t.c.alerted_at.is_(None))
        if source_type is not None:
            stmt = stmt.where(t.c.source_type == source_type)
        with self.engine.connect() as conn:
            if source_ids is None:
                return [DriftRecord.from_row(r) for r in conn.execute(stmt)]
            out: list[DriftRecord] = []
            for chunk in chunks(list(dict.fromkeys(source_ids)), IN_CHUNK):
                out += [DriftRecord.from_row(r) for r in conn.execute(stmt.where(t.c.source_id.in_(chunk)))]
            return sorted(out, key=lambda d: d.id)

    def mark_alerted(self, ids: Iterable[int]) -> None:
        t = qbo_drift
        with write_begin(self.engine) as conn:
            for chunk in chunks(list(ids), IN_CHUNK):
                conn.execute(sa.update(t).where(t.c.id.in_(chunk)).values(alerted_at=utcnow()))

    def resolve(self, drift_id: int, resolution: str, detail: str) -> None:
        """Close an open drift (``restored``, ``matches``)."""
        t = qbo_drift
        with write_begin(self.engine) as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == drift_id, t.c.resolution.is_(None))
                .values(resolution=resolution, resolution_detail=detail, resolved_at=utcnow(), open_key=None)
            )

    def summary(self) -> dict[str, dict[str, int]]:
        """Open drifts per QBO entity and kind (``revqb status``)."""
        t = qbo_drift
        stmt = (
            sa.select(t.c.qbo_entity, t.c.kind, sa.func.count())
            .where(t.c.resolution.is_(None))
            .group_by(t.c.qbo_entity, t.c.kind)
        )
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for entity, kind, n in conn.execute(stmt):
                out.setdefault(entity, {})[kind] = int(n)
        return out

    # -- staged payloads -------------------------------------------------------------------------------

    def payloads(self, source_type: str, source_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Staged payload rows (``payload_json``, ``partition_key``, ``business_key``) by source id."""
        t = qbo_payloads
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(str(i) for i in source_ids)), IN_CHUNK):
                stmt = sa.select(t).where(t.c.source_type == source_type, t.c.source_id.in_(chunk))
                for r in conn.execute(stmt):
                    out[r.source_id] = dict(r._mapping)
        return out

    def referencing(self, symbol: str, source_types: Iterable[str]) -> dict[str, dict[str, str | None]]:
        """Staged payloads of ``source_types`` naming ``symbol`` (e.g. the payments applied to
        ``revio-bill:7``): source type -> source id -> partition key."""
        t = qbo_payloads
        needle = f'%"{symbol}"%'
        stmt = sa.select(t.c.source_type, t.c.source_id, t.c.partition_key).where(
            t.c.source_type.in_(list(source_types)), t.c.payload_json.like(needle)
        )
        out: dict[str, dict[str, str | None]] = {}
        with self.engine.connect() as conn:
            for source_type, source_id, partition_key in conn.execute(stmt):
                out.setdefault(source_type, {})[source_id] = partition_key
        return out
