"""Pure collection-state derivation, transitions and the QBO note line (entities/dunning/mapping.py)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from revqb_pipeline.entities.dunning.mapping import (
    CollectionState,
    StatusSnapshot,
    account_facts,
    customer_status_update,
    derive_state,
    desired_active,
    detect_transition,
    replace_status_line,
    status_line,
)
from revqb_pipeline.mapping.config import DunningConfig
from revqb_pipeline.money import cents_to_dollars

CFG = DunningConfig()
DAY = date(2026, 3, 10)


def raw(
    status: str = "OPEN",
    overdue: str = "0.00",
    suspended: bool = False,
    suspended_date: str | None = None,
    step: str = "",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "customer_id": 12,
        "status": status,
        "suspended": suspended,
        "suspended_date": suspended_date,
        "close_date": extra.get("close_date"),
        "billing_address": {"company_name": "Acme Telecom LLC"},
        "finance": {"amount_overdue": Decimal(overdue)},
        "fields": [{"field_id": 102, "label": "Collection Step", "value": step}],
    }


def state_of(record: dict[str, Any], cfg: DunningConfig = CFG) -> tuple[CollectionState, str | None]:
    return derive_state(account_facts(record, cfg), cfg, DAY)


def test_states_from_raw_customer() -> None:
    assert state_of(raw()) == (CollectionState.CURRENT, None)
    assert state_of(raw(overdue="10.00")) == (CollectionState.DUNNING, None)
    assert state_of(raw(overdue="10.00", step="Final Notice")) == (CollectionState.DUNNING, "Final Notice")
    assert (
        state_of(raw(overdue="10.00", suspended=True, step="2-Way Suspend"))[0] == CollectionState.SUSPENDED
    )
    assert state_of(raw(suspended=True, step="Collections Agency"))[0] == CollectionState.COLLECTIONS
    assert state_of(raw(status="CLOSED", overdue="5.00", step="Written Off"))[0] == CollectionState.CLOSED


def test_collections_after_suspended_days_is_configurable() -> None:
    record = raw(suspended=True, suspended_date="2026-02-01T10:00:00")
    assert state_of(record)[0] == CollectionState.SUSPENDED
    cfg = DunningConfig(collections_after_suspended_days=30)
    assert state_of(record, cfg)[0] == CollectionState.COLLECTIONS
    assert state_of(raw(suspended=True, suspended_date="2026-03-01"), cfg)[0] == CollectionState.SUSPENDED


def test_staged_row_is_read_too() -> None:
    row = {
        "customer_id": 7,
        "display_name": "Beta",
        "status": "OPEN",
        "suspended": True,
        "suspended_date": "2026-03-02T00:00:00",
        "amount_overdue_cents": 123456,
        "raw_json": json.dumps({"fields": [{"label": "collection step", "value": "2-Way Suspend"}]}),
    }
    facts = account_facts(row, CFG)
    assert facts.overdue_cents == 123456 and facts.step == "2-Way Suspend"
    assert derive_state(facts, CFG, DAY) == (CollectionState.SUSPENDED, None)


def test_only_transitions_count() -> None:
    facts = account_facts(raw(), CFG)
    base, tr = detect_transition(None, facts, CFG, DAY)
    assert tr is None and base.seq == 0  # first sighting, current: silent baseline

    dun, tr = detect_transition(base, account_facts(raw(overdue="50.00"), CFG), CFG, DAY)
    assert tr is not None and tr.kind == "DUNNING" and dun.seq == 1 and dun.overdue_cents == 5000
    # the overdue amount grows: not a transition
    same, tr = detect_transition(dun, account_facts(raw(overdue="80.00"), CFG), CFG, date(2026, 3, 11))
    assert tr is None and same == dun
    # step change inside DUNNING is one
    step, tr = detect_transition(dun, account_facts(raw(overdue="80.00", step="Final Notice"), CFG), CFG, DAY)
    assert tr is not None and step.step == "Final Notice" and step.seq == 2

    susp_raw = raw(
        overdue="1234.56", suspended=True, suspended_date="2026-03-02T08:00:00", step="2-Way Suspend"
    )
    susp, tr = detect_transition(step, account_facts(susp_raw, CFG), CFG, DAY)
    assert tr is not None and tr.kind == "SUSPENDED" and susp.since == date(2026, 3, 2)
    assert tr.alert_key == "dunning:12:3"
    assert "DUNNING (Final Notice) -> SUSPENDED since 2026-03-02 (overdue $1,234.56)" in tr.describe()

    back, tr = detect_transition(susp, account_facts(raw(), CFG), CFG, DAY)
    assert tr is not None and tr.kind == "RECOVERED" and back.state == CollectionState.CURRENT

    closed, tr = detect_transition(back, account_facts(raw(status="CLOSED"), CFG), CFG, DAY)
    assert tr is not None and tr.kind == "CLOSED"
    _, tr = detect_transition(closed, account_facts(raw(), CFG), CFG, DAY)
    assert tr is not None and tr.kind == "REOPENED"


def test_first_sighting_in_dunning_is_a_transition() -> None:
    snap, tr = detect_transition(None, account_facts(raw(overdue="1.00"), CFG), CFG, DAY)
    assert tr is not None and tr.before is None and snap.seq == 1


def test_status_line_and_money() -> None:
    snap = StatusSnapshot(CollectionState.SUSPENDED, since=date(2026, 3, 2), overdue_cents=123456, seq=3)
    assert status_line(snap, CFG) == "revio:status: SUSPENDED since 2026-03-02 (overdue $1,234.56)"
    assert status_line(StatusSnapshot(CollectionState.CURRENT, seq=4), CFG) is None
    keep = DunningConfig(clear_line_on_recovery=False)
    assert status_line(StatusSnapshot(CollectionState.CURRENT, since=DAY, seq=4), keep) == (
        "revio:status: CURRENT since 2026-03-10"
    )
    assert cents_to_dollars(5) == "$0.05" and cents_to_dollars(-100000) == "-$1,000.00"


def test_replace_status_line_keeps_other_notes() -> None:
    notes = "revio:account:555\r\nCall before 5pm\nrevio:status: DUNNING since 2026-01-01"
    out = replace_status_line(notes, "revio:status: SUSPENDED since 2026-03-02", "revio:status:")
    assert out == "revio:account:555\nrevio:status: SUSPENDED since 2026-03-02\nCall before 5pm"
    assert replace_status_line(out, None, "revio:status:") == "revio:account:555\nCall before 5pm"
    assert replace_status_line(None, "revio:status: X", "revio:status:") == "revio:status: X"


def test_notes_stay_within_2000_characters() -> None:
    notes = "revio:account:1\n" + "\n".join("x" * 99 for _ in range(25))
    out = replace_status_line(notes, "revio:status: COLLECTIONS since 2026-03-02", "revio:status:")
    assert len(out) <= 2000
    assert out.startswith("revio:account:1\nrevio:status: COLLECTIONS since 2026-03-02\n")


def test_sparse_update_body() -> None:
    existing = {"Id": "42", "SyncToken": "3", "Notes": "revio:account:555", "Active": True}
    body = customer_status_update(existing, "revio:status: DUNNING since 2026-03-10", CFG)
    assert body == {
        "Id": "42",
        "SyncToken": "3",
        "sparse": True,
        "Notes": "revio:account:555\nrevio:status: DUNNING since 2026-03-10",
    }
    assert (
        customer_status_update({**existing, "Notes": body["Notes"]}, body["Notes"].split("\n")[1], CFG)
        is None
    )
    assert customer_status_update(existing, None, CFG) is None


def test_active_flag_only_when_configured() -> None:
    snap = StatusSnapshot(CollectionState.COLLECTIONS, seq=1)
    assert desired_active(snap, "OPEN", CFG) is None
    cfg = DunningConfig(inactive_states=["collections"], inactive_statuses=["closed"])
    assert desired_active(snap, "OPEN", cfg) is False
    assert desired_active(StatusSnapshot(CollectionState.CURRENT, seq=2), "OPEN", cfg) is True
    assert desired_active(StatusSnapshot(CollectionState.CLOSED, seq=2), "CLOSED", cfg) is False
    body = customer_status_update(
        {"Id": "1", "SyncToken": "0", "Active": True}, "revio:status: X", cfg, False
    )
    assert body is not None and body["Active"] is False
