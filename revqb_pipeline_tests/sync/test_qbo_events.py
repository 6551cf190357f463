"""QBO webhooks in (issue 14): signature check, both payload formats, durable idempotent storage; and the
drift store's records (one open row per drift, superseded when the document changes again), on SQLite
and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.drift import DriftStore, NewDrift
from revqb_pipeline.sync.qbo_events import (
    handle_qbo_notification,
    parse_notifications,
    qbo_handler,
    signature_of,
    verify,
)
from revqb_sandbox.qbo.webhooks import sign

TOKEN = "verifier-token-xyz"


def _legacy(*entities: tuple[str, str, str], realm: str = "123") -> bytes:
    items = [
        {"name": n, "id": i, "operation": op, "lastUpdated": "2026-01-02T03:04:05.678Z"}
        for n, i, op in entities
    ]
    return json.dumps(
        {"eventNotifications": [{"realmId": realm, "dataChangeEvent": {"entities": items}}]}
    ).encode()


@pytest.fixture
def store(db_url: str) -> DriftStore:
    engine = make_engine(db_url)
    create_schema(engine)
    return DriftStore(engine)


def test_signature_is_intuits_hmac_and_matches_the_sandbox() -> None:
    body = _legacy(("Invoice", "7", "Void"))
    assert signature_of(body, TOKEN) == sign(body, TOKEN)
    assert verify(body, sign(body, TOKEN), TOKEN)
    assert not verify(body, sign(body, "other"), TOKEN)
    assert not verify(body + b" ", sign(body, TOKEN), TOKEN)
    assert not verify(body, None, TOKEN) and not verify(body, sign(body, TOKEN), "")


def test_unsigned_and_forged_are_rejected_with_nothing_stored(store: DriftStore) -> None:
    body = _legacy(("Invoice", "7", "Void"))
    assert handle_qbo_notification(body, None, TOKEN, store)[0] == 401
    assert handle_qbo_notification(body, "", TOKEN, store)[0] == 401
    assert handle_qbo_notification(body, sign(body, "forged"), TOKEN, store)[0] == 401
    tampered = body.replace(b'"7"', b'"8"')
    assert handle_qbo_notification(tampered, sign(body, TOKEN), TOKEN, store)[0] == 401
    assert handle_qbo_notification(body, sign(body, TOKEN), "", store)[0] == 503
    assert store.notification_count() == 0


def test_duplicated_and_replayed_deliveries_are_stored_once(store: DriftStore) -> None:
    body = _legacy(
        ("Invoice", "7", "Void"),
        ("Invoice", "7", "Void"),
        ("Payment", "9", "Update"),
        ("Bill", "1", "Create"),
    )
    status, out = handle_qbo_notification(body, sign(body, TOKEN), TOKEN, store)
    assert (status, out) == (200, {"stored": 2, "duplicates": 1, "ignored": 1})
    status, out = handle_qbo_notification(body, sign(body, TOKEN), TOKEN, store)
    assert (status, out) == (200, {"stored": 0, "duplicates": 3, "ignored": 1})
    pending = store.pending_notifications("123")
    assert [(n.entity, n.qbo_id, n.operation) for n in pending] == [
        ("Invoice", "7", "Void"),
        ("Payment", "9", "Update"),
    ]
    store.mark_processed(n.id for n in pending)
    assert store.pending_notifications("123") == [] and store.notification_count() == 2


def test_cloudevents_format_is_read_too() -> None:
    events = [
        {"type": "qbo.invoice.deleted.v1", "intuitentityid": "5", "intuitaccountid": "123", "time": "t1"},
        {"type": "qbo.customer.updated.v1", "intuitentityid": "6", "intuitaccountid": "123", "time": "t2"},
        {"type": "qbo.vendor.created.v1", "intuitentityid": "1", "intuitaccountid": "123", "time": "t3"},
    ]
    found, ignored = parse_notifications(events)
    assert [(n.entity, n.qbo_id, n.operation) for n in found] == [
        ("Invoice", "5", "Delete"),
        ("Customer", "6", "Update"),
    ]
    assert ignored == 1


def test_not_json_is_400(store: DriftStore) -> None:
    body = b"not json"
    assert handle_qbo_notification(body, sign(body, TOKEN), TOKEN, store)[0] == 400


def _drift(fingerprint: str, sid: str = "7") -> NewDrift:
    changes = [{"field": "TotalAmt", "from": "10.00", "to": "0.00"}]
    return NewDrift("bill", sid, "Invoice", "42", "voided", changes, fingerprint, "cdc")


def test_a_drift_is_recorded_once_while_open_and_superseded_by_a_new_one(store: DriftStore) -> None:
    first = store.record([_drift("a")])
    assert len(first) == 1 and store.record([_drift("a")]) == []
    second = store.record([_drift("b")])
    rows = store.drifts()
    assert [(d.fingerprint, d.resolution) for d in rows] == [("a", "superseded"), ("b", None)]
    assert store.summary() == {"Invoice": {"voided": 1}}
    store.mark_alerted([second[0].id])
    assert [d.id for d in store.drifts(unalerted=True)] == [first[0].id]
    store.resolve(second[0].id, "restored", "restored: Invoice 42")
    assert store.drifts(open_only=True) == []
    again = store.record([_drift("b")])  # the same drift after a restore is a new one
    assert len(again) == 1 and again[0].id != second[0].id
    assert store.drifts(source_ids=["7"])[-1].changes == [
        {"field": "TotalAmt", "from": "10.00", "to": "0.00"}
    ]


def test_qbo_handler_is_the_receivers_two_argument_callable(store: DriftStore) -> None:
    handler = qbo_handler(store.engine, TOKEN)
    body = _legacy(("Customer", "3", "Update"))
    assert handler(body, None)[0] == 401
    assert handler(body, sign(body, TOKEN)) == (200, {"stored": 1, "duplicates": 0, "ignored": 0})
    assert store.notification_count() == 1
