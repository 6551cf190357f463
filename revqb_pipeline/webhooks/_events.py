"""Rev.io webhook notifications: parsing and the shared-secret check (pure, no I/O).

UNCONFIRMED (revio-api.md §8.1): Rev.io documents a notification as JSON carrying an event id, an event type,
a created date and an optional object id, but neither the key names, the event-type spellings nor any
signature. revqb reads ``event_id``, ``event_type``, ``created_date`` and ``object_id`` (the sandbox's
shape) and maps event types to the Rev.io resource to re-read through a configurable table
(``REVQB_WEBHOOK_EVENTS``). With no signature to verify, a receiver is authenticated by a shared secret that
only Rev.io knows because revqb put it in the receiver URL it registered (``?token=...``), or in an
``X-Revqb-Token`` header added by a proxy. See docs/assumptions.md.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

#: Rev.io event type -> the resource whose record the event names (re-read by id; the payload has ids only).
DEFAULT_EVENT_RESOURCES: dict[str, str] = {
    "BILL_CREATED": "Bills",
    "PAYMENT_CREATED": "Payments",
    "PAYMENT_UPDATED": "Payments",
    "CREDIT_CREATED": "Credits",
    "CUSTOMER_UPDATED": "Customers",
}
MAX_BODY_BYTES = 64 * 1024


class EventError(ValueError):
    """A notification revqb cannot read (answered 400, nothing stored)."""


@dataclass(frozen=True)
class RevioEvent:
    """One notification: which record changed, by id."""

    event_id: str
    event_type: str
    created_date: str | None
    object_id: str | None

    def resource(self, table: dict[str, str]) -> str | None:
        """The Rev.io resource to re-read, or None for an event type revqb does not sync."""
        return table.get(self.event_type)


def parse_event(body: bytes) -> RevioEvent:
    """The notification in ``body``; :class:`EventError` naming what is wrong."""
    if len(body) > MAX_BODY_BYTES:
        raise EventError(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        raise EventError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise EventError("body must be a JSON object")
    event_id, event_type = data.get("event_id"), data.get("event_type")
    if not isinstance(event_id, str | int) or not str(event_id).strip():
        raise EventError("event_id is missing")
    if not isinstance(event_type, str) or not event_type.strip():
        raise EventError("event_type is missing")
    object_id = data.get("object_id")
    if object_id is not None and not isinstance(object_id, str | int):
        raise EventError("object_id must be a string or an integer")
    created = data.get("created_date")
    return RevioEvent(
        event_id=str(event_id).strip()[:128],
        event_type=event_type.strip()[:64],
        created_date=str(created)[:32] if created is not None else None,
        object_id=str(object_id)[:64] if object_id is not None else None,
    )


def token_ok(presented: str | None, expected: str) -> bool:
    """The shared secret matches (constant time); an empty expected secret never matches."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())
