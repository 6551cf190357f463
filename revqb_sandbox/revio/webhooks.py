"""Webhook receivers/subscriptions and a background delivery thread.

UNCONFIRMED (Rev.io documents neither names nor payload keys): event types default to ``BILL_CREATED``,
``PAYMENT_CREATED``, ``PAYMENT_UPDATED``, ``CREDIT_CREATED``, ``CUSTOMER_UPDATED`` (configurable via
``RevioSandboxSettings.event_names``); each notification is a JSON POST
``{"event_id": "<uuid>", "event_type": "...", "created_date": "YYYY-MM-DDTHH:MM:SS", "object_id": <id>}``.
Handshake: on ``POST /v1/WebhookReceivers`` the sandbox POSTs a confirmation to the URL with an
``X-Hook-Secret`` header; echoing it in the response header activates the receiver at once, otherwise
``POST /v1/WebhookReceivers/{id}/activate`` with ``{"code": "<secret>"}`` does. One delivery attempt per
event and receiver (timeout ``webhook_timeout_s``), logged in :attr:`WebhookHub.deliveries`.
"""

from __future__ import annotations

import queue
import secrets
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from revqb_sandbox.revio.jsonenc import dumps
from revqb_sandbox.revio.state import SandboxError


class WebhookHub:
    """Receivers, subscriptions and the delivery worker."""

    def __init__(self, names: dict[str, str], now: Callable[[], str], timeout_s: float = 5.0) -> None:
        self.names = dict(names)
        self.now = now
        self.timeout_s = timeout_s
        self.lock = threading.Lock()
        self.receivers: dict[int, dict[str, Any]] = {}
        self.secrets: dict[int, str] = {}
        self.subscriptions: dict[int, dict[str, Any]] = {}
        self.deliveries: list[dict[str, Any]] = []
        self._next = {"receiver": 1, "subscription": 1}
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- receivers / subscriptions
    def add_receiver(self, url: str, description: str | None) -> tuple[dict[str, Any], str]:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SandboxError("url must be an absolute http(s) URL")
        with self.lock:
            rid = self._next["receiver"]
            self._next["receiver"] += 1
            rec = {
                "webhook_receiver_id": rid,
                "url": url,
                "description": description,
                "active": False,
                "created_date": self.now(),
                "confirmed_date": None,
            }
            self.receivers[rid] = rec
            self.secrets[rid] = secrets.token_hex(16)
            return rec, self.secrets[rid]

    async def handshake(self, rid: int) -> None:
        """POST the confirmation request; activate if the receiver echoes ``X-Hook-Secret``."""
        rec, secret = self.receivers[rid], self.secrets[rid]
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                resp = await client.post(
                    rec["url"],
                    headers={"X-Hook-Secret": secret, "Content-Type": "application/json"},
                    content=dumps({"webhook_receiver_id": rid, "confirmation": True}),
                )
        except httpx.HTTPError:
            return
        if resp.is_success and resp.headers.get("X-Hook-Secret") == secret:
            self.activate(rid, secret)

    def activate(self, rid: int, code: str | None) -> dict[str, Any]:
        with self.lock:
            rec = self.receivers.get(rid)
            if rec is None:
                raise SandboxError(f"webhook receiver {rid} does not exist", 404)
            if not code or code != self.secrets[rid]:
                raise SandboxError("invalid activation code")
            rec["active"] = True
            rec["confirmed_date"] = self.now()
            return rec

    def delete_receiver(self, rid: int) -> None:
        with self.lock:
            if self.receivers.pop(rid, None) is None:
                raise SandboxError(f"webhook receiver {rid} does not exist", 404)
            for sid in [s for s, sub in self.subscriptions.items() if sub["webhook_receiver_id"] == rid]:
                del self.subscriptions[sid]

    def add_subscription(self, receiver_id: Any, event_type: Any) -> dict[str, Any]:
        if not isinstance(receiver_id, int) or receiver_id not in self.receivers:
            raise SandboxError("webhook_receiver_id must name an existing receiver")
        if event_type not in self.names.values():
            raise SandboxError(f"unknown event_type {event_type!r}; known: {sorted(self.names.values())}")
        with self.lock:
            sid = self._next["subscription"]
            self._next["subscription"] += 1
            sub = {
                "webhook_subscription_id": sid,
                "webhook_receiver_id": receiver_id,
                "event_type": event_type,
                "created_date": self.now(),
            }
            self.subscriptions[sid] = sub
            return sub

    def delete_subscription(self, sid: int) -> None:
        with self.lock:
            if self.subscriptions.pop(sid, None) is None:
                raise SandboxError(f"webhook subscription {sid} does not exist", 404)

    # ---------------------------------------------------------------- events
    def enqueue(self, kind: str, object_id: int) -> None:
        """Queue a notification for internal event ``kind`` (e.g. ``bill_created``)."""
        event_type = self.names.get(kind)
        if event_type is None:
            return
        with self.lock:
            if not any(s["event_type"] == event_type for s in self.subscriptions.values()):
                return
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="revio-webhooks", daemon=True)
                self._thread.start()
        event = {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "created_date": self.now(),
            "object_id": object_id,
        }
        self._queue.put(event)

    def _targets(self, event_type: str) -> list[dict[str, Any]]:
        with self.lock:
            ids = sorted(
                {
                    s["webhook_receiver_id"]
                    for s in self.subscriptions.values()
                    if s["event_type"] == event_type
                }
            )
            return [self.receivers[i] for i in ids if i in self.receivers and self.receivers[i]["active"]]

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            while True:
                event = self._queue.get()
                if event is None:
                    return
                for rec in self._targets(event["event_type"]):
                    status: int | None = None
                    error: str | None = None
                    try:
                        status = client.post(
                            rec["url"], content=dumps(event), headers={"Content-Type": "application/json"}
                        ).status_code
                    except httpx.HTTPError as exc:
                        error = type(exc).__name__
                    with self.lock:
                        self.deliveries.append(
                            {
                                "receiver_id": rec["webhook_receiver_id"],
                                **event,
                                "status": status,
                                "error": error,
                            }
                        )

    def close(self) -> None:
        """Stop the worker (pending events are dropped after the current one)."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
