"""Alerts: a Slack incoming webhook and/or email (SMTP), batched per run and sent once per alert key, ever.

Both channels are optional and configured by environment variables (``NotifySettings.from_env``):

=============================== =====================================================================
``REVQB_SLACK_WEBHOOK_URL``     Slack incoming-webhook URL (secret). Unset: no Slack channel.
``REVQB_SMTP_HOST``             SMTP server. Unset: no email channel.
``REVQB_SMTP_PORT``             default 587
``REVQB_SMTP_STARTTLS``         ``true``/``false``; default true on port 587
``REVQB_SMTP_SSL``              ``true`` for implicit TLS (port 465)
``REVQB_SMTP_USER``             login (optional)
``REVQB_SMTP_PASSWORD``         password (secret, optional)
``REVQB_ALERT_EMAIL_FROM``      sender address
``REVQB_ALERT_EMAIL_TO``        recipients, comma separated
=============================== =====================================================================

De-duplication: every alert has a stable key (``dunning:<customer>:<seq>``, ``quarantine:...``,
``run_failure:<run id>``). A key is claimed in the ``alerts_sent`` table before sending (so two runs never
both send it) and released again only if every channel failed. With no channel configured, alerts are
recorded as ``none`` (logged, not sent) so that configuring a channel later does not replay history.

Secrets (webhook URL, SMTP password) are excluded from ``repr``, never logged, and redacted from the
``httpx`` request log line.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

import httpx
from pydantic import BaseModel, Field

from revqb_pipeline.staging import Engine
from revqb_pipeline.staging.alerts import KEY_LEN, SentAlerts

log = logging.getLogger("revqb.notify")

MAX_LINES = 100
_TRUE = {"1", "true", "yes", "on"}


class NotifyError(Exception):
    """A channel could not deliver (the message never contains a secret)."""


@dataclass(frozen=True)
class Alert:
    """One thing to tell people about; ``key`` de-duplicates it forever."""

    key: str
    kind: str
    text: str


# ----- secret redaction ------------------------------------------------------------------------------


class _Redactor(logging.Filter):
    """Replaces registered secrets in log records of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__("revqb-redactor")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self.secrets:
            redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _Redactor()
_REDACTED_LOGGERS = ("httpx", "httpcore", "revqb.notify")


def register_secret(value: str | None) -> None:
    """Redact ``value`` from the HTTP client loggers (``httpx`` logs every request URL at INFO)."""
    if not value or len(value) < 6:
        return
    _REDACTOR.secrets.add(value)
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


# ----- channels --------------------------------------------------------------------------------------


class Channel(Protocol):
    name: str

    def send(self, subject: str, lines: Sequence[str]) -> None: ...


def _body(lines: Sequence[str], bullet: str) -> str:
    shown = [f"{bullet}{ln}" for ln in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        shown.append(f"... and {len(lines) - MAX_LINES} more (see `revqb status`)")
    return "\n".join(shown)


@dataclass
class SlackChannel:
    """A Slack incoming webhook (``POST {"text": ...}``)."""

    webhook_url: str = field(repr=False)
    timeout: float = 10.0
    name: str = "slack"

    def __post_init__(self) -> None:
        register_secret(self.webhook_url)

    def send(self, subject: str, lines: Sequence[str]) -> None:
        text = f"*{subject}*\n{_body(lines, '• ')}"
        try:
            resp = httpx.post(self.webhook_url, json={"text": text}, timeout=self.timeout)
        except httpx.HTTPError as exc:  # the exception text may hold the URL: keep only the type
            raise NotifyError(f"slack webhook unreachable ({type(exc).__name__})") from None
        if not resp.is_success:
            raise NotifyError(f"slack webhook answered HTTP {resp.status_code}")


@dataclass
class EmailChannel:
    """Plain-text email through SMTP (optional STARTTLS or implicit TLS, optional login)."""

    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    use_ssl: bool = False
    timeout: float = 15.0
    name: str = "email"

    def __post_init__(self) -> None:
        register_secret(self.password)

    def send(self, subject: str, lines: Sequence[str]) -> None:
        msg = EmailMessage()
        msg["Subject"] = subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(_body(lines, "- ") + "\n")
        try:
            if self.use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"email via {self.host}:{self.port} failed ({type(exc).__name__})") from None


# ----- settings ---------------------------------------------------------------------------------------


class NotifySettings(BaseModel):
    """Channel configuration; an empty webhook URL / SMTP host disables that channel."""

    slack_webhook_url: str | None = Field(default=None, repr=False)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool | None = None
    smtp_ssl: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    email_from: str | None = None
    email_to: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifySettings:
        def get(name: str) -> str | None:
            value = (env.get(name) or "").strip()
            return value or None

        starttls = get("REVQB_SMTP_STARTTLS")
        return cls(
            slack_webhook_url=get("REVQB_SLACK_WEBHOOK_URL"),
            smtp_host=get("REVQB_SMTP_HOST"),
            smtp_port=int(get("REVQB_SMTP_PORT") or 587),
            smtp_starttls=None if starttls is None else starttls.lower() in _TRUE,
            smtp_ssl=(get("REVQB_SMTP_SSL") or "").lower() in _TRUE,
            smtp_user=get("REVQB_SMTP_USER"),
            smtp_password=get("REVQB_SMTP_PASSWORD"),
            email_from=get("REVQB_ALERT_EMAIL_FROM"),
            email_to=get("REVQB_ALERT_EMAIL_TO"),
        )

    def channels(self) -> list[Channel]:
        out: list[Channel] = []
        if self.slack_webhook_url:
            out.append(SlackChannel(self.slack_webhook_url))
        recipients = [r.strip() for r in (self.email_to or "").split(",") if r.strip()]
        if self.smtp_host and recipients:
            out.append(
                EmailChannel(
                    host=self.smtp_host,
                    port=self.smtp_port,
                    sender=self.email_from or "revqb@localhost",
                    recipients=recipients,
                    username=self.smtp_user,
                    password=self.smtp_password,
                    starttls=self.smtp_port == 587 if self.smtp_starttls is None else self.smtp_starttls,
                    use_ssl=self.smtp_ssl,
                )
            )
        elif self.smtp_host:
            log.warning("REVQB_SMTP_HOST is set but REVQB_ALERT_EMAIL_TO is empty: email alerts are off")
        return out


# ----- de-duplication and the notifier ----------------------------------------------------------------


class AlertLog:
    """Which alerts were already sent or are being sent (``alerts_sent``, through ``staging/alerts.py``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._table = SentAlerts(engine)

    def sent(self, keys: Iterable[str]) -> set[str]:
        return self._table.sent(keys)

    def claim(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Record the keys not seen yet (channel ``sending``); returns the alerts this caller owns."""
        seen = self.sent([a.key for a in alerts])
        fresh = [a for a in {a.key: a for a in alerts}.values() if a.key not in seen]
        if not fresh:
            return []
        owned = self._table.claim([(a.key, a.text) for a in fresh])
        return [a for a in fresh if a.key[:KEY_LEN] in owned]

    def settle(self, alerts: Sequence[Alert], channel: str) -> None:
        self._table.settle([a.key for a in alerts], channel)

    def release(self, alerts: Sequence[Alert]) -> None:
        self._table.release([a.key for a in alerts])


@dataclass
class NotifyResult:
    """What one ``Notifier.send`` did (safe for Dagster metadata: no secrets)."""

    sent: int = 0
    logged: int = 0  # recorded without a channel configured
    duplicates: int = 0
    channels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Notifier:
    """Sends batches of alerts to every configured channel, each alert key at most once."""

    def __init__(self, channels: Sequence[Channel], engine: Engine | None = None) -> None:
        self.channels = list(channels)
        self.log = AlertLog(engine) if engine is not None else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], engine: Engine | None = None) -> Notifier:
        return cls(NotifySettings.from_env(env).channels(), engine)

    @classmethod
    def from_os_env(cls, engine: Engine | None = None) -> Notifier:
        """Channels from this process's environment variables."""
        return cls.from_env(os.environ, engine)

    def __repr__(self) -> str:
        return f"Notifier(channels={[c.name for c in self.channels]})"

    @property
    def enabled(self) -> bool:
        return bool(self.channels)

    def send(self, subject: str, alerts: Sequence[Alert]) -> NotifyResult:
        """One message per channel listing ``alerts`` not sent before; returns counts and errors."""
        result = NotifyResult()
        if not alerts:
            return result
        todo = self.log.claim(alerts) if self.log is not None else list({a.key: a for a in alerts}.values())
        result.duplicates = len({a.key for a in alerts}) - len(todo)
        if not todo:
            return result
        lines = [a.text for a in todo]
        title = f"{subject} ({len(todo)})"
        for channel in self.channels:
            try:
                channel.send(title, lines)
                result.channels.append(channel.name)
            except NotifyError as exc:
                result.errors.append(str(exc))
                log.error("alert channel %s failed: %s", channel.name, exc)
        if self.channels and not result.channels:
            if self.log is not None:
                self.log.release(todo)  # nothing went out: try again next run
            return result
        if not self.channels:
            for line in lines:
                log.info("alert (no channel configured): %s", line)
        if self.log is not None:
            self.log.settle(todo, ",".join(result.channels) or "none")
        if result.channels:
            result.sent = len(todo)
        else:
            result.logged = len(todo)
        return result
