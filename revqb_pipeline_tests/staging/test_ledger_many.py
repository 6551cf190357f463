"""Set-based ledger writes (SQLite + PostgreSQL): ``mark_synced_many``, ``mark_failed_many``, ``park_many``
and ``record_outcomes`` leave the same rows and events as the per-record methods, in one transaction."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.ledger import (
    Failed,
    Intent,
    Ledger,
    LedgerError,
    LedgerStatus,
    Parked,
    Synced,
)
from revqb_pipeline_tests._engine_watch import EngineWatch


@pytest.fixture
def ledger(engine: sa.Engine) -> Ledger:
    return Ledger(engine)


def _seed(ledger: Ledger, source_type: str) -> None:
    """The same starting state under ``source_type``: two in flight, one synced, one quarantined."""
    ledger.record_intents(
        [Intent(source_type, sid, "Invoice", f"h{sid}", f"RV{sid}", "2026-01-01", f"r{sid}") for sid in "12"]
    )
    ledger.mark_synced(source_type, "3", qbo_id="30", sync_token=1, payload_hash="h3", business_key="RV3")
    ledger.quarantine(source_type, "4", reason="bad", qbo_entity="Invoice", business_key="RV4")


def _state(ledger: Ledger, source_type: str) -> tuple[list[dict[str, Any]], list[tuple[Any, ...]]]:
    """Rows and events of ``source_type`` without timestamps, ids or the source type itself."""
    rows = [
        {
            k: v
            for k, v in asdict(r).items()
            if k not in ("created_at", "updated_at", "source_type", "request_id")
        }
        for r in ledger.rows(source_type=source_type)
    ]
    events = [
        (e.source_id, e.status, e.action, e.detail, e.error_code)
        for e in reversed(ledger.events(source_type))
    ]
    return rows, events


def test_many_versions_match_the_per_record_methods(ledger: Ledger, engine: sa.Engine) -> None:
    _seed(ledger, "one")
    _seed(ledger, "many")

    ledger.mark_synced("one", "1", qbo_id=145, sync_token=0, payload_hash="h1", action="created")
    ledger.mark_synced(
        "one",
        "2",
        qbo_id="146",
        sync_token="2",
        detail="linked Invoice 146",
        action="linked",
        qbo_entity="Invoice",
    )
    ledger.mark_synced("one", "3", qbo_id="30", sync_token=2)  # no hash, no identity: both kept
    ledger.mark_synced(
        "one", "5", qbo_id="50", sync_token=0, qbo_entity="Invoice", business_key="RV5"
    )  # new row
    ledger.mark_failed("one", "4", code="610", error="inactive item", transient=False)
    ledger.mark_waiting("one", "6", reason="waiting for customer 9", qbo_entity="Invoice", partition_key="p")
    ledger.quarantine("one", "7", reason="no item", code="X1", qbo_entity="Invoice")

    commits = EngineWatch(engine)
    rows = ledger.record_outcomes(
        [
            Synced("many", "1", "145", "0", payload_hash="h1", action="created"),
            Synced(
                "many", "2", "146", "2", detail="linked Invoice 146", action="linked", qbo_entity="Invoice"
            ),
            Synced("many", "3", "30", "2"),
            Synced("many", "5", "50", "0", qbo_entity="Invoice", business_key="RV5"),
            Failed("many", "4", "610", "inactive item", transient=False),
            Parked("many", "6", LedgerStatus.WAITING, "waiting for customer 9", None, "Invoice", "p"),
            Parked("many", "7", LedgerStatus.QUARANTINED, "no item", "X1", "Invoice"),
        ]
    )
    assert commits.commits == 1
    assert [r.source_id for r in rows] == ["1", "2", "3", "5", "4", "6", "7"]
    assert _state(ledger, "many") == _state(ledger, "one")
    row3 = ledger.get("many", "3")
    assert row3 is not None and (row3.payload_hash, row3.business_key, row3.sync_token) == ("h3", "RV3", "2")
    events = ledger.events("many", "1", limit=1)
    assert events[0].detail == "created Invoice 145 (SyncToken 0)" and events[0].status == "synced"


def test_mark_synced_many_and_mark_failed_many_in_one_commit_each(ledger: Ledger, engine: sa.Engine) -> None:
    n = 1200  # more than one executemany chunk
    ledger.record_intents(
        [Intent("bill", str(i), "Invoice", f"h{i}", f"RV{i}", "2026-01-01", f"r{i}") for i in range(n)]
    )
    commits = EngineWatch(engine)
    synced = ledger.mark_synced_many(
        [Synced("bill", str(i), str(1000 + i), "0", payload_hash=f"h{i}") for i in range(n - 2)]
    )
    failed = ledger.mark_failed_many(
        [
            Failed("bill", str(n - 2), "500", "server error", transient=True),
            Failed("bill", str(n - 1), "6000", "business rule", transient=False),
        ]
    )
    assert commits.commits == 2
    assert len(synced) == n - 2 and {r.status for r in synced} == {LedgerStatus.SYNCED}
    assert ledger.summary() == {"bill": {"failed": 1, "quarantined": 1, "synced": n - 2}}
    assert ledger.get_many("bill", ["7"])["7"].qbo_id == "1007"
    assert [(r.status, r.last_error_code) for r in failed] == [
        (LedgerStatus.FAILED, "500"),
        (LedgerStatus.QUARANTINED, "6000"),
    ]
    assert len([e for e in ledger.events("bill") if e.action in ("created", "failed", "quarantined")]) == n


def test_a_failure_for_an_unknown_row_rolls_the_whole_call_back(ledger: Ledger) -> None:
    ledger.record_intents([Intent("bill", "1", "Invoice", "h1", "RV1", None, "r1")])
    with pytest.raises(LedgerError, match="bill 2"):
        ledger.record_outcomes(
            [Synced("bill", "1", "10", "0"), Failed("bill", "2", None, "lost", transient=True)]
        )
    row = ledger.get("bill", "1")
    assert row is not None and row.status is LedgerStatus.IN_FLIGHT and row.qbo_id is None
    assert ledger.get("bill", "2") is None
    assert [e.action for e in ledger.events("bill")] == ["intent"]


def test_a_record_given_twice_keeps_its_last_outcome(ledger: Ledger) -> None:
    ledger.record_intents([Intent("bill", "1", "Invoice", "h1", "RV1", None, "r1")])
    rows = ledger.record_outcomes(
        [
            Failed("bill", "1", "500", "flaky", transient=True),
            Synced("bill", "1", "10", "0", action="created"),
        ]
    )
    assert [(r.source_id, r.status, r.qbo_id) for r in rows] == [("1", LedgerStatus.SYNCED, "10")]
    assert ledger.record_outcomes([]) == []
