"""Columnar reads of a partition's bills and charges for the invoice-line checks: only the columns
``mapping.frames`` reads, from the DB cursor's row tuples straight into int64 / object numpy columns (no
dict per row, none of the other columns such as ``raw_json``).

``charge_columns(engine, partition_key)``: the staged charges of the partition's bills (``stg_bills``
rows with that ``partition_key``), sorted by bill and charge id, optionally only those of ``bill_ids``;
``bill_columns``: those bills' ``bill_id`` and ``invoice_amount_cents``. They are the frames
``mapping.frames.invoice_frames`` takes. An integer column holding only integers is int64; one with a NULL
(or anything else) keeps its values as objects, which the checks read as the row path does (a NULL amount
fails ``ChargeLines``, named).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.mapping._numeric import tuple_columns
from revqb_pipeline.mapping.frames import CHARGE_INT_COLUMNS
from revqb_pipeline.staging.db import stg_bills, stg_charges

#: Integer columns the checks read (int64 when every value is an integer): a charge's, and the bill total.
INT_COLUMNS = (*CHARGE_INT_COLUMNS, "invoice_amount_cents")
#: ``stg_charges`` columns the checks read (quantity and rate are parsed once per distinct text).
CHARGE_COLUMNS = (*CHARGE_INT_COLUMNS, "quantity", "rate", "charge_kind", "geocode")
BILL_COLUMNS = ("bill_id", "invoice_amount_cents")
FETCH_ROWS = 1 << 16  # rows per fetchmany: the tuples are turned into columns while still in cache


def _blocks(cursor: Any) -> Iterator[list[Any]]:
    while block := cursor.fetchmany(FETCH_ROWS):
        yield block


def read_columns(engine: Engine, stmt: sa.Select[Any], names: Sequence[str]) -> pd.DataFrame:
    """Run ``stmt`` (selecting ``names``) and read its rows from the DBAPI cursor into columns
    (``_numeric.tuple_columns``: ``INT_COLUMNS`` int64 when they can be, text ``pd.Categorical``, each
    distinct text hashed once, block by block while the fetched strings are still in cache)."""
    with engine.connect() as conn:
        cursor = conn.execute(stmt).cursor  # plain DBAPI tuples: no Row object per row
        return pd.DataFrame(tuple_columns(_blocks(cursor), names, INT_COLUMNS), copy=False)


def _partition_bills(partition_key: str) -> sa.Select[Any]:
    return sa.select(stg_bills.c.bill_id).where(stg_bills.c.partition_key == partition_key)


def _only(df: pd.DataFrame, bill_ids: Iterable[int] | None) -> pd.DataFrame:
    if bill_ids is None:
        return df
    wanted = np.fromiter((int(b) for b in bill_ids), np.int64)
    keep = pd.Series(df["bill_id"]).isin(wanted).to_numpy()
    return df if keep.all() else df[keep].reset_index(drop=True)


def charge_columns(engine: Engine, partition_key: str, bill_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """``CHARGE_COLUMNS`` of the staged charges of the partition's bills (only ``bill_ids``' if given),
    sorted by bill and charge id."""
    tbl = stg_charges
    stmt = (
        sa.select(*(tbl.c[c] for c in CHARGE_COLUMNS))
        .where(tbl.c.bill_id.in_(_partition_bills(partition_key)))
        .order_by(tbl.c.bill_id, tbl.c.charge_id)
    )
    return _only(read_columns(engine, stmt, CHARGE_COLUMNS), bill_ids)


def bill_columns(engine: Engine, partition_key: str, bill_ids: Iterable[int] | None = None) -> pd.DataFrame:
    """``bill_id`` and ``invoice_amount_cents`` of the partition's staged bills (only ``bill_ids`` if
    given), sorted by bill id."""
    tbl = stg_bills
    stmt = (
        sa.select(*(tbl.c[c] for c in BILL_COLUMNS))
        .where(tbl.c.partition_key == partition_key)
        .order_by(tbl.c.bill_id)
    )
    return _only(read_columns(engine, stmt, BILL_COLUMNS), bill_ids)
