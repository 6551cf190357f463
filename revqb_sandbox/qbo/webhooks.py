"""Best-effort webhook delivery (legacy ``eventNotifications`` format, HMAC-SHA256 signed) in a thread."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
from datetime import UTC, datetime

import httpx

log = logging.getLogger(__name__)


def sign(body: bytes, verifier_token: str) -> str:
    """``intuit-signature`` header value: base64(HMAC-SHA256(verifier token, raw body))."""
    return base64.b64encode(hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()).decode()


class WebhookEmitter:
    """Queues change events and POSTs them from one daemon thread (never blocks the API)."""

    def __init__(self, url: str | None, verifier_token: str) -> None:
        self.url = url
        self.verifier_token = verifier_token
        self._queue: queue.Queue[tuple[str, list[tuple[str, str, str]]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def emit(self, realm_id: str, events: list[tuple[str, str, str]]) -> None:
        """Queue (entity, id, operation) events of one committed request."""
        if not self.url or not events:
            return
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="qbo-webhooks", daemon=True)
            self._thread.start()
        self._queue.put((realm_id, events))

    def _run(self) -> None:
        with httpx.Client(timeout=3.0) as client:
            while True:
                realm_id, events = self._queue.get()
                stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                payload = {
                    "eventNotifications": [
                        {
                            "realmId": realm_id,
                            "dataChangeEvent": {
                                "entities": [
                                    {"name": name, "id": oid, "operation": op, "lastUpdated": stamp}
                                    for name, oid, op in events
                                ]
                            },
                        }
                    ]
                }
                body = json.dumps(payload).encode()
                headers = {
                    "content-type": "application/json",
                    "intuit-signature": sign(body, self.verifier_token),
                }
                try:
                    client.post(str(self.url), content=body, headers=headers)
                    self.delivered += 1
                except httpx.HTTPError as exc:  # best effort
                    self.failed += 1
                    log.debug("webhook delivery failed: %s", exc)
