"""Running Dagster jobs from the CLI: the local instance, one run per partition (or per range of days),
and what they did."""

from __future__ import annotations

import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from revqb_pipeline.cli._common import EXIT_FAILURE, EXIT_OK, EXIT_RECORDS, err
from revqb_pipeline.cli._progress import RunProgress, event_metadata, progress_logger, totals_in_dollars
from revqb_pipeline.cli._signals import STOP, StopSignal, execute, quiet_console, stop_gate
from revqb_pipeline.money import dollars

LOCAL_DAGSTER_HOME = Path(".revqb") / "dagster_home"
#: Dagster's run tags for a run over a partition range (what a backfill run carries).
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
#: A range run records one "materialization planned" event per asset for the whole range instead of one
#: per asset and day (SQLite instances): about 40% of a 31-day run's CPU. The trade-off, Dagster's: the
#: days of a failed range run show as missing, not failed, in the UI; ``revqb sync`` reports the failure.
PLANNED_SUBSET_ENV = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
#: What a QBO load step reports (``sync/steps.py: ACTIONS``), in the order the summaries list them.
WRITE_ACTIONS = ("created", "updated", "linked", "voided", "unchanged", "quarantined", "failed", "waiting")


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
    """What :func:`run_partitions` did: partitions run / failed, records quarantined, checks failed, the
    partitions left out after a stop signal, and the QBO writes per action (count and dollars). Truthy when
    no run failed."""

    partitions: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    quarantined: int = 0
    failed_records: int = 0
    failed_checks: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    actions: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return not self.failed_runs

    def merge(self, other: SyncReport) -> SyncReport:
        self.partitions += other.partitions
        self.failed_runs += other.failed_runs
        self.quarantined += other.quarantined
        self.failed_records += other.failed_records
        self.failed_checks += other.failed_checks
        self.not_run += other.not_run
        _add(self.actions, other.actions)
        _add(self.amounts, other.amounts)
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

    def totals(self) -> str:
        """``5 created ($1,234.56), 1 voided ($20.00), 3 unchanged``: the QBO writes of every run."""
        return actions_text(self.actions, self.amounts) or "nothing written to QBO"


def _add(into: dict[str, Any], more: dict[str, Any]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value


def actions_text(actions: dict[str, int], amounts: dict[str, Decimal]) -> str:
    """Counts per action in :data:`WRITE_ACTIONS` order, with dollars where the load reported an amount."""
    parts = []
    for action in WRITE_ACTIONS:
        if actions.get(action):
            money = f" ({dollars(amounts[action])})" if amounts.get(action) else ""  # customers: none
            parts.append(f"{actions[action]:,} {action}{money}")
    return ", ".join(parts)


def range_runs(days: list[str], days_per_run: int = 1) -> list[list[str]]:
    """``days`` (partition keys) grouped into runs, each spanning at most ``days_per_run`` calendar days
    from its first day, in date order; ``days_per_run=1``: one run per partition, in the order given."""
    if days_per_run <= 1:
        return [[day] for day in days]  # as given (month keys too)
    runs: list[list[str]] = []
    for day in sorted(set(days)):
        if runs and (date.fromisoformat(day) - date.fromisoformat(runs[-1][0])).days < days_per_run:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _run_label(days: list[str]) -> str:
    if len(days) == 1:
        return days[0]
    return f"{days[0]}...{days[-1]}"


def run_partitions(
    partitions: list[str],
    job_name: str = "revqb_sync_job",
    instance: Any = None,
    days_per_run: int = 1,
    verbose: bool = False,
) -> SyncReport:
    """Materialize the job for each partition through Dagster, showing progress as the runs execute
    (:class:`RunProgress`: a bar on a terminal, plain lines elsewhere; ``verbose``: a line per asset).

    ``days_per_run > 1`` groups the days into runs over partition ranges (first to last day of each
    group, quiet days between included), as a Dagster backfill does. After a SIGINT/SIGTERM (under
    ``graceful_signals``) no further run starts.
    """
    import dagster as dg

    from revqb_pipeline.definitions import defs

    logging.getLogger("dagster").setLevel(logging.WARNING)
    job = defs().resolve_job_def(job_name)
    runs = range_runs(partitions, days_per_run)
    report = SyncReport()
    with (
        warnings.catch_warnings(),
        RunProgress(len(runs), len(job.nodes_in_topological_order), verbose) as progress,
    ):
        for notice in (dg.BetaWarning, dg.PreviewWarning):  # Dagster's API notes, not the user's concern
            warnings.simplefilter("ignore", notice)
        console = quiet_console() if STOP.active else dg.colored_console_logger
        job = job.with_logger_defs({"console": console, "revqb_progress": progress_logger(progress.on_event)})
        if STOP.active:
            job = job.with_hooks({stop_gate()})
        for n, days in enumerate(runs, 1):
            if STOP.requested:
                report.not_run = [d for rest in runs[n - 1 :] for d in rest]
                break
            started = time.monotonic()
            label = _run_label(days)
            what = f"partition {label}" if len(days) == 1 else f"partitions {label} ({len(days)} active days)"
            progress.run_started(n, label, f"[{n}/{len(runs)}] {job_name} {what}")
            result = execute(lambda days=days: _execute(job, days, instance))
            report.partitions += days
            written = _report_run(result, label, report, progress)
            took = f"in {time.monotonic() - started:.1f}s"
            if not result.success and STOP.requested and _canceled(result):
                report.not_run = [d for rest in runs[n:] for d in rest]
                name = signal.Signals(STOP.signum or 15).name
                progress.run_finished(n, f"[{n}/{len(runs)}] {label} stopped after its current step ({name})")
                break
            if not result.success:
                report.failed_runs.append(label)
                for ev in result.all_events:
                    if ev.is_step_failure:
                        cause = _step_failure_line(ev.step_failure_data)
                        progress.line(f"    step {ev.step_key} failed: {cause}")
            state = "done" if result.success else "FAILED"
            progress.run_finished(n, f"[{n}/{len(runs)}] {label} {state} {took}: {written}")
    return report


def _execute(job: Any, days: list[str], instance: Any) -> Any:
    """One run of ``job``: a partition, or the partition range from the first to the last of ``days``."""
    config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}, "revqb_progress": {}}}
    if len(days) == 1:
        return job.execute_in_process(
            partition_key=days[0], instance=instance, raise_on_error=False, run_config=config
        )
    tags = {RANGE_START_TAG: days[0], RANGE_END_TAG: days[-1]}
    with _env(PLANNED_SUBSET_ENV, "true"):
        return job.execute_in_process(tags=tags, instance=instance, raise_on_error=False, run_config=config)


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """``name=value`` in the process environment for the block (restored after)."""
    saved = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def _report_run(result: Any, pk: str, report: SyncReport, progress: RunProgress) -> str:
    """Count the run's quarantined / failed records and QBO writes into ``report``; print failed checks;
    return the run's writes as text (``customers 5 created; invoices 5 created ($1,234.56)``).

    A range run records one materialization per day, each with the run's metadata: counted once."""
    seen: set[Any] = set()
    loads: list[str] = []
    quarantined_before, in_loads = report.quarantined + report.failed_records, 0
    for event in result.all_events:
        if not event.is_step_materialization:
            continue
        asset, meta = event_metadata(event)
        if asset in seen:
            continue
        seen.add(asset)
        quarantined, failed = meta.get("quarantined"), meta.get("failed")
        report.quarantined += quarantined if isinstance(quarantined, int) else 0
        report.failed_records += failed if isinstance(failed, int) else 0
        if isinstance(meta.get("created"), int):  # a QBO load step (sync/steps.py: report_metadata)
            actions = {a: meta[a] for a in WRITE_ACTIONS if isinstance(meta.get(a), int) and meta[a]}
            amounts = totals_in_dollars(str(meta.get("totals") or ""))
            in_loads += actions.get("quarantined", 0) + actions.get("failed", 0)
            _add(report.actions, actions)
            _add(report.amounts, {a: amounts[a] for a in actions if a in amounts})
            text = actions_text(actions, amounts)
            if text:
                loads.append(f"{asset.rsplit('/', 1)[-1]} {text}")
    for check in result.get_asset_check_evaluations():
        if check.partition is not None and "range_run" in check.metadata:
            continue  # a range run's per-day copy (defs/_results.py); the merged result counts once
        if not check.passed:
            name = f"{check.asset_key.to_user_string()}:{check.check_name}"
            severity = getattr(getattr(check, "severity", None), "value", "ERROR")
            if severity == "ERROR":
                report.failed_checks.append(f"{pk} {name}")
            progress.line(f"    check FAILED: {name}" + (" (warning)" if severity != "ERROR" else ""))
    staged = report.quarantined + report.failed_records - quarantined_before - in_loads
    if staged > 0:  # quarantined before any load (a malformed Rev.io record)
        loads.append(f"{staged} Rev.io record(s) quarantined")
    return "; ".join(loads) or "nothing to write"


def _step_failure_line(data: Any) -> str:
    """A failed step in one line: a ``dg.Failure``'s own description (the cause to fix), else the error's
    first line."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return str(user.description).strip().splitlines()[0]
    error = data.error
    return error.message.strip().splitlines()[0] if error else ""


def _canceled(result: Any) -> bool:
    import dagster as dg

    return result.dagster_run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.CANCELING)


def stopped(stop: StopSignal, report: SyncReport) -> int:
    """One line after a graceful stop; the exit code is 128 + the signal number."""
    assert stop.signum is not None
    rest = f"; not run: {', '.join(report.not_run)}" if report.not_run else ""
    err(
        f"revqb: stopped by {signal.Signals(stop.signum).name} after {len(report.partitions)} partition(s)"
        f"{rest}; run the same command again to continue"
    )
    return 128 + stop.signum
