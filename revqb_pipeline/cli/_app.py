"""The ``revqb`` command (click): check, demo, sync, reconcile, status, retry, dunning, drift, tokens,
mappings, the webhook receiver and the sandbox servers.

Only the ``sandbox`` and ``demo`` commands (``_sandbox.py``) load the sandbox package, lazily.
Settings come from the environment and ``.env`` (``revqb_pipeline/settings.py``); every command that talks
to Rev.io, QBO or the staging database runs the matching preflight first (``revqb_pipeline/preflight.py``).
This module declares the commands and their options; :func:`main` parses them with click and maps every
expected failure to one line on stderr and an exit code. The commands live in the sibling modules and take
their options as attributes of one object.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import click

from revqb_pipeline.cli._args import (
    DAY,
    DAY_TEXT,
    FLOAT,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_FLOAT,
    RECONCILE_ENTITY,
    SOURCE_TYPE,
)
from revqb_pipeline.cli._check import cmd_check
from revqb_pipeline.cli._common import (
    EXIT_CODES_HELP,
    EXIT_CONFIG,
    EXIT_FAILURE,
    SOURCE_TYPES,
    UsageError,
    err,
)
from revqb_pipeline.cli._mappings import cmd_mappings_check, cmd_mappings_init
from revqb_pipeline.cli._ops import cmd_dunning, cmd_retry
from revqb_pipeline.cli._sandbox import cmd_demo, cmd_sandbox_serve
from revqb_pipeline.cli._signals import Interrupted
from revqb_pipeline.cli._status import cmd_reconcile, cmd_status
from revqb_pipeline.cli._sync import cmd_sync
from revqb_pipeline.cli._tokens import cmd_tokens_rotate
from revqb_pipeline.cli._webhooks import cmd_drift, cmd_webhooks_serve
from revqb_pipeline.settings import load_dotenv_into_environ

#: The exit codes under every command's help, verbatim (``\b``: click keeps the paragraph as written).
EPILOG = "\n\n".join(f"\b\n{part}" for part in EXIT_CODES_HELP.split("\n\n"))
CONTEXT = {"help_option_names": ["-h", "--help"], "show_default": True, "max_content_width": 110}
_DEBUG: list[bool] = []  # set by --debug for the error handling in main()

TYPE_HELP = f"only records of this ledger source type: {', '.join(SOURCE_TYPES)}"
FAULTS_HELP = "faults to inject, e.g. qbo.drop_after_commit=0.1,qbo.http_429=0.05"

#: Options that several commands share (each use makes its own click.Option).
DAYS_BACK = click.option(
    "--days", type=NON_NEGATIVE, default=90, help="read records of the last N days (0: all)"
)
SINCE = click.option("--since", type=DAY_TEXT, help="read records created since this day (instead of --days)")
HOST = click.option("--host", default="127.0.0.1", metavar="HOST", help="address to listen on")


def _call(func: Callable[[Any], int], options: dict[str, Any]) -> int:
    """Run a command with its options as attributes; an option mix that makes no sense is exit 2."""
    try:
        return func(SimpleNamespace(**options))
    except UsageError as exc:
        _print_usage_error(click.get_current_context(silent=True), str(exc))
        return EXIT_CONFIG


def _command(group: click.Group, name: str, help: str) -> Callable[[Callable[..., Any]], click.Command]:
    """``group``'s subcommand ``name``, with the exit codes under its help."""
    return group.command(name, help=help, short_help=help, epilog=EPILOG, context_settings=CONTEXT)


def _group(name: str, help: str) -> click.Group:
    """A group of subcommands (``revqb mappings ...``); alone, it prints its help (exit 2)."""
    return cli.group(name, help=help, epilog=EPILOG, context_settings=CONTEXT, no_args_is_help=True)(
        lambda: None
    )


@click.group(
    help="Rev.io -> QuickBooks Online sync.", epilog=EPILOG, context_settings=CONTEXT, no_args_is_help=True
)
@click.option("--debug", is_flag=True, help="show the traceback of an unexpected error (or REVQB_DEBUG=1)")
@click.option(
    "--connection",
    metavar="NAME",
    help="the company of REVQB_CONNECTIONS_FILE to work on (or REVQB_CONNECTION)  [default: default]",
)
def cli(debug: bool, connection: str | None) -> None:
    _DEBUG.append(debug)
    if connection:  # read by revqb_pipeline.connections (settings, and the definitions the runs import)
        os.environ["REVQB_CONNECTION"] = connection


@_command(cli, "check", "verify settings, Rev.io, QBO, the staging DB and the mapping file")
@click.option("--timeout", type=POSITIVE_FLOAT, default=10.0, help="seconds each network check may take")
def check(**options: Any) -> int:
    return _call(cmd_check, options)


def _verbose(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--verbose", is_flag=True, help="also print a line per asset of each run as it materializes"
    )(func)


@_command(cli, "demo", "run the whole pipeline against the bundled sandboxes and reconcile")
@click.option("--customers", type=POSITIVE, default=25, help="Rev.io customers to seed")
@click.option("--seed", type=NON_NEGATIVE, default=7, help="random seed of the sandbox data")
@click.option("--months", type=POSITIVE, default=1, help="months of billing to seed")
@click.option("--faults", default=None, metavar="SPEC", help=FAULTS_HELP)
@click.option(
    "--workdir",
    default=None,
    metavar="DIR",
    help="folder for the staging DB and Dagster instance  [default: a temp dir]",
)
@_verbose
def demo(**options: Any) -> int:
    return _call(cmd_demo, options)


@_command(cli, "sync", "sync Rev.io days to QBO (configured by environment variables / .env)")
@click.option(
    "--partition",
    type=DAY_TEXT,
    multiple=True,
    help="a day to sync (repeatable); instead of the days with activity from --since to --to",
)
@click.option("--since", type=DAY, help="first day  [default: --days before --to]")
@click.option("--to", type=DAY, help="last day  [default: today]")
@click.option("--days", type=NON_NEGATIVE, default=3, help="without --since: the days before --to to read")
@click.option(
    "--days-per-run",
    type=POSITIVE,
    default=1,
    help="group the days into Dagster runs over partition ranges of up to N days each (quiet days "
    "between included), e.g. 31 for a history backfill: a year in 12 runs; 1: a run per day",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="show what the sync would create, update, void and quarantine per entity (with totals) and the "
    "accounts and items it would create; write nothing to QBO, Rev.io or the ledger",
)
@click.option("--json", "json", is_flag=True, help="with --dry-run: print the preview as JSON")
@_verbose
def sync(**options: Any) -> int:
    return _call(cmd_sync, options)


@_command(cli, "reconcile", "counts and totals per entity type on both sides, and differences")
@click.option("--json", "json", is_flag=True, help="print the results as JSON (one object per entity)")
@click.option(
    "--entity",
    type=RECONCILE_ENTITY,
    multiple=True,
    help="reconcile only this entity, e.g. invoices (repeatable)  [default: all]",
)
@click.option(
    "--report",
    metavar="FILE.html",
    help="also write the reconciliation report: every difference by document, AR aging per customer on "
    "both sides, a chart of the totals",
)
@click.option("--csv", metavar="FILE.csv", help="also write the differences and the aging as CSV")
@click.option("--as-of", type=DAY, help="the report's aging date  [default: today]")
def reconcile(**options: Any) -> int:
    return _call(cmd_reconcile, options)


@_command(cli, "status", "ledger: synced / pending / failed / quarantined, with reasons")
@click.option("--type", "type", type=SOURCE_TYPE, help=TYPE_HELP)
@click.option("--json", "json", is_flag=True, help="print counts and records needing attention as JSON")
@click.option("--limit", type=POSITIVE, default=50, help="records needing attention to list")
def status(**options: Any) -> int:
    return _call(cmd_status, options)


@_command(cli, "retry", "re-drive failed/quarantined records after a fix (resets, re-runs)")
@click.option("--type", "type", type=SOURCE_TYPE, help=TYPE_HELP)
@click.option("--id", "id", metavar="ID", help="only this source record id")
@click.option("--dry-run", is_flag=True, help="list what would be retried; change nothing")
def retry(**options: Any) -> int:
    return _call(cmd_retry, options)


@_command(cli, "dunning", "sync Rev.io account status (dunning/collections) to QBO once")
def dunning(**options: Any) -> int:
    return _call(cmd_dunning, options)


@_command(cli, "drift", "detect QBO documents changed, voided or deleted outside revqb; restore by policy")
@click.option("--json", "json", is_flag=True, help="print the pass and the open drift as JSON")
def drift(**options: Any) -> int:
    return _call(cmd_drift, options)


webhooks = _group("webhooks", "receive Rev.io (and QBO) webhook notifications for near-real-time syncs")


@_command(webhooks, "serve", "store notifications until stopped; register the receiver with Rev.io first")
@HOST
@click.option("--port", type=NON_NEGATIVE, default=8787, help="port to listen on")
@click.option(
    "--register/--no-register",
    default=True,
    help="register the receiver and its subscriptions with Rev.io (REVQB_WEBHOOK_PUBLIC_URL)",
)
def webhooks_serve(**options: Any) -> int:
    return _call(cmd_webhooks_serve, options)


tokens = _group("tokens", "the QBO OAuth tokens kept (encrypted) in the staging database")


@_command(tokens, "rotate", "re-encrypt the stored QBO tokens with the first key of REVQB_TOKEN_KEY")
def rotate(**options: Any) -> int:
    return _call(cmd_tokens_rotate, options)


mappings = _group("mappings", "check the mapping file against Rev.io, or write a starter")


@_command(mappings, "check", "list what the Rev.io data needs that the mapping file lacks")
@click.option(
    "--mapping", metavar="FILE", help="mapping file  [default: REVQB_MAPPING_FILE, else the packaged one]"
)
@DAYS_BACK
@SINCE
@click.option("--strict", is_flag=True, help="catalog entries not used yet also fail")
@click.option("--json", "json", is_flag=True, help="print the report as JSON")
@click.option("--verbose", is_flag=True, help="also list products mapped by catch-all rules")
def mappings_check(**options: Any) -> int:
    return _call(cmd_mappings_check, options)


@_command(mappings, "init", "write a commented starter mapping file from the Rev.io catalog")
@click.option("--output", metavar="FILE", help="file to write  [default: print it]")
@click.option("--force", is_flag=True, help="overwrite --output if it exists")
@DAYS_BACK
@SINCE
def mappings_init(**options: Any) -> int:
    return _call(cmd_mappings_init, options)


sandbox = _group("sandbox", "the bundled Rev.io and QBO sandbox servers")


@_command(sandbox, "serve", "run both sandboxes until stopped (prints the settings to use)")
@HOST
@click.option("--revio-port", type=NON_NEGATIVE, default=8701, help="Rev.io sandbox port (0: any free port)")
@click.option("--qbo-port", type=NON_NEGATIVE, default=8702, help="QBO sandbox port (0: any free port)")
@click.option("--seed", type=NON_NEGATIVE, default=7, help="random seed of the sandbox data")
@click.option("--customers", type=POSITIVE, default=25, help="Rev.io customers to seed")
@click.option("--months", type=POSITIVE, default=1, help="months of billing to seed")
@click.option("--time-scale", type=POSITIVE_FLOAT, default=1.0, help="Rev.io rate-limit windows, x real time")
@click.option("--faults", default=None, metavar="SPEC", help=FAULTS_HELP)
@click.option(
    "--latency",
    type=FLOAT,
    default=None,
    help="seconds per QBO API request  [default: 0.15: a serial client stays under 10/s]",
)
@click.option("--empty", is_flag=True, help="QBO company with reference data only")
@click.option("--tls", is_flag=True, help="serve HTTPS with a generated CA (its path is printed)")
@click.option(
    "--tls-dir",
    default=None,
    metavar="DIR",
    help="where --tls writes ca.pem / server.pem  [default: a temp dir]",
)
def serve(**options: Any) -> int:
    return _call(cmd_sandbox_serve, options)


def _print_usage_error(ctx: click.Context | None, message: str) -> None:
    """``usage: revqb sync [OPTIONS]`` and ``revqb sync: error: <message>`` on stderr."""
    usage = ctx.get_usage() if ctx is not None else "Usage: revqb [OPTIONS] COMMAND [ARGS]..."
    err(usage.replace("Usage:", "usage:", 1))
    err(f"{ctx.command_path if ctx is not None else 'revqb'}: error: {message}")


def _usage_message(exc: click.UsageError) -> str:
    """A bad value names its option as ``argument --days: ...``; other usage errors keep click's text."""
    param = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and param is not None and getattr(param, "opts", None):
        return f"argument {param.opts[0]}: {exc.message}"
    return exc.format_message()


def _debug() -> bool:
    flag = os.environ.get("REVQB_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return flag or any(_DEBUG)


def _quiet_stdout() -> None:
    """After a closed pipe: send the rest of stdout to /dev/null so the exit flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every expected failure is one line on stderr and an exit code (see --help).

    Bad arguments raise ``SystemExit(2)`` after the usage line and the error, ``--help`` ``SystemExit(0)``.
    """
    from revqb_pipeline.clients.errors import ApiError, OAuthError, QBOAuthError, RevioAuthError
    from revqb_pipeline.connections import ConnectionsError
    from revqb_pipeline.mapping.config import MappingConfigError
    from revqb_pipeline.preflight import PreflightFailed

    load_dotenv_into_environ()
    _DEBUG.clear()
    args = list(sys.argv[1:] if argv is None else argv)
    selected = os.environ.get("REVQB_CONNECTION")
    try:
        with cli.make_context("revqb", args) as ctx:
            return int(cli.invoke(ctx) or 0)
    except click.exceptions.NoArgsIsHelpError as exc:  # `revqb` or `revqb mappings` alone: the help
        err(exc.format_message())
        raise SystemExit(EXIT_CONFIG) from None
    except click.exceptions.Exit as exc:  # --help
        raise SystemExit(exc.exit_code) from None
    except click.UsageError as exc:
        _print_usage_error(exc.ctx, _usage_message(exc))
        raise SystemExit(EXIT_CONFIG) from None
    except PreflightFailed as exc:
        for problem in exc.problems:
            err(str(problem))
        return EXIT_CONFIG
    except MappingConfigError as exc:
        for where, message in exc.issues:
            err(f"{where}: {message}")
        return EXIT_CONFIG
    except ConnectionsError as exc:
        err(f"revqb: {exc}")
        return EXIT_CONFIG
    except Interrupted as exc:
        err(f"revqb: stopped by {exc}")
        return 128 + exc.signum
    except (KeyboardInterrupt, click.Abort):
        err("revqb: interrupted")
        return 128 + signal.SIGINT
    except BrokenPipeError:
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except ApiError as exc:
        if _debug():
            raise
        cause = getattr(exc, "permanent_cause", None)
        if isinstance(cause, str) and cause:
            err(f"{cause} (run `revqb check`)")
            return EXIT_CONFIG
        permanent = isinstance(exc, RevioAuthError | QBOAuthError) or (
            isinstance(exc, OAuthError) and exc.needs_reauth
        )
        hint = " (a setting is wrong: run `revqb check`)" if permanent else ""
        err(f"revqb: {_one_line(exc)}{hint}")
        return EXIT_CONFIG if permanent else EXIT_FAILURE
    except Exception as exc:
        import sqlalchemy.exc as sa_exc

        from revqb_pipeline.settings import safe_db_url

        if _debug():
            raise
        from revqb_pipeline.staging.tokens import TokenStoreError

        if isinstance(exc, TokenStoreError):  # messages name REVQB_TOKEN_KEY / the realm, never a token
            err(_one_line(exc))
            return EXIT_CONFIG
        if isinstance(exc, sa_exc.OperationalError | sa_exc.ArgumentError):
            url = safe_db_url(os.environ.get("REVQB_DB_URL", "") or "the default SQLite file")
            reason = _one_line(getattr(exc, "orig", None) or exc)
            err(f"REVQB_DB_URL: the staging database {url} failed: {reason}")
            return EXIT_CONFIG
        err(f"revqb: unexpected error: {type(exc).__name__}: {_one_line(exc)} (--debug shows the traceback)")
        return EXIT_FAILURE
    finally:  # --connection holds for this command only (main() may run again in the same process)
        if selected is None:
            os.environ.pop("REVQB_CONNECTION", None)
        else:
            os.environ["REVQB_CONNECTION"] = selected
