"""Runtime settings read from environment variables (one place; the Dagster resources mirror them)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, Field

DEFAULT_DB_URL = "sqlite:///.revqb/revqb.db"


class RevqbSettings(BaseModel):
    """Everything a sync needs to reach Rev.io, QuickBooks Online and the staging database."""

    db_url: str = DEFAULT_DB_URL
    mapping_file: str | None = None
    revio_base_url: str = "https://api.revioapi.com/v1"
    revio_client_code: str = ""
    revio_username: str = ""
    revio_password: str = Field("", repr=False)
    revio_subscription_key: str = Field("", repr=False)
    qbo_base_url: str = "https://quickbooks.api.intuit.com"
    qbo_token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    qbo_realm_id: str = ""
    qbo_client_id: str = ""
    qbo_client_secret: str = Field("", repr=False)
    qbo_refresh_token: str = Field("", repr=False)
    qbo_throttle_backoff_s: float = 60.0
    #: Fernet key(s) encrypting OAuth tokens at rest (REVQB_TOKEN_KEY); comma-separated, the first encrypts.
    token_key: str = Field("", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RevqbSettings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for name in cls.model_fields:
            key = name.upper() if name.startswith(("revio_", "qbo_")) else f"REVQB_{name.upper()}"
            if env.get(key):
                values[name] = env[key]
        return cls.model_validate(values)
