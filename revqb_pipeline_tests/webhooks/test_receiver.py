"""The webhook receiver over HTTP: the shared secret, idempotent storage, the confirmation handshake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.events import EventStore
from revqb_pipeline.webhooks import DEFAULT_EVENT_RESOURCES, Receiver, start_receiver

SECRET = "s3cret-token"


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    engine = make_engine(f"sqlite:///{tmp_path / 'events.db'}")
    create_schema(engine)
    return EventStore(engine)


@pytest.fixture
def receiver(store: EventStore) -> Iterator[Receiver]:
    seen: list[tuple[bytes, str | None]] = []

    def qbo_handler(body: bytes, signature: str | None) -> tuple[int, dict[str, object]]:
        seen.append((body, signature))
        return (200, {"ok": True}) if signature == "good" else (401, {"error": "bad signature"})

    rec = start_receiver(store, SECRET, DEFAULT_EVENT_RESOURCES, port=0, qbo_handler=qbo_handler)
    rec.qbo_seen = seen  # type: ignore[attr-defined]
    yield rec
    rec.stop()


def event(event_id: str = "e-1", event_type: str = "BILL_CREATED", object_id: int | None = 17) -> bytes:
    body = {"event_id": event_id, "event_type": event_type, "created_date": "2026-01-01T01:00:00"}
    if object_id is not None:
        body["object_id"] = object_id
    return json.dumps(body).encode()


def post(rec: Receiver, body: bytes, token: str | None = SECRET, **headers: str) -> httpx.Response:
    params = {"token": token} if token is not None else {}
    return httpx.post(f"{rec.base_url}/revio/events", params=params, content=body, headers=headers)


def test_unsigned_and_forged_notifications_are_rejected_and_nothing_is_stored(
    receiver: Receiver, store: EventStore
) -> None:
    assert post(receiver, event(), token=None).status_code == 401
    assert post(receiver, event(), token="guess").status_code == 401
    assert post(receiver, event(), token=None, **{"X-Revqb-Token": "guess"}).status_code == 401
    assert post(receiver, event(), token=SECRET[:-1]).status_code == 401
    assert store.counts() == {}
    assert store.pending() == []


def test_a_duplicated_or_replayed_notification_is_stored_once(receiver: Receiver, store: EventStore) -> None:
    first = post(receiver, event("e-1"))
    assert first.status_code == 202 and first.json() == {"stored": True, "event_id": "e-1"}
    again = post(receiver, event("e-1"))
    assert again.status_code == 200 and again.json()["stored"] is False
    assert (
        post(receiver, event("e-2", object_id=18), token=None, **{"X-Revqb-Token": SECRET}).status_code == 202
    )
    replay = post(receiver, event("e-1"))  # replayed later, after another event
    assert replay.json()["stored"] is False
    pending = store.pending()
    assert [(e.event_id, e.resource, e.object_id) for e in pending] == [
        ("e-1", "Bills", "17"),
        ("e-2", "Bills", "18"),
    ]
    assert store.counts() == {"new": 2}


def test_the_confirmation_request_is_echoed_only_with_the_secret(receiver: Receiver) -> None:
    ok = post(receiver, b"{}", **{"X-Hook-Secret": "abc123"})
    assert ok.status_code == 200 and ok.headers["X-Hook-Secret"] == "abc123"
    forged = post(receiver, b"{}", token="nope", **{"X-Hook-Secret": "abc123"})
    assert forged.status_code == 401 and "X-Hook-Secret" not in forged.headers


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (json.dumps({"event_type": "BILL_CREATED"}).encode(), "event_id"),
        (json.dumps({"event_id": "x"}).encode(), "event_type"),
        (json.dumps({"event_id": "x", "event_type": "BILL_CREATED", "object_id": [1]}).encode(), "object_id"),
    ],
)
def test_a_malformed_notification_is_a_400_naming_the_problem(
    receiver: Receiver, store: EventStore, body: bytes, reason: str
) -> None:
    resp = post(receiver, body)
    assert resp.status_code == 400 and reason in resp.json()["error"]
    assert store.counts() == {}


def test_an_oversized_body_is_refused(receiver: Receiver, store: EventStore) -> None:
    assert post(receiver, b" " * (65 * 1024)).status_code == 413
    assert store.counts() == {}


def test_an_event_type_revqb_does_not_sync_is_kept_as_ignored(receiver: Receiver, store: EventStore) -> None:
    assert post(receiver, event("r-1", "RATING_COMPLETED", None)).status_code == 202
    assert store.counts() == {"ignored": 1}
    [kept] = store.get(["r-1"])
    assert kept.resource is None and "RATING_COMPLETED" in (kept.note or "")


def test_qbo_notifications_go_to_the_handler_with_their_signature(receiver: Receiver) -> None:
    url = f"{receiver.base_url}/qbo/webhooks"
    assert httpx.post(url, content=b'{"a": 1}', headers={"intuit-signature": "good"}).status_code == 200
    assert httpx.post(url, content=b'{"a": 2}').status_code == 401
    assert receiver.qbo_seen == [(b'{"a": 1}', "good"), (b'{"a": 2}', None)]  # type: ignore[attr-defined]


def test_the_receiver_refuses_to_run_without_a_secret(store: EventStore) -> None:
    with pytest.raises(ValueError, match="REVQB_WEBHOOK_SECRET"):
        start_receiver(store, "", DEFAULT_EVENT_RESOURCES, port=0)
