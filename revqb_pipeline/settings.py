"""Runtime settings from environment variables and a ``.env`` file in the working directory (one place;
the Dagster resources mirror them through ``EnvVar``).

Environment names: ``REVIO_*`` and ``QBO_*`` for the API fields, ``REVQB_<FIELD>`` for the others. A real
environment variable wins over the same name in ``.env``; empty values count as unset. No default points
at a production system: unset URLs and credentials are ``""`` and ``revqb check`` reports them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url

DEFAULT_DB_URL = "sqlite:///.revqb/revqb.db"
ENV_FILE = ".env"

#: Production endpoints, for documentation and ``.env.example`` only (never used as defaults).
PRODUCTION_URLS = {
    "REVIO_BASE_URL": "https://api.revioapi.com/v1",
    "QBO_BASE_URL": "https://quickbooks.api.intuit.com",
    "QBO_TOKEN_URL": "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
}

#: While set, ``RevqbSettings`` reads only this mapping (``from_env(env)``), not os.environ or ``.env``.
_ONLY_MAPPING: ContextVar[Mapping[str, str] | None] = ContextVar("_ONLY_MAPPING", default=None)


def env_name(field: str) -> str:
    """The environment variable of a settings field (``revio_password`` -> ``REVIO_PASSWORD``): its alias,
    else ``REVIO_*`` / ``QBO_*`` for the API fields and ``REVQB_<FIELD>`` for the others."""
    info = RevqbSettings.model_fields.get(field)
    alias = info.validation_alias if info is not None else None
    if isinstance(alias, str):
        return alias
    return field.upper() if field.startswith(("revio_", "qbo_")) else f"REVQB_{field.upper()}"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_flag(name: str, value: str | bool, default: bool) -> bool:
    """A boolean setting from its text (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``;
    empty = ``default``); anything else raises ValueError naming the variable."""
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}: {value!r} is not a boolean (true/false, 1/0, yes/no, on/off)")


class _MappingSource(PydanticBaseSettingsSource):
    """Values from an explicit mapping (tests, ``from_env(env)``), by environment name, empty = unset."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        value = self.env.get(env_name(field_name))
        return (value or None), field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                out[key] = value
        return out


class RevqbSettings(BaseSettings):
    """Everything a sync needs to reach Rev.io, QuickBooks Online and the staging database.

    Secret fields (passwords, keys, tokens, the DB URL's password) never appear in ``repr``.
    """

    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        validate_default=False,
    )

    db_url: str = Field(DEFAULT_DB_URL, validation_alias="REVQB_DB_URL", repr=False)
    mapping_file: str | None = Field(None, validation_alias="REVQB_MAPPING_FILE")
    revio_base_url: str = Field("", validation_alias="REVIO_BASE_URL")
    revio_client_code: str = Field("", validation_alias="REVIO_CLIENT_CODE")
    revio_username: str = Field("", validation_alias="REVIO_USERNAME")
    revio_password: str = Field("", validation_alias="REVIO_PASSWORD", repr=False)
    revio_subscription_key: str = Field("", validation_alias="REVIO_SUBSCRIPTION_KEY", repr=False)
    qbo_base_url: str = Field("", validation_alias="QBO_BASE_URL")
    qbo_token_url: str = Field("", validation_alias="QBO_TOKEN_URL")
    qbo_realm_id: str = Field("", validation_alias="QBO_REALM_ID")
    qbo_client_id: str = Field("", validation_alias="QBO_CLIENT_ID")
    qbo_client_secret: str = Field("", validation_alias="QBO_CLIENT_SECRET", repr=False)
    qbo_refresh_token: str = Field("", validation_alias="QBO_REFRESH_TOKEN", repr=False)
    qbo_throttle_backoff_s: float = Field(60.0, validation_alias="QBO_THROTTLE_BACKOFF_S", gt=0)
    #: Where the QBO / Rev.io rate limits are kept (REVQB_LIMITER): ``db`` in the staging database, shared
    #: by every process and host; ``process`` per process; ``auto`` (default): ``db`` on PostgreSQL, else
    #: ``process``.
    limiter: Literal["auto", "db", "process"] = Field("auto", validation_alias="REVQB_LIMITER")
    #: The database holding the shared rate limits (REVQB_LIMITS_DB_URL); unset: the staging database. Set by
    #: a connections file whose connections share a realm or tenant but not a staging database.
    limits_db_url: str = Field("", validation_alias="REVQB_LIMITS_DB_URL", repr=False)
    #: Write each synced QBO invoice id back to its Rev.io bill (REVQB_REVIO_WRITEBACK); off: no PATCH at all.
    revio_writeback: bool = Field(True, validation_alias="REVQB_REVIO_WRITEBACK")
    #: Fernet key(s) encrypting OAuth tokens at rest (REVQB_TOKEN_KEY); comma-separated, the first encrypts.
    token_key: str = Field("", validation_alias="REVQB_TOKEN_KEY", repr=False)
    #: Sensors and schedules start RUNNING (``on``) or STOPPED (``off``, the default) (REVQB_AUTOMATION).
    automation: bool = Field(False, validation_alias="REVQB_AUTOMATION")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        only = _ONLY_MAPPING.get()
        if only is not None:
            return (init_settings, _MappingSource(settings_cls, only))
        return (init_settings, env_settings, dotenv_settings)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield from super().__repr_args__()
        yield "db_url", safe_db_url(self.db_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RevqbSettings:
        """Settings from os.environ and ``.env`` (``env=None``), or from ``env`` alone."""
        if env is None:
            return cls()
        with _only(env):
            return cls()


@contextmanager
def _only(env: Mapping[str, str]) -> Iterator[None]:
    token = _ONLY_MAPPING.set(env)
    try:
        yield
    finally:
        _ONLY_MAPPING.reset(token)


def safe_db_url(url: str) -> str:
    """The database URL with its password masked (for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a malformed URL: show only its scheme
        return url.split(":", 1)[0] + ":..."


def setting_text(field: str, env: Mapping[str, str] | None = None) -> str:
    """One setting's raw text from ``env``, else os.environ then ``.env`` ("" when unset): read alone at
    definitions load, so a malformed unrelated setting cannot break the code location."""
    name = env_name(field)
    if env is not None:
        return env.get(name, "").strip()
    value = os.environ.get(name, "")
    if not value.strip() and Path(ENV_FILE).is_file():
        from dotenv import dotenv_values

        value = dotenv_values(ENV_FILE).get(name) or ""
    return value.strip()


def automation_on(env: Mapping[str, str] | None = None) -> bool:
    """``REVQB_AUTOMATION`` (``on``/``off``, default off), read alone (:func:`setting_text`)."""
    return parse_flag(env_name("automation"), setting_text("automation", env), False)


def start_date_setting(env: Mapping[str, str] | None = None) -> str | None:
    """``REVQB_START_DATE`` (the first daily partition) as ``YYYY-MM-DD``, or None when unset (then the
    tenant's first Rev.io activity recorded in the staging DB applies, ``defs/partitions.py``); read alone
    at definitions load (:func:`setting_text`), not a field: only the definitions use it. A value that is
    not a date raises ValueError naming the variable."""
    text = setting_text("start_date", env)
    if not text:
        return None
    if len(text) == 10:
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{env_name('start_date')}: {text!r} is not a date (YYYY-MM-DD)")


def load_dotenv_into_environ(path: str | Path = ENV_FILE) -> list[str]:
    """Copy the names of ``.env`` that the environment lacks into ``os.environ`` (the Dagster resources
    read ``EnvVar``s from there); return the names set. A real environment variable always wins."""
    p = Path(path)
    if not p.is_file():
        return []
    from dotenv import dotenv_values

    added = []
    for key, value in dotenv_values(p).items():
        if value is not None and value != "" and not os.environ.get(key):
            os.environ[key] = value
            added.append(key)
    return added
