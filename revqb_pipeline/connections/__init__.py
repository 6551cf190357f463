"""Connections: which company (Rev.io tenant -> QBO realm) this process syncs.

One deployment serves many connections as one Dagster code location per connection (see
``connections/locations.py`` and docs/architecture.md): a location process selects its connection before
the definitions load, and every definition reads it from here. Selection order: :func:`select` (the
location loader), else ``REVQB_CONNECTION``, else ``default``. ``default`` without a connections file (or a
file without a connection of that name) is the environment mode: ``REVIO_*`` / ``QBO_*`` / ``REVQB_*``,
with asset keys, pools and jobs exactly as a single-company install has them. Any other connection gets
its name as asset-key prefix, pools ``qbo/<realm>`` and ``revio/<client code>``, and the run tag
``revqb/connection=<name>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from revqb_pipeline.connections.config import (
    DEFAULT_NAME,
    FILE_VARIABLE,
    Connection,
    ConnectionsError,
    ConnectionsFile,
    connection_settings,
    load_connections,
    resolve,
)
from revqb_pipeline.settings import RevqbSettings, setting_text

__all__ = [
    "CONNECTION_TAG",
    "DEFAULT_NAME",
    "Connection",
    "ConnectionsError",
    "ConnectionsFile",
    "asset_prefix",
    "configured",
    "current",
    "load_connections",
    "pool",
    "run_tags",
    "select",
    "selected_name",
    "settings_for",
]

#: The run tag naming the connection of a run (absent in the environment mode).
CONNECTION_TAG = "revqb/connection"
SELECT_VARIABLE = "REVQB_CONNECTION"

_selected: str | None = None


def select(name: str) -> None:
    """Make ``name`` this process's connection (before the definitions are imported)."""
    global _selected
    _selected = name


def selected_name(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    return _selected or environ.get(SELECT_VARIABLE, "").strip() or DEFAULT_NAME


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> ConnectionsFile:
    return load_connections(path)


def configured(environ: Mapping[str, str] | None = None) -> ConnectionsFile | None:
    """The validated connections file of REVQB_CONNECTIONS_FILE (environment or ``.env``), or None."""
    path = (environ or {}).get(FILE_VARIABLE, "") if environ is not None else _file_setting()
    if not path:
        return None
    try:
        mtime = Path(path).stat().st_mtime
    except OSError:
        mtime = -1.0
    return _load(path, mtime)


def _file_setting() -> str:
    value = os.environ.get(FILE_VARIABLE, "").strip()
    if value:
        return value
    try:
        return setting_text("connections_file")
    except Exception:
        return ""


def current(environ: Mapping[str, str] | None = None) -> Connection | None:
    """The selected connection of the file, or None in the environment mode. A selected name the file
    does not list (other than ``default``) raises :class:`ConnectionsError`."""
    name = selected_name(environ)
    file = configured(environ)
    if file is None:
        if name != DEFAULT_NAME:
            raise ConnectionsError(f"{SELECT_VARIABLE}={name!r} needs {FILE_VARIABLE} (a connections file)")
        return None
    if name == DEFAULT_NAME and all(c.name != DEFAULT_NAME for c in file.connections):
        return None
    return file.get(name)


def settings_for(name: str | None = None, environ: Mapping[str, str] | None = None) -> RevqbSettings:
    """The settings of connection ``name`` (default: the selected one)."""
    name = name or selected_name(environ)
    file = configured(environ)
    if file is None or (name == DEFAULT_NAME and all(c.name != DEFAULT_NAME for c in file.connections)):
        if name != DEFAULT_NAME:
            raise ConnectionsError(f"no connection named {name!r}: {FILE_VARIABLE} is unset")
        return RevqbSettings.from_env(environ)
    return connection_settings(file.get(name), file, environ)


def _prefixed(conn: Connection | None) -> bool:
    return conn is not None and conn.name != DEFAULT_NAME


def asset_prefix() -> list[str]:
    """The asset-key prefix of this process's connection: ``[]`` in the environment mode (and for a file
    connection named ``default``), else ``[name]``."""
    conn = current()
    return [conn.name] if conn is not None and _prefixed(conn) else []


def pool(kind: str) -> str:
    """The Dagster pool of this connection's ``kind`` (``qbo`` or ``revio``) steps: ``qbo/<realm>`` and
    ``revio/<client code>`` for a file connection (one slot each by the instance's ``default_limit``),
    ``qbo_api`` / ``revio_api`` in the environment mode."""
    conn = current()
    if conn is None:
        return f"{kind}_api"
    if kind == "qbo":
        return f"qbo/{resolve(conn.qbo.realm_id) or conn.name}"
    if kind == "revio":
        return f"revio/{resolve(conn.revio.client_code) or conn.name}"
    raise ValueError(f"unknown pool kind {kind!r}")


def run_tags() -> dict[str, str]:
    """Tags of every job of this connection: ``{revqb/connection: name}`` (none in the environment mode)."""
    conn = current()
    return {CONNECTION_TAG: conn.name} if _prefixed(conn) else {}


def label() -> str:
    """``[acme] `` for messages and alert subjects of a file connection, "" in the environment mode."""
    conn = current()
    return f"[{conn.name}] " if _prefixed(conn) else ""
