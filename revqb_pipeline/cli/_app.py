"""The ``revqb`` command: check, demo, sync, reconcile, status, retry, mappings and the sandbox servers.

Only the ``sandbox`` and ``demo`` commands (``_sandbox.py``) load the sandbox package, lazily.
Settings come from the environment and ``.env`` (``revqb_pipeline/settings.py``); every command that talks
to Rev.io, QBO or the staging database runs the matching preflight first (``revqb_pipeline/preflight.py``).
This module holds the argument parser and :func:`main`, which maps every expected failure to one line on
stderr and an exit code; the commands live in the sibling modules.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from revqb_pipeline.cli._args import (
    day,
    day_text,
    int_at_least,
    positive_float,
    reconcile_entity,
    source_type,
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
from revqb_pipeline.cli._sandbox import add_serve_options, cmd_demo, cmd_sandbox_serve
from revqb_pipeline.cli._signals import Interrupted
from revqb_pipeline.cli._status import cmd_reconcile, cmd_status
from revqb_pipeline.cli._sync import cmd_sync
from revqb_pipeline.cli._tokens import cmd_tokens_rotate
from revqb_pipeline.settings import load_dotenv_into_environ


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revqb",
        description="Rev.io -> QuickBooks Online sync.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)
    positive, non_negative = int_at_least(1), int_at_least(0)

    check = sub.add_parser("check", help="verify settings, Rev.io, QBO, the staging DB and the mapping file")
    check.add_argument("--timeout", type=positive_float, default=10.0, help="seconds (default 10)")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="run the whole pipeline against the bundled sandboxes and reconcile")
    demo.add_argument("--customers", type=positive, default=25)
    demo.add_argument("--seed", type=non_negative, default=7)
    demo.add_argument("--months", type=positive, default=1)
    demo.add_argument("--faults", default=None, help="fault spec, e.g. qbo.drop_after_commit=0.1")
    demo.add_argument("--workdir", default=None)
    demo.set_defaults(func=cmd_demo)

    sync = sub.add_parser("sync", help="sync Rev.io days to QBO (configured by environment variables / .env)")
    sync.add_argument("--partition", action="append", type=day_text, help="day YYYY-MM-DD (repeatable)")
    sync.add_argument("--since", type=day, help="first day YYYY-MM-DD (default: --days before --to)")
    sync.add_argument("--to", type=day, help="last day YYYY-MM-DD (default: today)")
    sync.add_argument("--days", type=non_negative, default=3)
    sync.add_argument(
        "--days-per-run",
        type=positive,
        default=1,
        metavar="N",
        help="group the days into Dagster runs over partition ranges of up to N days each (quiet days "
        "between included), e.g. 31 for a history backfill: a year in 12 runs; default 1 (a run per day)",
    )
    sync.set_defaults(func=cmd_sync)

    rec = sub.add_parser("reconcile", help="counts and totals per entity type on both sides, and differences")
    rec.add_argument("--json", action="store_true")
    rec.add_argument("--entity", action="append", type=reconcile_entity, help="e.g. invoices (repeatable)")
    rec.set_defaults(func=cmd_reconcile)

    status = sub.add_parser("status", help="ledger: synced / pending / failed / quarantined, with reasons")
    status.add_argument("--type", type=source_type, help=f"one of {', '.join(SOURCE_TYPES)}")
    status.add_argument("--json", action="store_true")
    status.add_argument("--limit", type=positive, default=50)
    status.set_defaults(func=cmd_status)

    retry = sub.add_parser("retry", help="re-drive failed/quarantined records after a fix (resets, re-runs)")
    retry.add_argument("--type", type=source_type, help=f"one of {', '.join(SOURCE_TYPES)}")
    retry.add_argument("--id", help="one source record id")
    retry.add_argument("--dry-run", action="store_true", help="list what would be retried")
    retry.set_defaults(func=cmd_retry)

    dunning = sub.add_parser("dunning", help="sync Rev.io account status (dunning/collections) to QBO once")
    dunning.set_defaults(func=cmd_dunning)

    tokens = sub.add_parser("tokens", help="the QBO OAuth tokens kept (encrypted) in the staging database")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True)
    rotate = tokens_sub.add_parser("rotate", help="re-encrypt them with the first key of REVQB_TOKEN_KEY")
    rotate.set_defaults(func=cmd_tokens_rotate)

    mappings = sub.add_parser("mappings", help="check the mapping file against Rev.io, or write a starter")
    msub = mappings.add_subparsers(dest="mappings_command", required=True)
    mcheck = msub.add_parser("check", help="list what the Rev.io data needs that the mapping file lacks")
    mcheck.add_argument("--mapping", help="mapping file (default: REVQB_MAPPING_FILE, else the packaged one)")
    mcheck.add_argument("--days", type=non_negative, default=90, help="records of the last N days (0: all)")
    mcheck.add_argument("--since", type=day_text, help="read records created since YYYY-MM-DD (not --days)")
    mcheck.add_argument("--strict", action="store_true", help="catalog entries not used yet also fail")
    mcheck.add_argument("--json", action="store_true")
    mcheck.add_argument("--verbose", action="store_true", help="also list products mapped by catch-all rules")
    mcheck.set_defaults(func=cmd_mappings_check)
    minit = msub.add_parser("init", help="write a commented starter mapping file from the Rev.io catalog")
    minit.add_argument("--output", help="file to write (default: print it)")
    minit.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    minit.add_argument("--days", type=non_negative, default=90, help="records of the last N days (0: all)")
    minit.add_argument("--since", type=day_text, help="read records created since YYYY-MM-DD (not --days)")
    minit.set_defaults(func=cmd_mappings_init)

    sandbox = sub.add_parser("sandbox", help="the bundled Rev.io and QBO sandbox servers")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = sandbox_sub.add_parser("serve", help="run both sandboxes until stopped")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--revio-port", type=non_negative, default=8701)
    serve.add_argument("--qbo-port", type=non_negative, default=8702)
    serve.add_argument("--seed", type=non_negative, default=7)
    serve.add_argument("--customers", type=positive, default=25)
    serve.add_argument("--months", type=positive, default=1)
    serve.add_argument("--time-scale", type=positive_float, default=1.0)
    serve.add_argument("--faults", default=None)
    add_serve_options(serve)
    serve.set_defaults(func=cmd_sandbox_serve)
    return parser


def _debug(args: argparse.Namespace | None) -> bool:
    flag = os.environ.get("REVQB_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
    return flag or bool(getattr(args, "debug", False))


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
    """Run one command; every expected failure is one line on stderr and an exit code (see --help)."""
    from revqb_pipeline.clients.errors import ApiError, OAuthError, QBOAuthError, RevioAuthError
    from revqb_pipeline.mapping.config import MappingConfigError
    from revqb_pipeline.preflight import PreflightFailed

    load_dotenv_into_environ()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        err(f"revqb: error: {exc}")
        return EXIT_CONFIG
    except PreflightFailed as exc:
        for problem in exc.problems:
            err(str(problem))
        return EXIT_CONFIG
    except MappingConfigError as exc:
        for where, message in exc.issues:
            err(f"{where}: {message}")
        return EXIT_CONFIG
    except Interrupted as exc:
        err(f"revqb: stopped by {exc}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        err("revqb: interrupted")
        return 128 + signal.SIGINT
    except BrokenPipeError:
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except ApiError as exc:
        if _debug(args):
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

        if _debug(args):
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
