"""Reads of the staged bills and charges for month-end revenue (``entities/journals/sync.py``).

Dates are ISO ``YYYY-MM-DD`` strings, compared as text (as stored); reversed bills are always excluded.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging.db import stg_bills, stg_charges


def revenue_charge_rows(engine: Engine, billed_from: date, first: date, last: date) -> list[dict[str, Any]]:
    """Charges (joined to their bill) billed in ``billed_from``..``last`` that are billed on or after
    ``first`` or whose service period ends on or after ``first``, by charge id."""
    stmt = (
        sa.select(
            stg_charges.c.charge_id,
            stg_charges.c.charge_kind,
            stg_charges.c.product_amount_cents,
            stg_charges.c.start_date,
            stg_charges.c.end_date,
            stg_bills.c.bill_id,
            stg_bills.c.bill_date,
        )
        .select_from(stg_charges.join(stg_bills, stg_charges.c.bill_id == stg_bills.c.bill_id))
        .where(
            stg_bills.c.is_reversed == sa.false(),
            stg_bills.c.bill_date >= billed_from.isoformat(),
            stg_bills.c.bill_date <= last.isoformat(),
            sa.or_(stg_bills.c.bill_date >= first.isoformat(), stg_charges.c.end_date >= first.isoformat()),
        )
        .order_by(stg_charges.c.charge_id)
    )
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def invoiced_totals(engine: Engine, first: date, last: date) -> dict[str, int]:
    """Σ tax-excluded charge amounts per charge kind on the bills dated ``first``..``last``, plus
    ``"_bills"``: Σ bill invoice amounts minus Σ charge taxes (the bills' own totals)."""
    in_range = [
        stg_bills.c.is_reversed == sa.false(),
        stg_bills.c.bill_date >= first.isoformat(),
        stg_bills.c.bill_date <= last.isoformat(),
    ]
    join = stg_charges.join(stg_bills, stg_charges.c.bill_id == stg_bills.c.bill_id)
    by_kind = (
        sa.select(stg_charges.c.charge_kind, sa.func.sum(stg_charges.c.product_amount_cents))
        .select_from(join)
        .where(*in_range)
        .group_by(stg_charges.c.charge_kind)
    )
    bills_total = sa.select(sa.func.sum(stg_bills.c.invoice_amount_cents)).where(*in_range)
    taxes = sa.select(sa.func.sum(stg_charges.c.tax_amount_cents)).select_from(join).where(*in_range)
    with engine.connect() as conn:
        out = {str(kind): int(total or 0) for kind, total in conn.execute(by_kind)}
        out["_bills"] = int(conn.execute(bills_total).scalar() or 0) - int(conn.execute(taxes).scalar() or 0)
    return out
