"""QuickBooks webhooks in, framework-free: verify ``intuit-signature``, store each change durably, once.

``handle_qbo_notification(body, signature, verifier_token, store)`` is what an HTTP route calls with the
raw request body and the ``intuit-signature`` header; it returns ``(status, json_body)``. The signature is
base64(HMAC-SHA256(verifier token, raw body)), compared in constant time; an unsigned or forged request is
401 and stores nothing. Both Intuit payload formats are read: the legacy ``eventNotifications`` and the
CloudEvents list (mandatory from May 2026). Each (realm, entity, id, operation, lastUpdated) is stored once,
so a duplicated or replayed delivery stores nothing new; ``sync/drift.py`` reads them. Only the entities
revqb posts are kept (others are acknowledged and counted as ``ignored``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Protocol

from sqlalchemy.engine import Engine

from revqb_pipeline.mapping.drift import DRIFT_ENTITIES
from revqb_pipeline.staging.drift import DriftStore, Notification

MAX_BODY = 1_000_000  # Intuit sends at most ~1 MB per POST
_ENTITY_BY_LOWER = {e.lower(): e for e in DRIFT_ENTITIES}
_CLOUD_OPS = {
    "created": "Create",
    "updated": "Update",
    "deleted": "Delete",
    "voided": "Void",
    "merged": "Merge",
}


class NotificationStore(Protocol):
    def save_notifications(self, items: Sequence[Notification]) -> int: ...


def signature_of(body: bytes, verifier_token: str) -> str:
    """The ``intuit-signature`` Intuit sends for ``body``."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, signature: str | None, verifier_token: str) -> bool:
    """True when ``signature`` is the HMAC-SHA256 of ``body`` under ``verifier_token`` (constant time)."""
    if not signature or not verifier_token:
        return False
    expected = signature_of(body, verifier_token).encode()
    return hmac.compare_digest(expected, signature.strip().encode())


def parse_notifications(payload: Any) -> tuple[list[Notification], int]:
    """(notifications of the entities revqb posts, how many others were ignored) from either format."""
    found: list[Notification] = []
    ignored = 0

    def add(realm: Any, entity: Any, qbo_id: Any, operation: Any, stamp: Any) -> None:
        nonlocal ignored
        name = _ENTITY_BY_LOWER.get(str(entity or "").lower())
        if name is None or realm in (None, "") or qbo_id in (None, ""):
            ignored += 1
            return
        found.append(
            Notification(str(realm), name, str(qbo_id), str(operation or "Update"), str(stamp or ""))
        )

    if isinstance(payload, dict):
        for note in payload.get("eventNotifications") or []:
            if not isinstance(note, dict):
                continue
            change = note.get("dataChangeEvent") or {}
            for ent in change.get("entities") or [] if isinstance(change, dict) else []:
                if isinstance(ent, dict):
                    add(
                        note.get("realmId"),
                        ent.get("name"),
                        ent.get("id"),
                        ent.get("operation"),
                        ent.get("lastUpdated"),
                    )
    elif isinstance(payload, list):  # CloudEvents: type "qbo.<entity>.<operation>.v1"
        for event in payload:
            if not isinstance(event, dict):
                continue
            parts = str(event.get("type", "")).split(".")
            entity = parts[1] if len(parts) >= 3 else ""
            operation = _CLOUD_OPS.get(parts[2].lower(), parts[2]) if len(parts) >= 3 else ""
            add(
                event.get("intuitaccountid"),
                entity,
                event.get("intuitentityid"),
                operation,
                event.get("time"),
            )
    return found, ignored


def handle_qbo_notification(
    body: bytes, signature: str | None, verifier_token: str, store: NotificationStore
) -> tuple[int, dict[str, Any]]:
    """Verify and store one QBO webhook delivery; returns the HTTP status and JSON body to answer.

    401: unsigned or forged (nothing stored); 503: no verifier token configured; 413: too large;
    400: not JSON; 200: ``{"stored": new, "duplicates": already stored, "ignored": other entities}``.
    """
    if not verifier_token:
        return 503, {"error": "QBO webhook verifier token is not configured"}
    if len(body) > MAX_BODY:
        return 413, {"error": "body too large"}
    if not signature:
        return 401, {"error": "missing intuit-signature"}
    if not verify(body, signature, verifier_token):
        return 401, {"error": "invalid intuit-signature"}
    try:
        payload = json.loads(body)
    except ValueError:
        return 400, {"error": "body is not JSON"}
    found, ignored = parse_notifications(payload)
    unique = list(dict.fromkeys(found))
    stored = store.save_notifications(unique) if unique else 0
    return 200, {"stored": stored, "duplicates": len(found) - stored, "ignored": ignored}


def qbo_handler(
    engine: Engine, verifier_token: str
) -> Callable[[bytes, str | None], tuple[int, dict[str, Any]]]:
    """``(raw body, intuit-signature) -> (status, json)`` storing into ``engine``'s drift tables: what the
    webhook receiver mounts at ``POST /qbo/webhooks``."""
    return partial(handle_qbo_notification, verifier_token=verifier_token, store=DriftStore(engine))
