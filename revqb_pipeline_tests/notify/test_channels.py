"""Notifier: Slack webhook and SMTP channels over local receivers, batching, de-duplication, redaction."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from revqb_pipeline.notify import Alert, EmailChannel, Notifier, NotifySettings, SlackChannel
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline_tests._receivers import (
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_PATH,
    SlackReceiver,
    SmtpReceiver,
)


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
