"""Notifier: Slack webhook and SMTP channels over local receivers, batching, de-duplication, redaction.

The receivers here (``SlackReceiver``, ``SmtpReceiver``) are reused by the dunning and failure tests.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from revqb_pipeline.notify import Alert, EmailChannel, Notifier, NotifySettings, SlackChannel
from revqb_pipeline.staging.db import create_schema, make_engine
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpReceiver:
    """An aiosmtpd server on a free loopback port, requiring AUTH LOGIN/PLAIN with a known password."""

    def __init__(self) -> None:
        self.box = _Mailbox()
        self.port = _free_port()

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


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()


def alerts(*keys: str) -> list[Alert]:
    return [Alert(key=k, kind="test", text=f"alert {k}") for k in keys]


def test_settings_from_env_make_the_configured_channels(slack: SlackReceiver, smtp: SmtpReceiver) -> None:
    assert NotifySettings.from_env({}).channels() == []
    env = {"REVQB_SLACK_WEBHOOK_URL": slack.url, **smtp.env()}
    channels = NotifySettings.from_env(env).channels()
    assert [c.name for c in channels] == ["slack", "email"]
    email = channels[1]
    assert isinstance(email, EmailChannel) and email.recipients == ["finance@example.com", "ops@example.com"]
    assert not email.starttls
    text = repr(channels) + repr(NotifySettings.from_env(env)) + repr(Notifier(channels))
    assert slack.url not in text and SMTP_PASSWORD not in text and WEBHOOK_PATH not in text


def test_one_batched_message_per_channel_and_never_twice(
    tmp_path: Any, slack: SlackReceiver, smtp: SmtpReceiver
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    create_schema(engine)
    env = {"REVQB_SLACK_WEBHOOK_URL": slack.url, **smtp.env()}
    notifier = Notifier.from_env(env, engine)

    first = notifier.send("revqb: test", alerts("a", "b", "a"))
    assert (first.sent, first.duplicates, first.channels, first.errors) == (2, 0, ["slack", "email"], [])
    assert len(slack.messages) == 1 and "alert a" in slack.messages[0] and "alert b" in slack.messages[0]
    assert len(smtp.messages) == 1
    mail = smtp.messages[0]
    assert mail["Subject"] == "revqb: test (2)" and "alert b" in mail.get_payload()

    again = notifier.send("revqb: test", alerts("a", "b", "c"))
    assert (again.sent, again.duplicates) == (1, 2)
    assert "alert a" not in slack.messages[1] and "alert c" in slack.messages[1]
    assert notifier.send("revqb: test", alerts("a", "b", "c")).sent == 0
    assert len(slack.messages) == 2 and len(smtp.messages) == 2


def test_failed_delivery_is_retried_next_time_and_never_leaks_the_url(
    tmp_path: Any, slack: SlackReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    create_schema(engine)
    notifier = Notifier([SlackChannel(slack.url)], engine)
    slack.status = 403
    failed = notifier.send("revqb: test", alerts("x"))
    assert failed.sent == 0 and failed.errors == ["slack webhook answered HTTP 403"]
    slack.status = 200
    assert notifier.send("revqb: test", alerts("x")).sent == 1
    assert len(slack.messages) == 1
    unreachable = Notifier([SlackChannel("http://127.0.0.1:9/services/T0/B0/n0tReachableSecret")], engine)
    result = unreachable.send("revqb: test", alerts("y"))
    assert result.errors and "n0tReachableSecret" not in result.errors[0]
    assert "httpx" in {r.name for r in caplog.records}  # the request line was logged ...
    assert WEBHOOK_PATH not in caplog.text and "n0tReachableSecret" not in caplog.text  # ... redacted


def test_without_channels_alerts_are_logged_and_recorded(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="revqb.notify")
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    create_schema(engine)
    notifier = Notifier([], engine)
    result = notifier.send("revqb: test", alerts("z"))
    assert (result.sent, result.logged) == (0, 1)
    assert "alert z" in caplog.text
    assert notifier.send("revqb: test", alerts("z")).logged == 0


def test_smtp_auth_failure_is_reported_without_the_password(smtp: SmtpReceiver) -> None:
    channel = EmailChannel(
        host="127.0.0.1",
        port=smtp.port,
        sender="revqb@example.com",
        recipients=["x@example.com"],
        username=SMTP_USER,
        password="wrong-password-123",
        timeout=2,
    )
    result = Notifier([channel]).send("revqb: test", alerts("k"))
    assert result.sent == 0 and result.errors[0].startswith("email via 127.0.0.1")
    assert "wrong-password-123" not in result.errors[0] and not smtp.messages
