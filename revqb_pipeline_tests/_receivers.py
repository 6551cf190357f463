"""Local stand-ins for the alert channels: a Slack incoming webhook and an SMTP server with AUTH.

Used by the notifier, dunning, failure-queue and secrets tests (conftest exposes ``slack`` and ``smtp``).
"""

from __future__ import annotations

import threading
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from revqb_pipeline_tests._deployment import free_port
from revqb_sandbox.harness import serve_app

WEBHOOK_PATH = "/services/T0REVQB/B0ALERTS/s3cr3tWebhookToken"
SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-Pa55word-xyz"


class SlackReceiver:
    """A local stand-in for Slack's incoming webhook; records every posted ``text``."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.status = 200
        self._lock = threading.Lock()
        app = Starlette(routes=[Route(WEBHOOK_PATH, self._hook, methods=["POST"])])
        self.served = serve_app(app)
        self.url = f"{self.served.url}{WEBHOOK_PATH}"

    async def _hook(self, request: Request) -> PlainTextResponse:
        body = await request.json()
        if self.status != 200:
            return PlainTextResponse("invalid_token", status_code=self.status)
        with self._lock:
            self.messages.append(body["text"])
        return PlainTextResponse("ok")

    def stop(self) -> None:
        self.served.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpReceiver:
    """An aiosmtpd server on a free loopback port, requiring AUTH LOGIN/PLAIN with a known password."""

    def __init__(self) -> None:
        self.box = _Mailbox()
        self.port = free_port()

        def auth(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.password.decode() == SMTP_PASSWORD
            return AuthResult(success=ok)

        self.controller = Controller(
            self.box, hostname="127.0.0.1", port=self.port, authenticator=auth, auth_require_tls=False
        )
        self.controller.start()

    @property
    def messages(self) -> list[Any]:
        return self.box.messages

    def env(self) -> dict[str, str]:
        return {
            "REVQB_SMTP_HOST": "127.0.0.1",
            "REVQB_SMTP_PORT": str(self.port),
            "REVQB_SMTP_STARTTLS": "false",
            "REVQB_SMTP_USER": SMTP_USER,
            "REVQB_SMTP_PASSWORD": SMTP_PASSWORD,
            "REVQB_ALERT_EMAIL_FROM": "revqb@example.com",
            "REVQB_ALERT_EMAIL_TO": "finance@example.com, ops@example.com",
        }

    def stop(self) -> None:
        self.controller.stop()
