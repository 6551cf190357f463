"""StagingStore (SQLite + PostgreSQL): upsert counts, exact cents, quarantine, payloads, cursors."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.store import StagingStore, UpsertCounts


@pytest.fixture
def store(engine: sa.Engine) -> StagingStore:
    return StagingStore(engine)


def _bill(bill_id: int, cents: int, day: str = "2026-01-15", h: str = "h") -> dict[str, Any]:
    return {
        "bill_id": bill_id,
        "customer_id": 1,
        "bill_date": day,
        "invoice_amount_cents": cents,
        "amount_due_cents": cents,
        "is_reversed": False,
        "partition_key": day,
        "record_hash": f"{h}{bill_id}",
        "raw_json": "{}",
    }


def test_upsert_counts_inserted_updated_unchanged(store: StagingStore) -> None:
    rows = [_bill(i, 1000 + i) for i in range(1, 6)]
    assert store.upsert("stg_bills", rows) == UpsertCounts(inserted=5, updated=0, unchanged=0)
    again = [*rows[:3], _bill(4, 9999, h="new"), _bill(5, 1, h="new"), _bill(6, 600)]
    assert store.upsert("stg_bills", again) == UpsertCounts(inserted=1, updated=2, unchanged=3)
    assert store.rows("stg_bills", bill_id=4)[0]["invoice_amount_cents"] == 9999
    assert len(store.rows("stg_bills")) == 6
    assert store.upsert("stg_bills", []) == UpsertCounts()


def test_upsert_in_chunks_and_duplicate_keys(store: StagingStore) -> None:
    rows = [_bill(i, i) for i in range(1, 1203)]
    counts = store.upsert("stg_bills", [*rows, _bill(1, 77, h="dup")])  # last duplicate wins
    assert counts.inserted == 1202 and counts.total == 1202
    assert store.rows("stg_bills", bill_id=1)[0]["invoice_amount_cents"] == 77
    assert len(store.rows_in("stg_bills", "bill_id", range(1, 1203))) == 1202


def test_upsert_rejects_unknown_columns(store: StagingStore) -> None:
    with pytest.raises(ValueError, match="no column"):
        store.upsert("stg_bills", [{**_bill(1, 1), "bogus": 1}])
    with pytest.raises(ValueError, match="unknown staging table"):
        store.upsert("nope", [])


def test_frame_keeps_exact_cents_and_bools(store: StagingStore) -> None:
    big = 2**53 + 1  # not representable as a float: must stay an exact int
    store.upsert("stg_bills", [_bill(1, big), _bill(2, -1), {**_bill(3, 5), "is_reversed": True}])
    df = store.frame("stg_bills")
    assert str(df["invoice_amount_cents"].dtype) == "int64"
    assert df["invoice_amount_cents"].tolist() == [big, -1, 5]
    assert df["is_reversed"].dtype == bool and df["is_reversed"].tolist() == [False, False, True]
    assert str(df["credit_memo_amount_cents"].dtype) == "Int64"  # all NULL: nullable int, never float
    assert str(df["updated_at"].dtype) == "datetime64[ns, UTC]"
    assert store.frame("stg_bills", bill_id=2)["amount_due_cents"].tolist() == [-1]
    empty = store.frame("stg_bills", bill_id=99)
    assert empty.empty and str(empty["invoice_amount_cents"].dtype) == "int64"


def test_delete_partition(store: StagingStore) -> None:
    store.upsert(
        "stg_bills", [_bill(1, 1, "2026-01-01"), _bill(2, 2, "2026-01-02"), _bill(3, 3, "2026-01-02")]
    )
    assert store.delete_partition("stg_bills", "2026-01-02") == 2
    assert [r["bill_id"] for r in store.rows("stg_bills")] == [1]


def test_quarantine_round_trip(store: StagingStore) -> None:
    store.quarantine("bills", 42, "amount has fractions of a cent", {"bill_id": 42}, "2026-01-03")
    store.quarantine("customers", "7", "no name", "{}")
    first = store.quarantined("bills")[0]
    store.quarantine("bills", 42, "still bad", '{"bill_id": 42}', "2026-01-03")
    (again,) = store.quarantined("bills")
    assert again["record_id"] == "42" and again["reason"] == "still bad"
    assert again["first_seen"] == first["first_seen"] and again["last_seen"] >= first["last_seen"]
    assert again["first_seen"].tzinfo is not None
    assert len(store.quarantined()) == 2
    assert store.clear_quarantine("bills", 42) is True
    assert store.clear_quarantine("bills", 42) is False
    assert [q["resource"] for q in store.quarantined()] == ["customers"]
    for i in range(50):
        store.quarantine("charges", i, "bad")
    assert store.clear_quarantine_many("charges", [*range(49), 5000]) == 49
    assert [q["record_id"] for q in store.quarantined("charges")] == ["49"]
    # a resource with nothing quarantined clears nothing, and leaves the others' records alone
    assert store.clear_quarantine_many("bills", ["7", "49"]) == 0
    assert store.clear_quarantine_many("charges", []) == 0
    assert {(q["resource"], q["record_id"]) for q in store.quarantined()} == {
        ("customers", "7"),
        ("charges", "49"),
    }


def test_payloads_and_cursors(store: StagingStore) -> None:
    def payload(sid: str, day: str, h: str) -> dict[str, Any]:
        return {
            "source_type": "bill",
            "source_id": sid,
            "qbo_entity": "Invoice",
            "partition_key": day,
            "business_key": f"RV{sid}",
            "payload_json": '{"TotalAmt": 10.00}',
            "payload_hash": h,
        }

    assert store.save_payloads([payload("1", "2026-01-01", "a"), payload("2", "2026-01-02", "b")]) == 2
    store.save_payloads([payload("2", "2026-01-02", "c")])
    assert [p["payload_hash"] for p in store.payloads("bill")] == ["a", "c"]
    assert [p["source_id"] for p in store.payloads("bill", ["2026-01-02"])] == ["2"]
    assert store.payloads("customer") == []
    assert store.get_cursor("bills") is None
    store.set_cursor("bills", "2026-01-01T00:00:00Z")
    store.set_cursor("bills", "2026-01-02T00:00:00Z")
    assert store.get_cursor("bills") == "2026-01-02T00:00:00Z"
