"""Sync ledger (SQLite + PostgreSQL): intents, request_id reuse, transitions, events, retry, two engines."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.db import make_engine
from revqb_pipeline.staging.ledger import Intent, Ledger, LedgerError, LedgerStatus


@pytest.fixture
def ledger(engine: sa.Engine) -> Ledger:
    return Ledger(engine)


def _intent(sid: str, h: str, rid: str, source_type: str = "bill") -> Intent:
    return Intent(source_type, sid, "Invoice", h, f"RV{sid}", "2026-01-15", rid)


def test_record_intents_reuses_request_id_only_for_same_payload(ledger: Ledger) -> None:
    first = ledger.record_intents([_intent("1", "h1", "r1"), _intent("2", "h2", "r2")])
    assert {k: r.request_id for k, r in first.items()} == {"1": "r1", "2": "r2"}
    assert all(r.status is LedgerStatus.IN_FLIGHT and r.attempts == 1 for r in first.values())

    retry = ledger.record_intents([_intent("1", "h1", "r1b"), _intent("2", "h2-changed", "r2b")])
    assert retry["1"].request_id == "r1"  # same logical write: same request id
    assert retry["2"].request_id == "r2b"  # payload changed: new request id
    assert retry["1"].attempts == 2 and retry["2"].payload_hash == "h2-changed"

    ledger.mark_failed("bill", "1", code="500", error="server error", transient=True)
    after_failure = ledger.record_intents([_intent("1", "h1", "r1c")])
    assert after_failure["1"].request_id == "r1c"  # not in flight any more: a new write
    intents = [e for e in ledger.events("bill", "1") if e.action == "intent"]
    assert len(intents) == 3 and "reusing request r1" in intents[1].detail
    with pytest.raises(ValueError, match="one source_type"):
        ledger.record_intents([_intent("1", "h", "r"), _intent("1", "h", "r", "credit")])
    assert ledger.record_intents([]) == {}


def test_status_transitions_write_events(ledger: Ledger) -> None:
    ledger.record_intents([_intent("1", "h1", "r1")])
    row = ledger.mark_synced("bill", 1, qbo_id=145, sync_token=0, action="created")
    assert (row.status, row.qbo_id, row.sync_token) == (LedgerStatus.SYNCED, "145", "0")
    assert ledger.find_by_qbo_id("Invoice", "145") == ledger.get("bill", "1")
    assert ledger.find_by_business_key("Invoice", "RV1")[0].source_id == "1"
    assert ledger.set_sync_token("bill", "1", sync_token=3).sync_token == "3"
    voided = ledger.mark_voided("bill", "1", detail="bill reversed in Rev.io")
    assert voided.status is LedgerStatus.VOIDED and voided.qbo_id == "145"

    ledger.record_intents([_intent("2", "h2", "r2")])
    bad = ledger.mark_failed("bill", "2", code="6000", error="business validation", transient=False)
    assert bad.status is LedgerStatus.QUARANTINED and bad.last_error_code == "6000"
    waiting = ledger.mark_waiting("payment", "9", reason="invoice 2 not synced", qbo_entity="Payment")
    assert waiting.status is LedgerStatus.WAITING and waiting.attempts == 0
    q = ledger.quarantine("customer", "5", reason="no display name", code="mapping", qbo_entity="Customer")
    assert q.status is LedgerStatus.QUARANTINED and q.last_error == "no display name"

    actions = [e.action for e in reversed(ledger.events("bill", "1"))]
    assert actions == ["intent", "created", "voided"]
    (event,) = ledger.events("bill", "2", limit=1)
    assert (event.action, event.status, event.error_code) == ("quarantined", "quarantined", "6000")
    assert event.at.tzinfo is not None and event.detail == "business validation"
    assert len(ledger.events(limit=2)) == 2
    with pytest.raises(LedgerError):
        ledger.mark_voided("bill", "404", detail="never written")
    assert ledger.get("bill", "404") is None


def test_mark_synced_links_a_record_without_prior_intent(ledger: Ledger) -> None:
    row = ledger.mark_synced(
        "customer", 8, qbo_id=58, sync_token=1, action="linked", qbo_entity="Customer", business_key="a@b.c"
    )
    assert (row.status, row.qbo_entity, row.attempts, row.request_id) == ("synced", "Customer", 0, None)
    (event,) = ledger.events("customer", "8")
    assert event.action == "linked" and "Customer 58" in event.detail
    ledger.mark_waiting(
        "payment", "3", reason="invoice missing", qbo_entity="Payment", partition_key="2026-01-02"
    )
    done = ledger.mark_synced("payment", "3", qbo_id=9, sync_token=0, payload_hash="ph")
    assert (done.qbo_entity, done.partition_key, done.payload_hash, done.last_error) == (
        "Payment",
        "2026-01-02",
        "ph",
        None,
    )


def test_summary_problems_and_reset_for_retry(ledger: Ledger) -> None:
    ledger.record_intents([_intent(str(i), f"h{i}", f"r{i}") for i in range(1, 5)])
    ledger.mark_synced("bill", "1", qbo_id="10", sync_token="0")
    ledger.mark_failed("bill", "2", code="429", error="throttled", transient=True)
    ledger.mark_failed("bill", "3", code="6140", error="duplicate DocNumber", transient=False)
    ledger.mark_waiting("payment", "7", reason="invoice missing", qbo_entity="Payment")
    assert ledger.summary() == {
        "bill": {"failed": 1, "in_flight": 1, "quarantined": 1, "synced": 1},
        "payment": {"waiting": 1},
    }
    assert [(p.source_type, p.source_id) for p in ledger.problems()] == [
        ("bill", "2"),
        ("bill", "3"),
        ("payment", "7"),
    ]
    assert [p.source_id for p in ledger.problems(statuses=["failed"])] == ["2"]
    assert [r.source_id for r in ledger.rows("bill", statuses=["synced", "in_flight"])] == ["1", "4"]
    assert len(ledger.rows(partition_key="2026-01-15")) == 4
    assert set(ledger.get_many("bill", ["1", 2, "99"])) == {"1", "2"}

    assert ledger.reset_for_retry("bill", "3") == 1
    assert ledger.reset_for_retry() == 1
    assert ledger.reset_for_retry() == 0
    assert ledger.get("bill", "2").status is LedgerStatus.PENDING
    assert ledger.get("payment", "7").status is LedgerStatus.WAITING
    (retry,) = ledger.events("bill", "3", limit=1)
    assert (retry.action, retry.status, retry.error_code) == ("retry", "pending", "6140")


def test_two_engines_see_each_others_writes(db_url: str, engine: sa.Engine) -> None:
    other = make_engine(db_url)  # e.g. the CLI while a Dagster run holds `engine`
    try:
        run, cli = Ledger(engine), Ledger(other)
        run.record_intents([_intent("1", "h1", "r1")])
        run.mark_failed("bill", "1", code="6000", error="bad", transient=False)
        assert cli.get("bill", "1").status is LedgerStatus.QUARANTINED
        assert cli.reset_for_retry() == 1
        again = run.record_intents([_intent("1", "h1", "r2")])
        assert again["1"].request_id == "r2" and again["1"].attempts == 2
        assert cli.get("bill", "1").status is LedgerStatus.IN_FLIGHT
    finally:
        other.dispose()


def test_concurrent_intents_from_two_engines(db_url: str, engine: sa.Engine) -> None:
    """Same-hash retries racing from two engines all end with one request id and exact attempts."""
    other = make_engine(db_url)
    try:
        ledgers = [Ledger(engine), Ledger(other)]
        ids = [str(i) for i in range(20)]

        def work(n: int) -> dict[str, str]:
            rows = ledgers[n % 2].record_intents([_intent(i, "h", f"r{n}-{i}") for i in ids])
            return {k: r.request_id for k, r in rows.items()}

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(work, range(8)))
        stored = Ledger(engine).get_many("bill", ids)
        assert all(r.attempts == 8 for r in stored.values())
        for res in results:
            assert res == {i: stored[i].request_id for i in ids}
    finally:
        other.dispose()
