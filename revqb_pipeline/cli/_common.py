"""What every command shares: exit codes, the ledger source types, output lines, settings and preflight."""

from __future__ import annotations

import sys
from typing import Any

from revqb_pipeline.settings import RevqbSettings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_RECORDS = 3
EXIT_CODES_HELP = """exit codes:
  0    all synced (or nothing to do)
  1    a failure: a run or step failed, or Rev.io and QBO disagree (reconcile)
  2    usage or configuration: bad arguments, or a preflight problem (one line each, naming the setting)
  3    records quarantined or failed, or a blocking check failed (sync, retry, demo); see `revqb status`
  130  stopped by SIGINT (Ctrl-C), 143 stopped by SIGTERM, after the current step (send it twice to abort)

settings: environment variables or ./.env (see README "Settings"); `revqb check` verifies them.
set REVQB_DEBUG=1 (or --debug) to see the traceback of an unexpected error."""

#: Ledger source types (the ``SOURCE_TYPE`` constants of sync/*.py and the staging assets).
SOURCE_TYPES: tuple[str, ...] = (
    "bill",
    "charge",
    "credit",
    "credit_application",
    "customer",
    "customer_status",
    "journal",
    "payment",
    "product",
    "product_type",
)


class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit 2, like an argparse error)."""


def say(msg: str) -> None:
    """One line on stdout, flushed (progress stays visible through a pipe)."""
    print(msg, flush=True)


def err(msg: str) -> None:
    """One line on stderr, flushed."""
    print(msg, file=sys.stderr, flush=True)


def settings_or_exit() -> RevqbSettings:
    """The settings (environment + .env, or the ``--connection`` of REVQB_CONNECTIONS_FILE); a malformed
    value raises PreflightFailed (exit 2 in main)."""
    from revqb_pipeline import connections
    from revqb_pipeline.preflight import load_settings

    if connections.current() is None:  # no connections file / no --connection: the environment, as always
        return load_settings()
    return connections.settings_for()  # a file connection (ConnectionsError: exit 2 in main)


def require(settings: RevqbSettings, **kwargs: Any) -> None:
    """Run the preflight checks a command needs; raise PreflightFailed (exit 2, one line each)."""
    from revqb_pipeline.preflight import ensure_ready

    ensure_ready(settings, **kwargs)
