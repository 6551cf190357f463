"""The connections file (REVQB_CONNECTIONS_FILE): the companies one deployment syncs, validated with pydantic.

Each connection pairs one Rev.io tenant with one QuickBooks Online realm and names its own mapping file,
start date, timezone and staging database. Secrets are never written in the file: a field holding a
credential takes ``{env: NAME}`` (the variable is read when the connection is used, like ``dagster.yaml``);
other fields take a literal or ``{env: NAME}``. A bad file raises :class:`ConnectionsError`, one line naming
the file, the connection and the field. Without a file, the environment (``REVIO_*``, ``QBO_*``,
``REVQB_*``) is the one connection ``default``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from revqb_pipeline.settings import RevqbSettings, env_name

DEFAULT_NAME = "default"
FILE_VARIABLE = "REVQB_CONNECTIONS_FILE"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ConnectionsError(ValueError):
    """A connections file that cannot be used (one line: file, connection, field, what is wrong)."""


class EnvRef(BaseModel):
    """``{env: NAME}``: the value of environment variable NAME, read when the connection is used."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")


Value = str | EnvRef


def _secret(value: Value | None, field: str) -> Value | None:
    if isinstance(value, str) and value:
        raise ValueError(f"{field} is a credential: write {{env: VARIABLE}}, never the value")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RevioTenant(_Strict):
    """One Rev.io tenant: its API URL and client code, and the credentials by environment variable."""

    base_url: Value
    client_code: Value
    username: Value
    password: EnvRef
    subscription_key: EnvRef


class QBORealm(_Strict):
    """One QuickBooks Online company (realm) and the app credentials that reach it."""

    base_url: Value
    token_url: Value
    realm_id: Value
    client_id: Value
    client_secret: EnvRef
    refresh_token: EnvRef | None = None
    throttle_backoff_s: float = Field(60.0, gt=0)

    @field_validator("refresh_token", mode="before")
    @classmethod
    def _no_literal(cls, v: Any) -> Any:
        return _secret(v, "refresh_token")


class Connection(_Strict):
    """One company: a Rev.io tenant synced into one QBO realm, with its own ledger, tokens and quarantine."""

    name: str
    revio: RevioTenant
    qbo: QBORealm
    #: The staging database (ledger, tokens, quarantine) of this connection only; a URL or {env: NAME}.
    db_url: Value
    mapping_file: str | None = None
    start_date: date | None = None
    timezone: str = "America/Chicago"
    token_key: EnvRef | None = None
    revio_writeback: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be lowercase letters, digits and _ (starting with a letter, at most 40)")
        return v

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not an IANA timezone (e.g. America/Chicago)") from None
        return v

    @field_validator("token_key", mode="before")
    @classmethod
    def _no_literal_key(cls, v: Any) -> Any:
        return _secret(v, "token_key")


class ConnectionsFile(_Strict):
    """The file: a list of connections with unique names, realms and staging databases."""

    connections: list[Connection] = Field(min_length=1)
    #: Where the DB rate limiters and OAuth refresh locks are shared (realms / tenants used by several
    #: connections); unset: each connection's own staging database.
    limits_db_url: Value | None = None

    @model_validator(mode="after")
    def _unique(self) -> ConnectionsFile:
        for what, values in (
            ("name", [c.name for c in self.connections]),
            ("qbo.realm_id", [repr(c.qbo.realm_id) for c in self.connections]),
            ("db_url", [repr(c.db_url) for c in self.connections]),
        ):
            seen: set[str] = set()
            for conn, value in zip(self.connections, values, strict=True):
                if value in seen:
                    raise ValueError(
                        f"connection {conn.name!r}: {what} {value} is used by another connection"
                    )
                seen.add(value)
        return self

    def get(self, name: str) -> Connection:
        for conn in self.connections:
            if conn.name == name:
                return conn
        names = ", ".join(c.name for c in self.connections)
        raise ConnectionsError(f"no connection named {name!r} (the file lists: {names})")


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """'connection acme, field qbo.realm_id' for a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "connections" and isinstance(loc[1], int):
        name = None
        try:
            name = raw["connections"][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        label = f"connection {name!r}" if name else f"connection #{loc[1] + 1}"
        fields = ".".join(str(p) for p in loc[2:] if not str(p).startswith(("str", "EnvRef")))
        return f"{label}, field {fields}" if fields else label
    return "field " + ".".join(str(p) for p in loc) if loc else "top level"


def parse_connections(raw: Any, source: str) -> ConnectionsFile:
    """Validate the parsed YAML ``raw`` of ``source``; a problem raises one :class:`ConnectionsError`."""
    if not isinstance(raw, dict):
        raise ConnectionsError(f"{source}: expected a mapping with a 'connections' list")
    try:
        return ConnectionsFile.model_validate(raw)
    except ValidationError as exc:
        err = _first_error(exc)
        loc = tuple(err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConnectionsError(f"{source}: {_where(raw, loc)}: {msg}") from None


def _first_error(exc: ValidationError) -> dict[str, Any]:
    """The most useful error: for a ``str | {env:}`` field the union yields two, keep the plainer one."""
    errors = exc.errors()
    for err in errors:
        if not any(str(p).startswith(("str", "EnvRef")) for p in err.get("loc", ())):
            return dict(err)
    return dict(errors[0])


def load_connections(path: str | Path) -> ConnectionsFile:
    """Read and validate a connections file (one :class:`ConnectionsError` naming file, connection, field)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConnectionsError(f"{FILE_VARIABLE}: cannot read {p}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConnectionsError(f"{p}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    return parse_connections(raw, str(p))


def resolve(value: Value | None, environ: Mapping[str, str] | None = None) -> str:
    """A field's text: the literal, or its environment variable's value ("" when unset)."""
    environ = os.environ if environ is None else environ
    if value is None:
        return ""
    if isinstance(value, EnvRef):
        return environ.get(value.env, "").strip()
    return value


def connection_env(conn: Connection, file: ConnectionsFile | None = None) -> dict[str, Value | None]:
    """The connection as settings variables (``REVIO_PASSWORD`` -> {env: ACME_REVIO_PASSWORD}, ...)."""
    fields: dict[str, Value | None] = {
        "revio_base_url": conn.revio.base_url,
        "revio_client_code": conn.revio.client_code,
        "revio_username": conn.revio.username,
        "revio_password": conn.revio.password,
        "revio_subscription_key": conn.revio.subscription_key,
        "qbo_base_url": conn.qbo.base_url,
        "qbo_token_url": conn.qbo.token_url,
        "qbo_realm_id": conn.qbo.realm_id,
        "qbo_client_id": conn.qbo.client_id,
        "qbo_client_secret": conn.qbo.client_secret,
        "qbo_refresh_token": conn.qbo.refresh_token,
        "qbo_throttle_backoff_s": str(conn.qbo.throttle_backoff_s),
        "db_url": conn.db_url,
        "mapping_file": conn.mapping_file,
        "token_key": conn.token_key,
        "revio_writeback": "true" if conn.revio_writeback else "false",
        "limits_db_url": file.limits_db_url if file is not None else None,
    }
    return {env_name(k): v for k, v in fields.items()}


def connection_settings(
    conn: Connection, file: ConnectionsFile | None = None, environ: Mapping[str, str] | None = None
) -> RevqbSettings:
    """The settings of one connection: its fields (environment references resolved), plus the process
    settings the file does not set (REVQB_LIMITER, REVQB_AUTOMATION, ...)."""
    environ = os.environ if environ is None else environ
    values = {k: resolve(v, environ) for k, v in connection_env(conn, file).items()}
    own = set(values)
    merged = {k: v for k, v in environ.items() if k not in own}
    merged.update({k: v for k, v in values.items() if v})
    return RevqbSettings.from_env(merged)
