"""Collection state of a Rev.io account and the QBO customer note that shows it (pure, no I/O).

Rev.io has no "current collection step" field (revio-api.md section 7), so the state is derived:

========== ==================================================================================
CLOSED      ``status == CLOSED``
COLLECTIONS the dunning-step custom field names a collections step (config ``collections_steps``), or
            the account has been suspended for ``collections_after_suspended_days`` days (if set)
SUSPENDED   ``suspended`` is true
DUNNING     ``finance.amount_overdue > 0`` or a (non-collections) dunning step is set; the step is
            the custom field ``collection_step_field`` when present
CURRENT     everything else (OPEN / PENDING / PROSPECT with nothing overdue)
========== ==================================================================================

Only transitions matter: a change of state, or of the dunning step within DUNNING. The overdue amount
shown in the note is the one at the transition (an overdue amount that merely grows is not a transition).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from revqb_pipeline.mapping.config import DunningConfig
from revqb_pipeline.models.revio import RevioCustomer, parse_revio_datetime
from revqb_pipeline.money import cents_to_dollars, to_cents

NOTES_MAX = 2000
STATUS_TEXT_MAX = 300


class CollectionState(StrEnum):
    CURRENT = "CURRENT"
    DUNNING = "DUNNING"
    SUSPENDED = "SUSPENDED"
    COLLECTIONS = "COLLECTIONS"
    CLOSED = "CLOSED"


DELINQUENT = frozenset({CollectionState.DUNNING, CollectionState.SUSPENDED, CollectionState.COLLECTIONS})


@dataclass(frozen=True)
class AccountFacts:
    """What the state is derived from, read from a raw Rev.io customer or a ``stg_customers`` row."""

    customer_id: str
    display_name: str
    status: str
    suspended: bool
    suspended_date: date | None
    close_date: date | None
    overdue_cents: int
    step: str | None
    updated_date: date | None = None


@dataclass(frozen=True)
class StatusSnapshot:
    """A recorded collection state: ``since`` is the day it started, ``seq`` counts transitions."""

    state: CollectionState
    step: str | None = None
    since: date | None = None
    overdue_cents: int = 0
    seq: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.state.value, (self.step or "").casefold())


@dataclass(frozen=True)
class Transition:
    """A change of collection state of one account (``before`` None: first time seen)."""

    customer_id: str
    display_name: str
    before: StatusSnapshot | None
    after: StatusSnapshot

    @property
    def kind(self) -> str:
        """``RECOVERED`` (delinquent -> current), ``REOPENED`` (closed -> open) or the new state."""
        before = self.before.state if self.before else None
        if self.after.state == CollectionState.CURRENT and before in DELINQUENT:
            return "RECOVERED"
        if before == CollectionState.CLOSED and self.after.state != CollectionState.CLOSED:
            return "REOPENED"
        return self.after.state.value

    @property
    def alert_key(self) -> str:
        """Stable de-duplication key: one alert per transition, ever."""
        return f"dunning:{self.customer_id}:{self.after.seq}"

    def describe(self) -> str:
        """One line for an alert: ``Acme (12): DUNNING -> SUSPENDED since 2026-03-02 (overdue $1,234.56)``."""
        was = describe_state(self.before) if self.before else "new"
        now = status_text(self.after)
        return f"{self.display_name} (Rev.io {self.customer_id}): {self.kind}: {was} -> {now}"


# ----- reading the account ---------------------------------------------------------------------------


def _day(value: Any) -> date | None:
    try:
        parsed = parse_revio_datetime(value)
    except ValueError:
        return None
    return parsed.date() if parsed else None


def _custom_field(fields: Any, label: str) -> str | None:
    if isinstance(fields, Mapping):
        fields = [fields]
    for item in fields or []:
        if isinstance(item, Mapping) and str(item.get("label") or "").strip().casefold() == label.casefold():
            value = str(item.get("value") or "").strip()
            return value or None
    return None


def account_facts(record: Mapping[str, Any], cfg: DunningConfig) -> AccountFacts:
    """Facts of a raw Rev.io customer (``finance``, ``fields``) or of a ``stg_customers`` row
    (``amount_overdue_cents``; the step then comes from ``raw_json`` when present)."""
    if "amount_overdue_cents" in record:
        raw: Mapping[str, Any] = {}
        if record.get("raw_json"):
            raw = json.loads(record["raw_json"])
        return AccountFacts(
            customer_id=str(record["customer_id"]),
            display_name=str(record.get("display_name") or f"Rev.io customer {record['customer_id']}"),
            status=str(record.get("status") or "").upper(),
            suspended=bool(record.get("suspended")),
            suspended_date=_day(record.get("suspended_date")),
            close_date=_day(raw.get("close_date")),
            overdue_cents=int(record.get("amount_overdue_cents") or 0),
            step=_custom_field(raw.get("fields"), cfg.collection_step_field),
            updated_date=_day(record.get("updated_date")),
        )
    cust = RevioCustomer.model_validate(record)
    overdue = cust.finance.amount_overdue if cust.finance else None
    return AccountFacts(
        customer_id=str(cust.customer_id),
        display_name=cust.display_name(),
        status=(cust.status or "").strip().upper(),
        suspended=bool(cust.suspended),
        suspended_date=cust.suspended_date.date() if cust.suspended_date else None,
        close_date=cust.close_date.date() if cust.close_date else None,
        overdue_cents=to_cents(overdue) if overdue is not None else 0,
        step=_custom_field(record.get("fields"), cfg.collection_step_field),
        updated_date=cust.updated_date.date() if cust.updated_date else None,
    )


# ----- state and transitions -------------------------------------------------------------------------


def derive_state(facts: AccountFacts, cfg: DunningConfig, as_of: date) -> tuple[CollectionState, str | None]:
    """The collection state and dunning step (DUNNING only) of an account on ``as_of``."""
    step = facts.step
    collections_steps = {s.strip().casefold() for s in cfg.collections_steps}
    if facts.status == "CLOSED":
        return CollectionState.CLOSED, None
    if step and step.casefold() in collections_steps:
        return CollectionState.COLLECTIONS, None
    if facts.suspended:
        days = cfg.collections_after_suspended_days
        if days is not None and facts.suspended_date and (as_of - facts.suspended_date).days >= days:
            return CollectionState.COLLECTIONS, None
        return CollectionState.SUSPENDED, None
    if facts.overdue_cents > 0 or step:
        return CollectionState.DUNNING, step
    return CollectionState.CURRENT, None


def detect_transition(
    previous: StatusSnapshot | None, facts: AccountFacts, cfg: DunningConfig, as_of: date
) -> tuple[StatusSnapshot, Transition | None]:
    """The snapshot to record and the transition, if any.

    A first sighting of a CURRENT account is a silent baseline (seq 0); a first sighting in any other state
    is a transition from nothing (the note must show it). ``since`` is the suspension / close date for
    SUSPENDED / CLOSED, else the record's ``updated_date`` (the change that caused the transition), else
    ``as_of``.
    """
    state, step = derive_state(facts, cfg, as_of)
    if previous is not None and previous.key == (state.value, (step or "").casefold()):
        return previous, None
    if previous is None and state == CollectionState.CURRENT:
        return StatusSnapshot(CollectionState.CURRENT, since=as_of), None
    since = facts.updated_date if facts.updated_date and facts.updated_date <= as_of else as_of
    if state == CollectionState.SUSPENDED and facts.suspended_date:
        since = facts.suspended_date
    elif state == CollectionState.CLOSED and facts.close_date:
        since = facts.close_date
    after = StatusSnapshot(
        state=state,
        step=step,
        since=since,
        overdue_cents=max(facts.overdue_cents, 0),
        seq=(previous.seq if previous else 0) + 1,
    )
    return after, Transition(facts.customer_id, facts.display_name, previous, after)


# ----- the QBO note -----------------------------------------------------------------------------------


def describe_state(snapshot: StatusSnapshot) -> str:
    """``DUNNING (Final Notice)`` / ``SUSPENDED``."""
    return f"{snapshot.state.value} ({snapshot.step})" if snapshot.step else snapshot.state.value


def status_text(snapshot: StatusSnapshot) -> str:
    """``SUSPENDED since 2026-03-02 (overdue $1,234.56)``."""
    text = describe_state(snapshot)
    if snapshot.since:
        text += f" since {snapshot.since.isoformat()}"
    if snapshot.overdue_cents > 0:
        text += f" (overdue {cents_to_dollars(snapshot.overdue_cents)})"
    return " ".join(text.split())[:STATUS_TEXT_MAX]


def status_line(snapshot: StatusSnapshot, cfg: DunningConfig) -> str | None:
    """The Notes line for a snapshot; None when the line should be removed (CURRENT, by default)."""
    if snapshot.state == CollectionState.CURRENT and cfg.clear_line_on_recovery:
        return None
    return f"{cfg.status_line_prefix} {status_text(snapshot)}"


def replace_status_line(
    notes: str | None, line: str | None, prefix: str, marker_prefix: str = "revio:account:"
) -> str:
    """``notes`` with every line starting with ``prefix`` removed and ``line`` (if any) put right after the
    account marker line (else first). Other lines are kept; over 2000 characters, lines that are not
    ``revio:`` lines are dropped from the end, then the text is cut."""
    lines = [
        ln for ln in (notes or "").replace("\r\n", "\n").split("\n") if not ln.strip().startswith(prefix)
    ]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if line:
        at = next((i + 1 for i, ln in enumerate(lines) if ln.strip().startswith(marker_prefix)), 0)
        lines.insert(at, line)
    text = "\n".join(lines)
    while len(text) > NOTES_MAX:
        drop = next(
            (i for i in range(len(lines) - 1, -1, -1) if not lines[i].strip().startswith("revio:")), None
        )
        if drop is None:
            return text[:NOTES_MAX].rstrip()
        del lines[drop]
        text = "\n".join(lines)
    return text


def desired_active(snapshot: StatusSnapshot, facts_status: str, cfg: DunningConfig) -> bool | None:
    """QBO ``Active`` for this state, or None when the config never touches it."""
    if not cfg.inactive_states and not cfg.inactive_statuses:
        return None
    inactive = snapshot.state.value in cfg.inactive_states or facts_status.upper() in cfg.inactive_statuses
    return not inactive


def customer_status_update(
    existing: Mapping[str, Any],
    line: str | None,
    cfg: DunningConfig,
    active: bool | None = None,
    marker_prefix: str = "revio:account:",
) -> dict[str, Any] | None:
    """A sparse Customer update (Id, current SyncToken) setting the status line (and ``Active`` when
    given), or None when QBO already shows it."""
    have = (existing.get("Notes") or "").replace("\r\n", "\n")
    notes = replace_status_line(have, line, cfg.status_line_prefix, marker_prefix)
    changes: dict[str, Any] = {}
    if notes != have:
        changes["Notes"] = notes
    if active is not None and bool(existing.get("Active", True)) != active:
        changes["Active"] = active
    if not changes:
        return None
    return {
        "Id": str(existing["Id"]),
        "SyncToken": str(existing.get("SyncToken", "0")),
        "sparse": True,
        **changes,
    }
