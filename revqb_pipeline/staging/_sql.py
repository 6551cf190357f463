"""Small SQL helpers shared by the staging modules: chunking and dialect-specific upserts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

# Rows per statement: keeps bound parameters well under PostgreSQL's 65535 and SQLite's 32766.
ROW_CHUNK = 500
# Values per IN (...) list.
IN_CHUNK = 900


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of ``items`` of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def row_chunk_size(table: sa.Table) -> int:
    """Rows per multi-row statement for ``table`` (at most ~30k bound parameters)."""
    return max(1, min(ROW_CHUNK, 30_000 // max(1, len(table.columns))))


def dialect_insert(dialect_name: str, table: sa.Table) -> Any:
    """``INSERT`` supporting ``on_conflict_do_update`` for SQLite and PostgreSQL."""
    if dialect_name == "postgresql":
        return postgresql.insert(table)
    if dialect_name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"staging database dialect {dialect_name!r} is not supported")


def upsert_statement(
    dialect_name: str, table: sa.Table, keys: Iterable[str], update: Iterable[str] | None = None
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` setting ``update`` columns (default: all non-key)."""
    key_list = list(keys)
    stmt = dialect_insert(dialect_name, table)
    names = list(update) if update is not None else [c.name for c in table.columns if c.name not in key_list]
    return stmt.on_conflict_do_update(
        index_elements=key_list, set_={name: stmt.excluded[name] for name in names}
    )


def primary_key_names(table: sa.Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]
