"""``entities/payments/decisions.record_rows`` in a real SQLite ledger: the rows that changed are parked in
one transaction, the ones already recorded are left alone, every row is reported."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.entities.payments.decisions import record_rows
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.writer import WriteReport
from revqb_pipeline_tests._engine_watch import EngineWatch


@pytest.fixture
def ledger(sqlite_engine: sa.Engine) -> Ledger:
    return Ledger(sqlite_engine)


def _row(sid: int, reason: str) -> dict[str, Any]:
    return {"source_id": sid, "partition_key": "2026-01-15", "payload": {"reason": reason}}


def test_record_rows_parks_changed_rows_in_one_transaction(ledger: Ledger) -> None:
    rows = [_row(i, f"invoice of bill {i} not in QBO") for i in range(1, 4)]
    commits = EngineWatch(ledger.engine)

    record_rows(ledger, WriteReport(), rows, "payment", LedgerStatus.WAITING, qbo_entity="Payment")
    assert commits.commits == 1
    stored = ledger.get_many("payment", ["1", "2", "3"])
    assert {sid: (r.status, r.last_error, r.partition_key) for sid, r in stored.items()} == {
        str(i): (LedgerStatus.WAITING, f"invoice of bill {i} not in QBO", "2026-01-15") for i in range(1, 4)
    }

    rows[1] = _row(2, "rejected: unknown method")
    report = WriteReport()
    record_rows(ledger, report, rows[1:2], "payment", LedgerStatus.QUARANTINED, qbo_entity="Payment")
    record_rows(ledger, report, [rows[0], rows[2]], "payment", LedgerStatus.WAITING, qbo_entity="Payment")
    assert commits.commits == 2  # the unchanged waiting rows write nothing
    assert dict(report.counts) == {"quarantined": 1, "waiting": 2}
    assert ledger.get("payment", "2").status is LedgerStatus.QUARANTINED  # type: ignore[union-attr]
    assert [e.action for e in ledger.events("payment", "2")] == ["quarantined", "waiting"]
    assert [e.action for e in ledger.events("payment", "1")] == ["waiting"]
