"""EventStore's table: created on first use in a database that never ran ``create_schema``, and checked once
per engine, so the webhook sensor's store of every tick runs no statement (and takes no SQLite write lock)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.events import IGNORED, NEW, EventStore
from revqb_pipeline_tests._engine_watch import EngineWatch


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def test_a_database_without_the_table_gains_it_on_first_use(engine: sa.Engine) -> None:
    store = EventStore(engine)  # no create_schema: an older database, or a caller that never ran it

    assert store.record("e1", "BILL_CREATED", "bill", "7", "2026-01-02")
    assert not store.record("e1", "BILL_CREATED", "bill", "7", "2026-01-02")  # a replay changes nothing
    assert store.record("e2", "SOMETHING_ELSE", None, None, None)
    assert [e.event_id for e in store.pending()] == ["e1"]
    assert store.counts() == {NEW: 1, IGNORED: 1}
    assert [e.event_id for e in EventStore(engine).pending()] == ["e1"]  # a later store reads the same rows


def test_a_store_per_tick_runs_no_statement_after_the_first(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    watch = EngineWatch(engine)

    store = EventStore(engine)
    assert watch.statements and not any("IMMEDIATE" in s for s in watch.statements)  # a read: no write lock
    watch.reset()
    for _ in range(3):  # the sensor's next ticks
        EventStore(engine)
    assert watch.statements == []
    assert store.record("e1", "BILL_CREATED", "bill", "7", "2026-01-02")

    other = make_engine(sqlite_url)  # another engine (process) checks once for itself
    try:
        assert [e.event_id for e in EventStore(other).pending()] == ["e1"]
    finally:
        other.dispose()
        engine.dispose()
