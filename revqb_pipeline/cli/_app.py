"""The ``revqb`` command: check, demo, sync, reconcile, status, retry, mappings and the sandbox servers.

Only the ``sandbox`` and ``demo`` commands load ``revqb_sandbox`` (lazily); the pipeline never does.
Settings come from the environment and ``.env`` (``revqb_pipeline/settings.py``); every command that talks
to Rev.io, QBO or the staging database runs the matching preflight first (``revqb_pipeline/preflight.py``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from revqb_pipeline.settings import RevqbSettings, load_dotenv_into_environ

LOCAL_DAGSTER_HOME = Path(".revqb") / "dagster_home"

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


def _print(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- signals ---------------------------------------------------------------------------------------------
class Interrupted(Exception):
    """A SIGINT / SIGTERM stopped the command; the exit code is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@dataclass
class StopSignal:
    """Set by the first SIGINT/SIGTERM. While a Dagster run is in flight (``in_run``) it only asks to stop
    once that run finished its steps; otherwise it stops right away. A second signal exits at once."""

    signum: int | None = None
    in_run: bool = False
    active: bool = False

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            _err(f"revqb: second {name}: aborting now (a re-run resolves any write in flight)")
            os._exit(128 + signum)
        self.signum = signum
        if self.in_run:
            _err(f"revqb: {name} received: stopping after the current step (send it again to abort at once)")
        else:
            raise Interrupted(signum)


STOP = StopSignal()


@contextmanager
def graceful_signals() -> Iterator[StopSignal]:
    """Route SIGINT/SIGTERM to :data:`STOP` (main thread only); restore the previous handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    STOP.signum, STOP.in_run, STOP.active = None, False, True
    for sig in previous:
        signal.signal(sig, STOP.handle)
    try:
        yield STOP
    finally:
        STOP.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop_gate_fn(context: Any, _events: Any) -> Any:
    """Hook run by Dagster after every step: once a stop was requested, cancel the run here, between
    steps (the finished step's ledger writes are complete; the next step never starts)."""
    import dagster as dg
    from dagster._core.definitions.events import HookExecutionResult

    if STOP.requested:
        run = context.instance.get_run_by_id(context.run_id)
        if run is not None:
            name = signal.Signals(STOP.signum).name if STOP.signum else "signal"
            context.instance.report_run_canceling(
                run, message=f"revqb: {name}; stopping after {context.step_key}"
            )
        raise dg.DagsterExecutionInterruptedError()
    return HookExecutionResult(hook_name="revqb_stop_gate", is_skipped=False)


def stop_gate() -> Any:
    """The hook definition of :func:`_stop_gate_fn` (built lazily: importing dagster is slow)."""
    import dagster as dg

    return dg.HookDefinition(name="revqb_stop_gate", hook_fn=_stop_gate_fn)


def _not_the_cancel_trace(record: logging.LogRecord) -> bool:
    """Drop Dagster's RUN_CANCELED record (a stack trace of the stop gate); revqb prints one line."""
    return not (STOP.requested and "RUN_CANCELED" in record.getMessage())


def quiet_console() -> Any:
    """Dagster's colored console logger without the cancellation trace (same config, same ``console`` key)."""
    import dagster as dg

    base = dg.colored_console_logger

    @dg.logger(config_schema=base.config_schema, description=base.description)
    def console(init_context: Any) -> logging.Logger:
        log = base.logger_fn(init_context)
        log.addFilter(_not_the_cancel_trace)
        return log

    return console


def _execute(fn: Callable[[], Any]) -> Any:
    """Run one Dagster run. Under :func:`graceful_signals` it runs in a worker thread, where Dagster does
    not install its own interrupt handlers (which would raise inside the running step): a signal only sets
    :data:`STOP`, the :func:`stop_gate` hook cancels the run after the current step, and
    :func:`run_partitions` starts no further partition."""
    if not STOP.active:
        return fn()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # re-raised in the main thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="revqb-run", daemon=True)
    STOP.in_run = True
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.2)
    finally:
        STOP.in_run = False
    if "error" in box:
        raise box["error"]
    return box["result"]


# -- running the Dagster job -------------------------------------------------------------------------------
@contextmanager
def local_instance(home: Path | None = None) -> Iterator[Any]:
    """The Dagster instance for CLI runs: $DAGSTER_HOME when set, else a local SQLite one under .revqb/."""
    import dagster as dg

    if os.environ.get("DAGSTER_HOME"):
        with dg.DagsterInstance.get() as inst:
            yield inst
        return
    home = home or LOCAL_DAGSTER_HOME
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").touch()
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


@dataclass
class SyncReport:
    """What :func:`run_partitions` did: partitions run / failed, records quarantined, checks failed, and
    the partitions left out after a stop signal. Truthy when no run failed."""

    partitions: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    quarantined: int = 0
    failed_records: int = 0
    failed_checks: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return not self.failed_runs

    def merge(self, other: SyncReport) -> SyncReport:
        self.partitions += other.partitions
        self.failed_runs += other.failed_runs
        self.quarantined += other.quarantined
        self.failed_records += other.failed_records
        self.failed_checks += other.failed_checks
        self.not_run += other.not_run
        return self

    @property
    def exit_code(self) -> int:
        """1 when a run failed, 3 when records were quarantined/failed or a check failed, else 0."""
        if self.failed_runs:
            return EXIT_FAILURE
        if self.quarantined or self.failed_records or self.failed_checks:
            return EXIT_RECORDS
        return EXIT_OK

    def summary(self) -> str:
        parts = [f"{len(self.partitions)} partition(s) run"]
        if self.failed_runs:
            parts.append(f"{len(self.failed_runs)} failed ({', '.join(self.failed_runs)})")
        if self.quarantined:
            parts.append(f"{self.quarantined} record(s) quarantined")
        if self.failed_records:
            parts.append(f"{self.failed_records} record(s) failed")
        if self.failed_checks:
            parts.append(f"{len(self.failed_checks)} check(s) failed")
        if self.not_run:
            parts.append(f"{len(self.not_run)} not run ({', '.join(self.not_run)})")
        if self.quarantined or self.failed_records:
            parts.append("see `revqb status`")
        return "; ".join(parts)


def run_partitions(
    partitions: list[str], job_name: str = "revqb_sync_job", instance: Any = None
) -> SyncReport:
    """Materialize the job for each partition through Dagster, printing one line per asset.

    After a SIGINT/SIGTERM (under :func:`graceful_signals`) no further partition starts.
    """
    from revqb_pipeline.definitions import defs

    logging.getLogger("dagster").setLevel(logging.WARNING)
    job = defs().resolve_job_def(job_name)
    if STOP.active:
        job = job.with_hooks({stop_gate()}).with_logger_defs({"console": quiet_console()})
    report = SyncReport()
    for n, pk in enumerate(partitions, 1):
        if STOP.requested:
            report.not_run = list(partitions[n - 1 :])
            break
        started = time.monotonic()
        _print(f"[{n}/{len(partitions)}] {job_name} partition {pk}")
        result = _execute(
            lambda pk=pk: job.execute_in_process(
                partition_key=pk,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        )
        report.partitions.append(pk)
        for event in result.all_events:
            if not event.is_step_materialization:
                continue
            mat = event.step_materialization_data.materialization
            meta = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float | str)}
            quarantined, failed = meta.get("quarantined"), meta.get("failed")
            report.quarantined += quarantined if isinstance(quarantined, int) else 0
            report.failed_records += failed if isinstance(failed, int) else 0
            shown = ", ".join(f"{k}={v}" for k, v in meta.items() if v not in (0, "") and len(str(v)) < 40)
            _print(f"    {mat.asset_key.to_user_string():<32} {shown}")
        for check in result.get_asset_check_evaluations():
            if not check.passed:
                name = f"{check.asset_key.to_user_string()}:{check.check_name}"
                severity = getattr(getattr(check, "severity", None), "value", "ERROR")
                if severity == "ERROR":
                    report.failed_checks.append(f"{pk} {name}")
                _print(f"    check FAILED: {name}" + (" (warning)" if severity != "ERROR" else ""))
        if not result.success and STOP.requested and _canceled(result):
            report.not_run = list(partitions[n:])
            _print(f"    stopped after its current step ({signal.Signals(STOP.signum or 15).name})")
            break
        if not result.success:
            report.failed_runs.append(pk)
            for ev in result.all_events:
                if ev.is_step_failure:
                    _print(f"    step {ev.step_key} failed: {_step_failure_line(ev.step_failure_data)}")
        _print(f"    {'done' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return report


def _step_failure_line(data: Any) -> str:
    """A failed step in one line: a ``dg.Failure``'s own description (the cause to fix), else the error's
    first line."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return str(user.description).strip().splitlines()[0]
    err = data.error
    return err.message.strip().splitlines()[0] if err else ""


def _canceled(result: Any) -> bool:
    import dagster as dg

    return result.dagster_run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.CANCELING)


def activity_dates(settings: RevqbSettings, start: date, end: date) -> list[str]:
    """Days (partition keys) from ``start`` to ``end`` on which Rev.io created bills, payments or credits."""
    from revqb_pipeline.sync.runtime import build_revio

    revio = build_revio(settings)
    window = {
        "created_start": datetime.combine(start, datetime.min.time()),
        "created_end": datetime.combine(end, datetime.max.time()).replace(microsecond=0),
    }
    days: set[str] = set()
    for records in (revio.bills(**window), revio.payments(**window), revio.credits(**window)):
        days.update(str(r.get("created_date") or "")[:10] for r in records)
    return sorted(d for d in days if d)


# -- preflight -----------------------------------------------------------------------------------------
def settings_or_exit() -> RevqbSettings:
    """The settings (environment + .env); a malformed value raises PreflightFailed (exit 2 in main)."""
    from revqb_pipeline.preflight import load_settings

    return load_settings()


def require(settings: RevqbSettings, **kwargs: Any) -> None:
    """Run the preflight checks a command needs; raise PreflightFailed (exit 2, one line each)."""
    from revqb_pipeline.preflight import ensure_ready

    ensure_ready(settings, **kwargs)


def cmd_check(args: argparse.Namespace) -> int:
    """Every preflight check, one line each: ``ok``, ``FAIL <SETTING>: <what to fix>`` or ``skip``."""
    from revqb_pipeline.preflight import PreflightFailed, run_checks

    try:
        settings = settings_or_exit()
    except PreflightFailed as exc:
        for problem in exc.problems:
            _print(f"FAIL  {problem}")
        return EXIT_CONFIG
    started = time.monotonic()
    checks = run_checks(settings, timeout_s=args.timeout, verify_refresh=True)
    for check in checks:
        if check.problems:
            for problem in check.problems:
                _print(f"FAIL  {problem}")
        elif check.skipped:
            _print(f"skip  {check.name}: {check.skipped}")
        else:
            _print(f"ok    {check.name}: {check.ok_detail}")
    bad = sum(len(c.problems) for c in checks)
    _print(f"{'all checks passed' if not bad else f'{bad} problem(s)'} in {time.monotonic() - started:.1f}s")
    return EXIT_CONFIG if bad else EXIT_OK


def cmd_tokens_rotate(args: argparse.Namespace) -> int:
    """Re-encrypt the stored QBO tokens with the first key of REVQB_TOKEN_KEY (after prepending a new key)."""
    from revqb_pipeline.staging.tokens import SqlTokenStore
    from revqb_pipeline.sync.runtime import engine_for

    settings = settings_or_exit()
    require(settings, need_revio=False, need_qbo=False, need_db=True, db_must_exist=True)
    count = SqlTokenStore(engine_for(settings.db_url), settings.token_key).rotate()
    _print(f"re-encrypted the tokens of {count} realm(s) with the first key of REVQB_TOKEN_KEY")
    return EXIT_OK


# -- commands ------------------------------------------------------------------------------------------
def cmd_sync(args: argparse.Namespace) -> int:
    end = args.to or date.today()
    start = args.since or end - timedelta(days=args.days)
    if not args.partition and start > end:
        raise UsageError(f"--since {start} is after --to {end}")
    settings = settings_or_exit()
    require(settings)
    with graceful_signals() as stop:
        if args.partition:
            partitions = sorted(set(args.partition))
        else:
            partitions = activity_dates(settings, start, end)
        if not partitions:
            _print("no Rev.io bills, payments or credits in that window; nothing to sync")
            return EXIT_OK
        with local_instance() as inst:
            report = run_partitions(partitions, instance=inst)
        if stop.requested:
            return _stopped(stop, report)
        _alert_failures(settings)
    _print(f"sync: {report.summary()}")
    return report.exit_code


def _stopped(stop: StopSignal, report: SyncReport) -> int:
    """One line after a graceful stop; the exit code is 128 + the signal number."""
    assert stop.signum is not None
    rest = f"; not run: {', '.join(report.not_run)}" if report.not_run else ""
    _err(
        f"revqb: stopped by {signal.Signals(stop.signum).name} after {len(report.partitions)} partition(s)"
        f"{rest}; run the same command again to continue"
    )
    return 128 + stop.signum


def _alert_failures(settings: RevqbSettings) -> None:
    """Alert (once each) the records this sync quarantined, through the configured channels."""
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.sync.failures import alert_new_failures
    from revqb_pipeline.sync.runtime import Runtime

    rt = Runtime(settings)
    alert_new_failures(rt.ledger, Notifier.from_os_env(rt.engine))


def cmd_reconcile(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.reconcile import format_table, reconcile
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    require(settings, db_must_exist=True)
    results = reconcile(Runtime(settings), args.entity or None)
    if args.json:
        _print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        _print(format_table(results))
    return EXIT_OK if all(r.agrees for r in results) else EXIT_FAILURE


def cmd_status(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    require(settings, need_revio=False, need_qbo=False, need_mapping=False, db_must_exist=True)
    rt = Runtime(settings)
    summary = rt.ledger.summary()
    if args.json:
        problems = [
            {
                "source_type": r.source_type,
                "source_id": r.source_id,
                "status": str(r.status),
                "reason": r.last_error,
            }
            for r in rt.ledger.problems()
            if not args.type or r.source_type == args.type
        ]
        if args.type:
            summary = {k: v for k, v in summary.items() if k == args.type}
        _print(json.dumps({"summary": summary, "problems": problems}, indent=2, default=str))
        return EXIT_OK
    statuses = ["synced", "pending", "in_flight", "waiting", "failed", "quarantined", "voided"]
    _print(f"{'type':<20}" + "".join(f"{s:>12}" for s in statuses))
    for source_type in sorted(summary):
        if args.type and source_type != args.type:
            continue
        counts = summary[source_type]
        _print(f"{source_type:<20}" + "".join(f"{counts.get(s, 0):>12}" for s in statuses))
    if args.type and args.type not in summary:
        _print(f"(no {args.type} records in the ledger)")
    problems = [r for r in rt.ledger.problems() if not args.type or r.source_type == args.type]
    if problems:
        _print("\nneeds attention:")
        for r in problems[: args.limit]:
            code = f" [{r.last_error_code}]" if r.last_error_code else ""
            _print(f"  {r.source_type} {r.source_id}: {r.status}{code} {r.last_error or ''}")
        if len(problems) > args.limit:
            _print(f"  ... {len(problems) - args.limit} more (--limit)")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    from revqb_pipeline.cli._ops import cmd_retry as run

    return run(args)


def cmd_dunning(args: argparse.Namespace) -> int:
    from revqb_pipeline.cli._ops import cmd_dunning as run

    return run(args)


def cmd_mappings_check(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.mappings_cli import cmd_mappings_check as run

    return run(args)


def cmd_mappings_init(args: argparse.Namespace) -> int:
    from revqb_pipeline.sync.mappings_cli import cmd_mappings_init as run

    return run(args)


def cmd_sandbox_serve(args: argparse.Namespace) -> int:
    from revqb_sandbox.servers import serve

    serve(
        host=args.host,
        revio_port=args.revio_port,
        qbo_port=args.qbo_port,
        seed=args.seed,
        customers=args.customers,
        time_scale=args.time_scale,
        faults=args.faults,
        months=args.months,
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """Sandboxes + SQLite: seed a billing cycle, run the whole graph through Dagster, reconcile."""
    from revqb_pipeline.sync.reconcile import format_table, reconcile
    from revqb_pipeline.sync.runtime import Runtime
    from revqb_sandbox.servers import sandboxes

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="revqb-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "revqb.db"
    if db.exists():
        db.unlink()
    _print(f"revqb demo: sandboxes with {args.customers} customers (seed {args.seed}); staging DB {db}")
    with (
        graceful_signals() as stop,
        sandboxes(seed=args.seed, customers=args.customers, months=args.months, faults=args.faults) as sb,
    ):
        env = sb.env()
        env["REVQB_DB_URL"] = f"sqlite:///{db}"
        env["QBO_THROTTLE_BACKOFF_S"] = "1"
        os.environ.update(env)
        _print(f"  Rev.io sandbox {sb.revio_url}   QBO sandbox {sb.qbo_url}")
        settings = settings_or_exit()
        require(settings)
        partitions = activity_dates(settings, date(2000, 1, 1), date(2100, 1, 1))
        _print(f"  {len(partitions)} day(s) with Rev.io activity to sync: {', '.join(partitions)}")
        with local_instance(workdir / "dagster_home") as inst:
            report = run_partitions(partitions, instance=inst)
            if stop.requested:
                return _stopped(stop, report)
            months = sorted({f"{day[:7]}-01" for day in partitions})
            _print(f"  month-end revenue journals for {', '.join(m[:7] for m in months)}")
            report.merge(run_partitions(months, job_name="month_end_revenue_job", instance=inst))
            if stop.requested:
                return _stopped(stop, report)
        results = reconcile(Runtime(settings))
        _print("\nReconciliation (Rev.io vs QuickBooks Online):")
        _print(format_table(results))
        agrees = bool(report) and all(r.agrees for r in results)
        _print("\nRev.io and QBO agree to the cent." if agrees else "\nRev.io and QBO DISAGREE (see above).")
        _print(f"demo: {report.summary()}")
        if not all(r.agrees for r in results):
            return EXIT_FAILURE
        return report.exit_code


# -- argument types ------------------------------------------------------------------------------------
class UsageError(Exception):
    """Arguments that parse but do not make sense together (exit 2, like an argparse error)."""


def day(text: str) -> date:
    """``YYYY-MM-DD`` (argparse type)."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def day_text(text: str) -> str:
    """``YYYY-MM-DD`` kept as text (partition keys)."""
    return day(text).isoformat()


def _int_at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}: {text!r}")
        return value

    parse.__name__ = "number"
    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def source_type(text: str) -> str:
    """A ledger source type (argparse type)."""
    if text not in SOURCE_TYPES:
        raise argparse.ArgumentTypeError(f"unknown type {text!r}; choose from {', '.join(SOURCE_TYPES)}")
    return text


def reconcile_entity(text: str) -> str:
    """A registered reconciliation name, e.g. ``invoices`` (argparse type)."""
    import importlib

    from revqb_pipeline.sync.reconcile import RECONCILER_MODULES, RECONCILERS

    for module in RECONCILER_MODULES:
        importlib.import_module(module)
    if text in RECONCILERS:
        return text
    raise argparse.ArgumentTypeError(f"unknown entity {text!r}; choose from {', '.join(RECONCILERS)}")


# -- parser --------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revqb",
        description="Rev.io -> QuickBooks Online sync.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    sub = parser.add_subparsers(dest="command", required=True)
    positive, non_negative = _int_at_least(1), _int_at_least(0)

    check = sub.add_parser("check", help="verify settings, Rev.io, QBO, the staging DB and the mapping file")
    check.add_argument("--timeout", type=_positive_float, default=10.0, help="seconds (default 10)")
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
    serve.add_argument("--time-scale", type=_positive_float, default=1.0)
    serve.add_argument("--faults", default=None)
    serve.set_defaults(func=cmd_sandbox_serve)
    return parser


# -- entry point ---------------------------------------------------------------------------------------
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
        _err(f"revqb: error: {exc}")
        return EXIT_CONFIG
    except PreflightFailed as exc:
        for problem in exc.problems:
            _err(str(problem))
        return EXIT_CONFIG
    except MappingConfigError as exc:
        for where, message in exc.issues:
            _err(f"{where}: {message}")
        return EXIT_CONFIG
    except Interrupted as exc:
        _err(f"revqb: stopped by {exc}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _err("revqb: interrupted")
        return 128 + signal.SIGINT
    except BrokenPipeError:
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except ApiError as exc:
        if _debug(args):
            raise
        cause = getattr(exc, "permanent_cause", None)
        if isinstance(cause, str) and cause:
            _err(f"{cause} (run `revqb check`)")
            return EXIT_CONFIG
        permanent = isinstance(exc, RevioAuthError | QBOAuthError) or (
            isinstance(exc, OAuthError) and exc.needs_reauth
        )
        hint = " (a setting is wrong: run `revqb check`)" if permanent else ""
        _err(f"revqb: {_one_line(exc)}{hint}")
        return EXIT_CONFIG if permanent else EXIT_FAILURE
    except Exception as exc:
        import sqlalchemy.exc as sa_exc

        from revqb_pipeline.settings import safe_db_url

        if _debug(args):
            raise
        from revqb_pipeline.staging.tokens import TokenStoreError

        if isinstance(exc, TokenStoreError):  # messages name REVQB_TOKEN_KEY / the realm, never a token
            _err(_one_line(exc))
            return EXIT_CONFIG
        if isinstance(exc, sa_exc.OperationalError | sa_exc.ArgumentError):
            url = safe_db_url(os.environ.get("REVQB_DB_URL", "") or "the default SQLite file")
            reason = _one_line(getattr(exc, "orig", None) or exc)
            _err(f"REVQB_DB_URL: the staging database {url} failed: {reason}")
            return EXIT_CONFIG
        _err(f"revqb: unexpected error: {type(exc).__name__}: {_one_line(exc)} (--debug shows the traceback)")
        return EXIT_FAILURE
