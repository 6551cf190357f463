"""The ledger's drift additions (issue 14) on SQLite and PostgreSQL: rows by QBO id, and marking synced rows
to post again (restore) without touching their status, id or SyncToken."""

from __future__ import annotations

from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus


def test_find_by_qbo_ids_and_mark_drifted(db_url: str) -> None:
    engine = make_engine(db_url)
    create_schema(engine)
    ledger = Ledger(engine)
    ledger.mark_synced("bill", "1", qbo_id="10", sync_token="2", payload_hash="h1", qbo_entity="Invoice")
    ledger.mark_synced("bill", "2", qbo_id="11", sync_token="0", payload_hash="h2", qbo_entity="Invoice")
    ledger.mark_synced("payment", "5", qbo_id="10", sync_token="0", payload_hash="h3", qbo_entity="Payment")
    ledger.quarantine("bill", "3", reason="bad", qbo_entity="Invoice")
    found = ledger.find_by_qbo_ids("Invoice", ["10", "11", "99"])
    assert {k: [r.source_id for r in v] for k, v in found.items()} == {"10": ["1"], "11": ["2"]}

    assert ledger.mark_drifted("bill", ["1", "3", "404"], detail="QBO drift: re-post") == 1
    row = ledger.get("bill", "1")
    assert row is not None and row.payload_hash is None
    assert (row.status, row.qbo_id, row.sync_token) == (LedgerStatus.SYNCED, "10", "2")
    assert ledger.get("bill", "2").payload_hash == "h2"  # type: ignore[union-attr]
    assert ledger.get("bill", "3").status == LedgerStatus.QUARANTINED  # type: ignore[union-attr]
    event = ledger.events("bill", "1", limit=1)[0]
    assert (event.action, event.detail) == ("drift", "QBO drift: re-post")
