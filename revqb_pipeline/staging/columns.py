"""The columns of a staging table as plain data (name, SQL type, nullable, primary key), for documentation:
the Dagster definitions show them as each staging asset's column schema without touching table objects."""

from __future__ import annotations

from dataclasses import dataclass

from revqb_pipeline.staging.db import metadata


@dataclass(frozen=True)
class ColumnInfo:
    """One column of a staging table."""

    name: str
    sql_type: str
    nullable: bool
    primary_key: bool


def table_columns(table: str) -> list[ColumnInfo]:
    """The columns of staging table ``table`` in table order (KeyError for an unknown table)."""
    return [
        ColumnInfo(c.name, str(c.type).lower(), bool(c.nullable) and not c.primary_key, bool(c.primary_key))
        for c in metadata.tables[table].columns
    ]
