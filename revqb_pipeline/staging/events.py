"""EventStore: Rev.io webhook notifications kept durably, once per event id, until a sensor plans them.

A notification is stored when it arrives (``new``), then the webhook sensor re-reads its record, finds the
day (partition) it belongs to and marks it ``planned`` with that day and the run key it requested, or
``ignored`` with the reason (an event type revqb does not sync, a record Rev.io no longer has). Storing is
idempotent by ``event_id``: a duplicated or replayed delivery changes nothing and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging._sql import IN_CHUNK, chunks, dialect_insert
from revqb_pipeline.staging.db import UTCDateTime, ensure_tables, metadata, utcnow, write_begin

NEW, PLANNED, IGNORED = "new", "planned", "ignored"

revio_events = sa.Table(
    "revio_events",
    metadata,
    sa.Column("event_id", sa.String(128), primary_key=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("resource", sa.String(32)),
    sa.Column("object_id", sa.String(64)),
    sa.Column("created_date", sa.String(32)),
    sa.Column("received_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("day", sa.String(10)),
    sa.Column("run_key", sa.String(128)),
    sa.Column("note", sa.Text),
    sa.Column("planned_at", UTCDateTime),
)


@dataclass(frozen=True)
class StoredEvent:
    """One stored notification."""

    event_id: str
    event_type: str
    resource: str | None
    object_id: str | None
    created_date: str | None
    received_at: datetime
    status: str
    day: str | None = None
    run_key: str | None = None
    note: str | None = None
    planned_at: datetime | None = None


def ensure_table(engine: Engine) -> None:
    """Create ``revio_events`` when missing (``create_schema`` creates it too), checked once per engine and
    process (``ensure_tables``): a sensor tick's ``EventStore`` runs no statement, and takes no write lock."""
    ensure_tables(engine, [revio_events])


class EventStore:
    """The ``revio_events`` table (created on first use, so older databases gain it without a migration)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_table(engine)

    def record(
        self,
        event_id: str,
        event_type: str,
        resource: str | None,
        object_id: str | None,
        created_date: str | None,
    ) -> bool:
        """Store a notification; False when its ``event_id`` was already stored (nothing changes)."""
        stmt = (
            dialect_insert(self.engine.dialect.name, revio_events)
            .values(
                event_id=event_id,
                event_type=event_type,
                resource=resource,
                object_id=object_id,
                created_date=created_date,
                received_at=utcnow(),
                status=NEW if resource else IGNORED,
                note=None if resource else f"event type {event_type!r} is not synced by revqb",
            )
            .on_conflict_do_nothing(index_elements=["event_id"])
        )
        with write_begin(self.engine) as conn:
            return conn.execute(stmt).rowcount == 1

    def pending(self, limit: int = 500) -> list[StoredEvent]:
        """The oldest ``new`` events, at most ``limit``."""
        query = (
            sa.select(revio_events)
            .where(revio_events.c.status == NEW)
            .order_by(revio_events.c.received_at, revio_events.c.event_id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [StoredEvent(**row._mapping) for row in conn.execute(query)]

    def get(self, event_ids: Iterable[str]) -> list[StoredEvent]:
        """The stored events with these ids (any status)."""
        ids = list(event_ids)
        out: list[StoredEvent] = []
        with self.engine.connect() as conn:
            for part in chunks(ids, IN_CHUNK):
                query = sa.select(revio_events).where(revio_events.c.event_id.in_(part))
                out.extend(StoredEvent(**row._mapping) for row in conn.execute(query))
        return out

    def mark(
        self,
        event_ids: Sequence[str],
        status: str,
        *,
        day: str | None = None,
        run_key: str | None = None,
        note: str | None = None,
    ) -> None:
        """Set the outcome of ``event_ids`` in one transaction."""
        if not event_ids:
            return
        values = {"status": status, "day": day, "run_key": run_key, "note": note, "planned_at": utcnow()}
        with write_begin(self.engine) as conn:
            for part in chunks(list(event_ids), IN_CHUNK):
                conn.execute(revio_events.update().where(revio_events.c.event_id.in_(part)).values(**values))

    def counts(self) -> dict[str, int]:
        """Stored events per status."""
        query = sa.select(revio_events.c.status, sa.func.count()).group_by(revio_events.c.status)
        with self.engine.connect() as conn:
            return {status: int(n) for status, n in conn.execute(query)}
