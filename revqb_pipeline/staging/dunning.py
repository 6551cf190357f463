"""The ``dunning_state`` table: the last collection state seen per Rev.io customer (``entities/dunning``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from revqb_pipeline.staging._sql import chunks, upsert_statement
from revqb_pipeline.staging.db import dunning_state, utcnow, write_begin


@dataclass(frozen=True)
class DunningStateRow:
    """One stored state (``since`` an ISO date; ``transition`` the last transition's alert text)."""

    customer_id: str
    state: str
    step: str | None
    since: str | None
    overdue_cents: int
    seq: int
    transition: str | None


def load_dunning_states(engine: Engine) -> list[DunningStateRow]:
    """Every stored state."""
    with engine.connect() as conn:
        return [
            DunningStateRow(
                customer_id=str(r.customer_id),
                state=r.state,
                step=r.step,
                since=r.since,
                overdue_cents=int(r.overdue_cents or 0),
                seq=int(r.seq or 0),
                transition=r.transition,
            )
            for r in conn.execute(sa.select(dunning_state))
        ]


def save_dunning_states(engine: Engine, values: Sequence[dict[str, Any]]) -> None:
    """Upsert rows by ``customer_id`` in one transaction; ``changed_at``/``updated_at`` default to now."""
    if not values:
        return
    now = utcnow()
    rows = [{"changed_at": now, "updated_at": now, **v} for v in values]
    with write_begin(engine) as conn:
        stmt = upsert_statement(conn.dialect.name, dunning_state, ["customer_id"])
        for chunk in chunks(rows, 200):
            conn.execute(stmt, list(chunk))


def latest_transitions(engine: Engine) -> list[tuple[str, int, str]]:
    """``(customer_id, seq, transition text)`` of every account that ever changed state, by customer id."""
    stmt = (
        sa.select(dunning_state.c.customer_id, dunning_state.c.seq, dunning_state.c.transition)
        .where(dunning_state.c.seq > 0, dunning_state.c.transition.is_not(None))
        .order_by(dunning_state.c.customer_id)
    )
    with engine.connect() as conn:
        return [(str(cid), int(seq), str(text)) for cid, seq, text in conn.execute(stmt)]
