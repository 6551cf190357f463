"""Register the receiver and its subscriptions with Rev.io, idempotently.

``POST /v1/WebhookReceivers`` makes Rev.io send the confirmation request to the URL at once, so the receiver
must already be listening. A receiver with the same URL that is active is reused; an inactive one (its
confirmation was missed) is deleted and registered again. Then one subscription per event type, unless it
exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.clients.revio import RevioClient


@dataclass
class Registration:
    """What :func:`register` found or made."""

    receiver_id: int
    created_receiver: bool
    subscriptions: dict[str, int] = field(default_factory=dict)
    created_subscriptions: list[str] = field(default_factory=list)


def _records(revio: RevioClient, resource: str) -> list[dict[str, Any]]:
    return list(revio.iter_records(resource))


def register(revio: RevioClient, url: str, event_types: Iterable[str]) -> Registration:
    """Make sure an active receiver at ``url`` is subscribed to each of ``event_types``."""
    receiver: dict[str, Any] | None = None
    for rec in _records(revio, "WebhookReceivers"):
        if rec.get("url") != url:
            continue
        if rec.get("active"):
            receiver = rec
        else:
            revio.request("DELETE", f"/WebhookReceivers/{rec['webhook_receiver_id']}", idempotent=True)
    created = receiver is None
    if receiver is None:
        rid = revio.create("WebhookReceivers", {"url": url, "description": "revqb webhooks serve"})
        receiver = revio.get("WebhookReceivers", rid)
        if not receiver.get("active"):
            raise RuntimeError(
                f"Rev.io did not activate webhook receiver {rid}: its confirmation request to the "
                "receiver URL was not answered (is REVQB_WEBHOOK_PUBLIC_URL reachable from Rev.io?)"
            )
    rid = int(receiver["webhook_receiver_id"])
    out = Registration(receiver_id=rid, created_receiver=created)
    existing = {
        str(s.get("event_type")): int(s["webhook_subscription_id"])
        for s in _records(revio, "WebhookSubscriptions")
        if int(s.get("webhook_receiver_id") or 0) == rid
    }
    for event_type in event_types:
        if event_type in existing:
            out.subscriptions[event_type] = existing[event_type]
            continue
        sid = revio.create("WebhookSubscriptions", {"webhook_receiver_id": rid, "event_type": event_type})
        out.subscriptions[event_type] = sid
        out.created_subscriptions.append(event_type)
    return out
