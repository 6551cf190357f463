"""StagingStore: upsert and read the normalized Rev.io tables, quarantine, QBO payloads and cursors."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging._sql import (
    IN_CHUNK,
    chunks,
    primary_key_names,
    row_chunk_size,
    upsert_statement,
)
from revqb_pipeline.staging.db import (
    UTCDateTime,
    metadata,
    qbo_payloads,
    stg_quarantine,
    sync_cursors,
    utcnow,
    write_begin,
)


@dataclass(frozen=True)
class UpsertCounts:
    """What an upsert did, by comparing ``record_hash`` with the stored row."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged

    def __add__(self, other: UpsertCounts) -> UpsertCounts:
        return UpsertCounts(
            self.inserted + other.inserted, self.updated + other.updated, self.unchanged + other.unchanged
        )


def _table(name: str) -> sa.Table:
    try:
        return metadata.tables[name]
    except KeyError:
        raise ValueError(f"unknown staging table {name!r}") from None


def _where(table: sa.Table, equals: Mapping[str, Any]) -> list[sa.ColumnElement[bool]]:
    unknown = set(equals) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
    return [table.c[k].is_(None) if v is None else table.c[k] == v for k, v in equals.items()]


def _json_text(raw: str | Mapping[str, Any] | None) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    return json.dumps(raw, sort_keys=True, default=str)


@functools.cache
def _fills(tbl: sa.Table) -> tuple[frozenset[str], tuple[tuple[str, bool, Any], ...]]:
    """``tbl``'s column names, and per column what fills it when a row omits it: the time of the write
    (a non-null UTC timestamp), the column's scalar default, or None."""
    fills = []
    for col in tbl.columns:
        is_now = isinstance(col.type, UTCDateTime) and not col.nullable
        default = col.default.arg if col.default is not None and col.default.is_scalar else None
        fills.append((col.name, is_now, None if is_now else default))
    return frozenset(tbl.c.keys()), tuple(fills)


def _dicts(result: sa.CursorResult[Any]) -> list[dict[str, Any]]:
    """The result's rows as dicts (keys zipped onto the row tuples: cheaper than ``Row._mapping``)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result]


class StagingStore:
    """Reads and writes the staging tables of one engine (each method is its own transaction)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    # -- normalized records ---------------------------------------------------------------------------

    def upsert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> UpsertCounts:
        """Insert or update ``rows`` by primary key; rows with an unchanged ``record_hash`` are skipped."""
        tbl = _table(table)
        keys = primary_key_names(tbl)
        prepared = self._prepare(tbl, rows, keys)
        has_hash = "record_hash" in tbl.c
        counts = UpsertCounts()
        if not prepared:
            return counts
        stmt = upsert_statement(self._dialect, tbl, keys)
        with write_begin(self.engine) as conn:
            for chunk in chunks(prepared, row_chunk_size(tbl)):
                stored = self._stored_hashes(conn, tbl, keys, chunk)
                changed: list[dict[str, Any]] = []
                ins = upd = same = 0
                for row in chunk:
                    key = tuple(row[k] for k in keys)
                    if key not in stored:
                        ins += 1
                    elif has_hash and stored[key] == row["record_hash"]:
                        same += 1
                        continue
                    else:
                        upd += 1
                    changed.append(row)
                if changed:
                    conn.execute(stmt, changed)
                counts = counts + UpsertCounts(ins, upd, same)
        return counts

    @staticmethod
    def _prepare(tbl: sa.Table, rows: Sequence[Mapping[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
        """Full-column dicts (defaults filled), de-duplicated by key (last one wins)."""
        columns, fills = _fills(tbl)
        now = utcnow()
        template = {name: now if is_now else default for name, is_now, default in fills}
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            if not columns.issuperset(row):
                raise ValueError(f"{tbl.name} has no column(s) {sorted(set(row) - columns)}")
            full = template.copy()
            full.update(row)
            key = tuple(full[k] for k in keys)
            if None in key:
                missing = [k for k in keys if full[k] is None]
                raise ValueError(f"{tbl.name} row without primary key {missing}")
            by_key[key] = full
        return list(by_key.values())

    @staticmethod
    def _stored_hashes(
        conn: sa.Connection, tbl: sa.Table, keys: list[str], rows: Sequence[Mapping[str, Any]]
    ) -> dict[tuple[Any, ...], str | None]:
        hash_col = tbl.c["record_hash"] if "record_hash" in tbl.c else sa.null()
        key_cols = [tbl.c[k] for k in keys]
        if len(keys) == 1:
            cond = key_cols[0].in_([r[keys[0]] for r in rows])
        else:
            cond = sa.tuple_(*key_cols).in_([tuple(r[k] for k in keys) for r in rows])
        result = conn.execute(sa.select(*key_cols, hash_col).where(cond))
        return {tuple(r[: len(keys)]): r[len(keys)] for r in result}

    def rows(self, table: str, **equals: Any) -> list[dict[str, Any]]:
        """Rows of ``table`` matching ``column=value`` filters (None matches NULL), in primary-key order."""
        tbl = _table(table)
        stmt = sa.select(tbl).where(*_where(tbl, equals)).order_by(*tbl.primary_key.columns)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt))

    def rows_in(self, table: str, column: str, values: Iterable[Any]) -> list[dict[str, Any]]:
        """Rows whose ``column`` is one of ``values`` (queried in chunks)."""
        tbl = _table(table)
        if column not in tbl.c:
            raise ValueError(f"{tbl.name} has no column {column!r}")
        wanted = list(dict.fromkeys(values))
        out: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                stmt = sa.select(tbl).where(tbl.c[column].in_(chunk)).order_by(*tbl.primary_key.columns)
                out.extend(_dicts(conn.execute(stmt)))
        return out

    def frame(self, table: str, **equals: Any) -> pd.DataFrame:
        """Matching rows as a DataFrame: integers int64 (Int64 if NULLs), booleans bool, datetimes UTC."""
        tbl = _table(table)
        return to_frame(tbl, self.rows(table, **equals))

    def delete_partition(self, table: str, partition_key: str) -> int:
        """Delete the rows of one partition; returns how many."""
        tbl = _table(table)
        with write_begin(self.engine) as conn:
            return conn.execute(sa.delete(tbl).where(tbl.c.partition_key == partition_key)).rowcount

    def delete_ids(self, table: str, ids: Iterable[int]) -> int:
        """Delete rows by primary key (staged copies of records now quarantined); returns how many."""
        tbl = _table(table)
        pk = next(iter(tbl.primary_key.columns))
        wanted = list(dict.fromkeys(int(i) for i in ids))
        deleted = 0
        with write_begin(self.engine) as conn:
            for chunk in chunks(wanted, IN_CHUNK):
                deleted += conn.execute(sa.delete(tbl).where(pk.in_(chunk))).rowcount
        return deleted

    # -- quarantine -----------------------------------------------------------------------------------

    def quarantine(
        self,
        resource: str,
        record_id: str | int,
        reason: str,
        raw_json: str | Mapping[str, Any] | None = None,
        partition_key: str | None = None,
    ) -> None:
        """Record (or refresh) a malformed source record with the reason it was rejected."""
        now = utcnow()
        row = {
            "resource": resource,
            "record_id": str(record_id),
            "partition_key": partition_key,
            "reason": reason,
            "raw_json": _json_text(raw_json),
            "first_seen": now,
            "last_seen": now,
        }
        stmt = upsert_statement(
            self._dialect,
            stg_quarantine,
            ["resource", "record_id"],
            ["partition_key", "reason", "raw_json", "last_seen"],
        )
        with write_begin(self.engine) as conn:
            conn.execute(stmt, [row])

    def clear_quarantine(self, resource: str, record_id: str | int) -> bool:
        """Forget a quarantined record (it normalized cleanly); True if there was one."""
        t = stg_quarantine
        stmt = sa.delete(t).where(t.c.resource == resource, t.c.record_id == str(record_id))
        with write_begin(self.engine) as conn:
            return conn.execute(stmt).rowcount > 0

    def clear_quarantine_many(self, resource: str, record_ids: Iterable[str | int]) -> int:
        """Forget many quarantined records of one resource in one transaction; returns how many."""
        t = stg_quarantine
        ids = list(dict.fromkeys(str(r) for r in record_ids))
        cleared = 0
        if not ids:
            return 0
        any_of_resource = sa.select(t.c.record_id).where(t.c.resource == resource).limit(1)
        with write_begin(self.engine) as conn:
            if conn.execute(any_of_resource).first() is None:
                return 0  # nothing of this resource is quarantined: no DELETE per chunk of ids
            for chunk in chunks(ids, IN_CHUNK):
                stmt = sa.delete(t).where(t.c.resource == resource, t.c.record_id.in_(chunk))
                cleared += conn.execute(stmt).rowcount
        return cleared

    def quarantined(self, resource: str | None = None) -> list[dict[str, Any]]:
        """Quarantined source records, optionally of one resource."""
        t = stg_quarantine
        stmt = sa.select(t).order_by(t.c.resource, t.c.record_id)
        if resource is not None:
            stmt = stmt.where(t.c.resource == resource)
        with self.engine.connect() as conn:
            return _dicts(conn.execute(stmt))

    # -- QBO payloads ---------------------------------------------------------------------------------

    def save_payloads(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Upsert built QBO payloads keyed by (source_type, source_id); returns the number of rows written."""
        prepared = self._prepare(qbo_payloads, rows, ["source_type", "source_id"])
        stmt = upsert_statement(self._dialect, qbo_payloads, ["source_type", "source_id"])
        with write_begin(self.engine) as conn:
            for chunk in chunks(prepared, row_chunk_size(qbo_payloads)):
                conn.execute(stmt, list(chunk))
        return len(prepared)

    def payloads(self, source_type: str, partition_keys: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Built payloads of one source type, optionally limited to some partitions."""
        t = qbo_payloads
        base = sa.select(t).where(t.c.source_type == source_type).order_by(t.c.source_id)
        with self.engine.connect() as conn:
            if partition_keys is None:
                return [dict(r._mapping) for r in conn.execute(base)]
            out: list[dict[str, Any]] = []
            for chunk in chunks(list(dict.fromkeys(partition_keys)), IN_CHUNK):
                out.extend(dict(r._mapping) for r in conn.execute(base.where(t.c.partition_key.in_(chunk))))
            return sorted(out, key=lambda r: r["source_id"])

    # -- cursors --------------------------------------------------------------------------------------

    def get_cursor(self, name: str) -> str | None:
        """The stored value of cursor ``name`` (e.g. an incremental-fetch watermark), or None."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sync_cursors.c.value).where(sync_cursors.c.name == name)).scalar()

    def set_cursor(self, name: str, value: str | None) -> None:
        """Store cursor ``name``."""
        stmt = upsert_statement(self._dialect, sync_cursors, ["name"])
        with write_begin(self.engine) as conn:
            conn.execute(stmt, [{"name": name, "value": value, "updated_at": utcnow()}])


def to_frame(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``rows`` of ``table`` as a DataFrame with exact dtypes (no float cents, ever)."""
    data: dict[str, pd.Series] = {}
    for col in table.columns:
        values = [r[col.name] for r in rows]
        has_null = any(v is None for v in values)
        if isinstance(col.type, sa.Boolean):
            dtype = "boolean" if has_null else "bool"
        elif isinstance(col.type, sa.Integer):
            dtype = "Int64" if has_null else "int64"
        elif isinstance(col.type, UTCDateTime):
            data[col.name] = pd.to_datetime(pd.Series(values, dtype="object"), utc=True)
            continue
        else:
            dtype = "object"
        data[col.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(table.c.keys()))
