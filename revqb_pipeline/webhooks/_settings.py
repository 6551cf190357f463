"""Settings of ``revqb webhooks serve`` (environment / ``.env``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from revqb_pipeline.settings import ENV_FILE
from revqb_pipeline.webhooks._events import DEFAULT_EVENT_RESOURCES


class WebhookSettings(BaseSettings):
    """Where the receiver listens, the URL Rev.io posts to, and the shared secrets."""

    model_config = SettingsConfigDict(
        env_file=ENV_FILE, env_file_encoding="utf-8", env_ignore_empty=True, extra="ignore"
    )

    #: The shared secret in the registered receiver URL (REVQB_WEBHOOK_SECRET); required to serve.
    secret: str = Field("", validation_alias="REVQB_WEBHOOK_SECRET", repr=False)
    #: The base URL Rev.io reaches the receiver at (REVQB_WEBHOOK_PUBLIC_URL); default: the listen address.
    public_url: str = Field("", validation_alias="REVQB_WEBHOOK_PUBLIC_URL")
    #: Event type -> Rev.io resource (REVQB_WEBHOOK_EVENTS, JSON); the event types revqb subscribes to.
    events: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_EVENT_RESOURCES), validation_alias="REVQB_WEBHOOK_EVENTS"
    )
    #: QBO's webhook verifier token (QBO_WEBHOOK_VERIFIER_TOKEN): QBO notifications are checked against it.
    qbo_verifier_token: str = Field("", validation_alias="QBO_WEBHOOK_VERIFIER_TOKEN", repr=False)
