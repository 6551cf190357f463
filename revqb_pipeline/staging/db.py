"""Staging database: tables, engine factory and the self-migrating schema (SQLite or PostgreSQL).

Money is BigInteger cents, dates are ISO ``YYYY-MM-DD`` strings (Rev.io datetimes stay ISO strings too),
and the program's own timestamps are timezone-aware UTC (:class:`UTCDateTime`).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CONNECT_TIMEOUT_S = 5  # PostgreSQL connect_timeout (SQLite's 30 s busy timeout is a lock wait, not a connect)
_PG_SCHEMA_LOCK = 727_001  # pg_advisory_xact_lock key serializing create_schema across processes


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

_AutoId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY autoincrements on SQLite


def _cents(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger)


def _flag(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Boolean, nullable=False, default=False, server_default=sa.false())


def _date(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.String(10))


def _text(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.Text)


def _staging_table(name: str, pk: str, *columns: sa.Column[Any]) -> sa.Table:
    """A normalized Rev.io table: integer pk + columns + partition_key, record_hash, raw_json, updated_at."""
    return sa.Table(
        name,
        metadata,
        sa.Column(pk, sa.BigInteger, primary_key=True, autoincrement=False),
        *columns,
        sa.Column("partition_key", sa.String(10), index=True),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("raw_json", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    )


stg_customers = _staging_table(
    "stg_customers",
    "customer_id",
    _text("account_number"),
    _text("display_name"),
    _text("company_name"),
    _text("first_name"),
    _text("last_name"),
    _text("email"),
    _text("phone"),
    _text("bill_line1"),
    _text("bill_line2"),
    _text("bill_city"),
    _text("bill_state"),
    _text("bill_postal_code"),
    _text("bill_country"),
    _text("status"),
    _flag("suspended"),
    _date("suspended_date"),
    _cents("amount_due_cents"),
    _cents("amount_overdue_cents"),
    _cents("balance_cents"),
    _text("created_date"),
    _text("updated_date"),
)

stg_products = _staging_table(
    "stg_products",
    "product_id",
    sa.Column("product_type_id", sa.BigInteger),
    _text("description"),
    _text("rate"),
    sa.Column("tax_class_id", sa.BigInteger),
    _text("ledger_code"),
    sa.Column("category_id", sa.BigInteger),
    _flag("active"),
)

stg_product_types = _staging_table(
    "stg_product_types",
    "product_type_id",
    _text("product_type_code"),
    _text("description"),
    sa.Column("tax_class_id", sa.BigInteger),
    _flag("one_time_flag"),
    sa.Column("charge_kind", sa.String(16)),
)

stg_bills = _staging_table(
    "stg_bills",
    "bill_id",
    sa.Column("customer_id", sa.BigInteger, index=True),
    _text("bill_type"),
    sa.Column("parent_bill_id", sa.BigInteger),
    _date("bill_date"),
    _date("due_date"),
    _cents("invoice_amount_cents"),
    _cents("credit_memo_amount_cents"),
    _cents("amount_due_cents"),
    _flag("is_reversed"),
    _text("created_date"),
)

stg_charges = _staging_table(
    "stg_charges",
    "charge_id",
    sa.Column("bill_id", sa.BigInteger, index=True),
    sa.Column("customer_id", sa.BigInteger),
    sa.Column("product_id", sa.BigInteger),
    sa.Column("product_type_id", sa.BigInteger),
    sa.Column("service_product_id", sa.BigInteger),
    _text("description"),
    _text("quantity"),
    _text("rate"),
    _cents("product_amount_cents"),
    _cents("tax_amount_cents"),
    _cents("amount_cents"),
    sa.Column("tax_class_id", sa.BigInteger),
    _text("geocode"),
    _flag("is_tax_included"),
    _flag("is_prorated"),
    _date("start_date"),
    _date("end_date"),
    _text("created_date"),
    sa.Column("charge_kind", sa.String(16)),
)

stg_credits = _staging_table(
    "stg_credits",
    "credit_memo_id",
    sa.Column("customer_id", sa.BigInteger, index=True),
    sa.Column("bill_id", sa.BigInteger),
    _text("atype"),
    _flag("is_bad_debt"),
    _text("description"),
    sa.Column("product_id", sa.BigInteger),
    sa.Column("product_type_id", sa.BigInteger),
    _text("quantity"),
    _text("rate"),
    _cents("amount_cents"),
    _cents("product_amount_cents"),
    _cents("tax_amount_cents"),
    sa.Column("tax_class_id", sa.BigInteger),
    _text("geocode"),
    _date("start_date"),
    _date("end_date"),
    _text("created_date"),
    sa.Column("credit_kind", sa.String(16)),
)

stg_payments = _staging_table(
    "stg_payments",
    "payment_id",
    sa.Column("customer_id", sa.BigInteger, index=True),
    sa.Column("bill_id", sa.BigInteger),
    _text("method"),
    sa.Column("payment_type_id", sa.BigInteger),
    _text("reference_number"),
    _cents("amount_cents"),
    _date("received_date"),
    _text("created_date"),
    _flag("refund_flag"),
    _flag("bounced"),
    sa.Column("original_payment_id", sa.BigInteger),
)

STAGING_TABLES: tuple[sa.Table, ...] = (
    stg_customers,
    stg_products,
    stg_product_types,
    stg_bills,
    stg_charges,
    stg_credits,
    stg_payments,
)

stg_quarantine = sa.Table(
    "stg_quarantine",
    metadata,
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(128), primary_key=True),
    sa.Column("partition_key", sa.String(10)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw_json", sa.Text),
    sa.Column("first_seen", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("last_seen", UTCDateTime, nullable=False, default=utcnow),
)

qbo_payloads = sa.Table(
    "qbo_payloads",
    metadata,
    sa.Column("source_type", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("qbo_entity", sa.String(32), nullable=False),
    sa.Column("partition_key", sa.String(10), index=True),
    sa.Column("business_key", sa.Text),
    sa.Column("payload_json", sa.Text, nullable=False),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("built_at", UTCDateTime, nullable=False, default=utcnow),
)

sync_ledger = sa.Table(
    "sync_ledger",
    metadata,
    sa.Column("source_type", sa.String(32), primary_key=True),
    sa.Column("source_id", sa.String(128), primary_key=True),
    sa.Column("qbo_entity", sa.String(32)),
    sa.Column("qbo_id", sa.String(64)),
    sa.Column("sync_token", sa.String(32)),
    sa.Column("business_key", sa.Text),
    sa.Column("payload_hash", sa.String(64)),
    sa.Column("request_id", sa.String(64)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("last_error_code", sa.String(64)),
    sa.Column("last_error", sa.Text),
    sa.Column("partition_key", sa.String(10)),
    sa.Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Index("ix_sync_ledger_status", "status"),
    sa.Index("ix_sync_ledger_business_key", "qbo_entity", "business_key"),
    sa.Index("ix_sync_ledger_qbo_id", "qbo_entity", "qbo_id"),
    sa.Index("ix_sync_ledger_partition", "partition_key"),
)

ledger_events = sa.Table(
    "ledger_events",
    metadata,
    sa.Column("id", _AutoId, primary_key=True, autoincrement=True),
    sa.Column("source_type", sa.String(32), nullable=False),
    sa.Column("source_id", sa.String(128), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("error_code", sa.String(64)),
    sa.Index("ix_ledger_events_source", "source_type", "source_id"),
)

oauth_tokens = sa.Table(
    "oauth_tokens",
    metadata,
    sa.Column("realm_id", sa.String(64), primary_key=True),
    sa.Column("access_token", sa.Text, nullable=False, default=""),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("access_expires_at", UTCDateTime, nullable=False),
    sa.Column("refresh_expires_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    # sha256 fingerprint of the QBO_REFRESH_TOKEN that seeded the row (a new one re-seeds)
    sa.Column("seed_hash", sa.String(64)),
    # SQLite's cross-process refresh lock (staging/tokens.py: SqlTokenStore.locked): epoch seconds + holder
    sa.Column("refresh_lock_until", sa.Double),
    sa.Column("refresh_lock_owner", sa.String(64)),
)

sync_cursors = sa.Table(
    "sync_cursors",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

alerts_sent = sa.Table(
    "alerts_sent",
    metadata,
    sa.Column("alert_key", sa.String(255), primary_key=True),
    sa.Column("channel", sa.String(32)),
    sa.Column("sent_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("summary", sa.Text),
)

dunning_state = sa.Table(  # the last collection state seen per Rev.io customer (entities/dunning/sync.py)
    "dunning_state",
    metadata,
    sa.Column("customer_id", sa.String(128), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("step", sa.Text),
    sa.Column("since", sa.String(10)),
    sa.Column("overdue_cents", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("seq", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Column("transition", sa.Text),
    sa.Column("display_name", sa.Text),
    sa.Column("changed_at", UTCDateTime, nullable=False, default=utcnow),
    sa.Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
)

# The database-backed rate limiter (staging/limits.py): one row per API account (the lock + a 429 pause)
# and one per request in its windows (admitted, completed, lease for a process that dies mid-request).
rate_limit_buckets = sa.Table(
    "rate_limit_buckets",
    metadata,
    sa.Column("bucket", sa.String(255), primary_key=True),
    sa.Column("paused_until", sa.Double, nullable=False, default=0.0, server_default="0"),
)

rate_limit_slots = sa.Table(
    "rate_limit_slots",
    metadata,
    sa.Column("id", _AutoId, primary_key=True, autoincrement=True),
    sa.Column("bucket", sa.String(255), nullable=False),
    sa.Column("batch", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    sa.Column("admitted_at", sa.Double, nullable=False),
    sa.Column("done_at", sa.Double),
    sa.Column("lease_until", sa.Double, nullable=False),
    sa.Column("owner", sa.String(64)),
    sa.Index("ix_rate_limit_slots_bucket", "bucket", "done_at"),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False, default=utcnow),
)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout so processes can share it.

    On SQLite, transactions start with an explicit ``BEGIN`` (``BEGIN IMMEDIATE`` when the connection has
    the ``revqb_write=True`` execution option): DDL is transactional and no read-to-write lock upgrade.
    """
    sa_url = make_url(url)
    if sa_url.get_backend_name() != "sqlite":
        # An unreachable server fails in seconds, not after the OS's TCP timeout (minutes).
        connect_args = (
            {"connect_timeout": CONNECT_TIMEOUT_S} if sa_url.get_backend_name() == "postgresql" else {}
        )
        return sa.create_engine(sa_url, pool_pre_ping=True, connect_args=connect_args)

    database = sa_url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(sa_url, connect_args={"check_same_thread": False, "timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        if database and database != ":memory:":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("revqb_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def ping(url: str | sa.URL, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Connect once and run ``select 1`` (no pool, no schema, no file created beyond what connecting
    does); raises the driver's error. The preflight's database check."""
    sa_url = make_url(url) if isinstance(url, str) else url
    backend = sa_url.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["connect_timeout"] = int(timeout_s)
    elif backend == "sqlite":
        connect_args["timeout"] = timeout_s
    engine = sa.create_engine(sa_url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    finally:
        engine.dispose()


@contextmanager
def write_begin(engine: Engine) -> Iterator[Connection]:
    """A write transaction (``BEGIN IMMEDIATE`` on SQLite, a plain transaction on PostgreSQL)."""
    with engine.connect().execution_options(revqb_write=True) as conn, conn.begin():
        yield conn


#: Per engine, the tables :func:`ensure_tables` knows exist in this process.
_TABLES_READY: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()


def ensure_tables(engine: Engine, tables: Sequence[sa.Table], pg_lock: int | None = None) -> None:
    """Create those of ``tables`` that are missing (older databases gain them without a migration), checked
    once per engine and process: later calls run no statement, and a database that has them all is only
    read (no write transaction, no SQLite write lock). ``pg_lock``: an advisory lock serializing the
    creation across processes on PostgreSQL."""
    ready = _TABLES_READY.setdefault(engine, set())
    wanted = [t for t in tables if t.name not in ready]
    if not wanted:
        return
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        missing = [t for t in wanted if not inspector.has_table(t.name)]
    if missing:
        with write_begin(engine) as conn:
            if pg_lock is not None and conn.dialect.name == "postgresql":
                conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": pg_lock})
            for table in missing:  # in the caller's (dependency) order
                table.create(conn, checkfirst=True)
    ready.update(t.name for t in wanted)


def create_schema(engine: Engine) -> None:
    """Create missing tables, add missing columns and indexes, and record ``schema_version``. Idempotent."""
    with write_begin(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": _PG_SCHEMA_LOCK})
        metadata.create_all(conn, checkfirst=True)
        _add_missing_columns(conn)
        _add_missing_indexes(conn)
        known = conn.execute(
            sa.select(schema_version.c.version).where(schema_version.c.version == SCHEMA_VERSION)
        ).first()
        if known is None:
            conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=utcnow()))


def current_schema_version(engine: Engine) -> int | None:
    """The highest recorded schema version, or None before :func:`create_schema` ran."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(schema_version.name):
            return None
        return conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()


def _add_missing_columns(conn: Connection) -> None:
    inspector = sa.inspect(conn)
    prep = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        existing = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            ddl = f"ALTER TABLE {prep.format_table(table)} ADD COLUMN {_column_ddl(conn, column)}"
            log.info("schema migration: %s", ddl)
            conn.exec_driver_sql(ddl)


def _column_ddl(conn: Connection, column: sa.Column[Any]) -> str:
    """Column DDL for ADD COLUMN: NOT NULL only with a server default (existing rows need a value)."""
    prep = conn.dialect.identifier_preparer
    parts = [prep.format_column(column), column.type.compile(dialect=conn.dialect)]
    default = column.server_default
    if isinstance(default, sa.DefaultClause):
        arg = default.arg
        text = arg if isinstance(arg, str) else str(arg.compile(dialect=conn.dialect))
        parts.append(f"DEFAULT {text if not isinstance(arg, str) else _quote(arg)}")
        if not column.nullable:
            parts.append("NOT NULL")
    return " ".join(parts)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _add_missing_indexes(conn: Connection) -> None:
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        existing = {ix["name"] for ix in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name not in existing:
                index.create(conn)
