"""Schema creation and self-migration of the staging database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.db import (
    SCHEMA_VERSION,
    create_schema,
    current_schema_version,
    make_engine,
    metadata,
)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def test_create_schema_is_idempotent(engine: sa.Engine) -> None:
    assert current_schema_version(engine) is None
    create_schema(engine)
    create_schema(engine)
    names = set(sa.inspect(engine).get_table_names())
    assert set(metadata.tables) <= names
    assert current_schema_version(engine) == SCHEMA_VERSION
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from schema_version")).scalar() == 1
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("sync_ledger")}
    assert {"ix_sync_ledger_status", "ix_sync_ledger_business_key"} <= indexes


def test_create_schema_adds_missing_columns(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("create table stg_customers (customer_id bigint primary key, email text)"))
        conn.execute(sa.text("create table sync_cursors (name varchar(128) primary key, value text)"))
        conn.execute(sa.text("insert into stg_customers (customer_id, email) values (7, 'a@b.c')"))
        conn.execute(sa.text("insert into sync_cursors (name, value) values ('bills', '2026-01-01')"))
    create_schema(engine)
    cols = {c["name"] for c in sa.inspect(engine).get_columns("stg_customers")}
    assert {"balance_cents", "suspended", "record_hash", "partition_key"} <= cols
    assert "updated_at" in {c["name"] for c in sa.inspect(engine).get_columns("sync_cursors")}
    with engine.connect() as conn:
        row = conn.execute(sa.text("select email, suspended, balance_cents from stg_customers")).one()
        cursor = conn.execute(sa.text("select value from sync_cursors")).scalar()
    assert row.email == "a@b.c" and not row.suspended and row.balance_cents is None
    assert cursor == "2026-01-01"
    create_schema(engine)  # still idempotent after a migration


def test_sqlite_engine_creates_directory_and_uses_wal(tmp_path) -> None:
    path = tmp_path / "nested" / "dir" / "revqb.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        create_schema(engine)
        assert path.exists()
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()
