"""Running Dagster jobs from the CLI: the local instance, one run per partition, and what they did."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from revqb_pipeline.cli._common import EXIT_FAILURE, EXIT_OK, EXIT_RECORDS, err, say
from revqb_pipeline.cli._signals import STOP, StopSignal, execute, quiet_console, stop_gate

LOCAL_DAGSTER_HOME = Path(".revqb") / "dagster_home"


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

    After a SIGINT/SIGTERM (under ``graceful_signals``) no further partition starts.
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
        say(f"[{n}/{len(partitions)}] {job_name} partition {pk}")
        result = execute(
            lambda pk=pk: job.execute_in_process(
                partition_key=pk,
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        )
        report.partitions.append(pk)
        _report_run(result, pk, report)
        if not result.success and STOP.requested and _canceled(result):
            report.not_run = list(partitions[n:])
            say(f"    stopped after its current step ({signal.Signals(STOP.signum or 15).name})")
            break
        if not result.success:
            report.failed_runs.append(pk)
            for ev in result.all_events:
                if ev.is_step_failure:
                    say(f"    step {ev.step_key} failed: {_step_failure_line(ev.step_failure_data)}")
        say(f"    {'done' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s")
    return report


def _report_run(result: Any, pk: str, report: SyncReport) -> None:
    """One line per materialized asset and per failed check; count quarantined/failed records."""
    for event in result.all_events:
        if not event.is_step_materialization:
            continue
        mat = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float | str)}
        quarantined, failed = meta.get("quarantined"), meta.get("failed")
        report.quarantined += quarantined if isinstance(quarantined, int) else 0
        report.failed_records += failed if isinstance(failed, int) else 0
        shown = ", ".join(f"{k}={v}" for k, v in meta.items() if v not in (0, "") and len(str(v)) < 40)
        say(f"    {mat.asset_key.to_user_string():<32} {shown}")
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            name = f"{check.asset_key.to_user_string()}:{check.check_name}"
            severity = getattr(getattr(check, "severity", None), "value", "ERROR")
            if severity == "ERROR":
                report.failed_checks.append(f"{pk} {name}")
            say(f"    check FAILED: {name}" + (" (warning)" if severity != "ERROR" else ""))


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
