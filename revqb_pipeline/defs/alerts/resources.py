"""The notifier resource: Slack webhook and/or SMTP email, each optional.

Secrets (``REVQB_SLACK_WEBHOOK_URL``, ``REVQB_SMTP_PASSWORD``) are passed as ``dg.EnvVar`` so Dagster stores
and shows only the variable name, and resolves the value when a run starts. A variable that is unset when
the code location loads leaves that field empty, which disables the channel instead of failing runs
(reload the code location after setting it). Non-secret settings are read from the environment at load.
"""

import os
from collections.abc import Sequence

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.notify import Alert, Channel, Notifier, NotifyResult, NotifySettings
from revqb_pipeline.staging import Engine

DEFAULT_DAGSTER_URL = "http://localhost:3000"


class NotifierResource(dg.ConfigurableResource):
    """Alert channels; an empty webhook URL / SMTP host disables that channel."""

    slack_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool | None = None
    smtp_ssl: bool = False
    smtp_user: str | None = None
    smtp_password: str | None = None
    email_from: str | None = None
    email_to: str | None = None
    dagster_url: str = DEFAULT_DAGSTER_URL

    def settings(self) -> NotifySettings:
        return NotifySettings(
            slack_webhook_url=self.slack_webhook_url or None,
            smtp_host=self.smtp_host or None,
            smtp_port=self.smtp_port,
            smtp_starttls=self.smtp_starttls,
            smtp_ssl=self.smtp_ssl,
            smtp_user=self.smtp_user or None,
            smtp_password=self.smtp_password or None,
            email_from=self.email_from or None,
            email_to=self.email_to or None,
        )

    def notifier(self, engine: Engine | None) -> Notifier:
        label = connections.label()  # "[acme] " for a connection of REVQB_CONNECTIONS_FILE, else ""
        channels = self.settings().channels()
        return _ConnectionNotifier(label, channels, engine) if label else Notifier(channels, engine)

    def run_url(self, run_id: str) -> str:
        return f"{self.dagster_url.rstrip('/')}/runs/{run_id}"


class _ConnectionNotifier(Notifier):
    """A connection's notifier: every subject starts with the connection (``[acme] revqb: ...``)."""

    def __init__(self, label: str, channels: Sequence[Channel], engine: Engine | None) -> None:
        super().__init__(channels, engine)
        self.label = label

    def send(self, subject: str, alerts: Sequence[Alert]) -> NotifyResult:
        return super().send(self.label + subject, alerts)


def _secret(name: str) -> dg.EnvVar | None:
    return dg.EnvVar(name) if os.environ.get(name) else None


def _flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    return None if not value else value in {"1", "true", "yes", "on"}


def notifier_from_env() -> NotifierResource:
    """The resource as configured by the REVQB_* alert variables (see revqb_pipeline/notify.py)."""
    return NotifierResource(
        slack_webhook_url=_secret("REVQB_SLACK_WEBHOOK_URL"),
        smtp_host=os.environ.get("REVQB_SMTP_HOST") or None,
        smtp_port=int(os.environ.get("REVQB_SMTP_PORT") or 587),
        smtp_starttls=_flag("REVQB_SMTP_STARTTLS"),
        smtp_ssl=bool(_flag("REVQB_SMTP_SSL")),
        smtp_user=os.environ.get("REVQB_SMTP_USER") or None,
        smtp_password=_secret("REVQB_SMTP_PASSWORD"),
        email_from=os.environ.get("REVQB_ALERT_EMAIL_FROM") or None,
        email_to=os.environ.get("REVQB_ALERT_EMAIL_TO") or None,
        dagster_url=os.environ.get("REVQB_DAGSTER_URL") or DEFAULT_DAGSTER_URL,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(resources={"notifier": notifier_from_env()})
