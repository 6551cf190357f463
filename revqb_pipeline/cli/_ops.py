"""``revqb retry`` and ``revqb dunning``: re-drive failed records, sync account status once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from revqb_pipeline.cli._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_RECORDS,
    require,
    say,
    settings_or_exit,
)
from revqb_pipeline.cli._runs import SyncReport, local_instance, run_partitions, stopped
from revqb_pipeline.cli._signals import graceful_signals

STATUS_JOB = "customer_status_job"


def run_status_job(instance: Any) -> bool:
    """Run the account status sync once through Dagster; print its metadata."""
    from revqb_pipeline.definitions import defs

    result = defs().resolve_job_def(STATUS_JOB).execute_in_process(instance=instance, raise_on_error=False)
    for event in result.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        meta = {k: v.value for k, v in mat.metadata.items() if isinstance(v.value, int | float)}
        say(f"    {mat.asset_key.to_user_string()}: " + ", ".join(f"{k}={v}" for k, v in meta.items()))
    if not result.success:
        for ev in result.all_events:
            if ev.is_step_failure and ev.step_failure_data.error:
                first = ev.step_failure_data.error.message.strip().splitlines()[0]
                say(f"    step {ev.step_key} failed: {first}")
    say(f"    {STATUS_JOB} {'done' if result.success else 'FAILED'} (run {result.run_id})")
    return result.success


def cmd_dunning(args: SimpleNamespace) -> int:
    """Run the Rev.io account status -> QBO notes sync once (alerts included)."""
    require(settings_or_exit())
    with local_instance() as inst:
        return EXIT_OK if run_status_job(inst) else EXIT_FAILURE


def cmd_retry(args: SimpleNamespace) -> int:
    """Reset failed/quarantined records and re-run their syncs through Dagster.

    Exit 0 when all of them synced, 3 when some are still quarantined/failed, 1 when a run failed,
    130/143 when stopped by a signal (no further partition starts).
    """
    from revqb_pipeline.notify import Notifier
    from revqb_pipeline.staging.ledger import LedgerStatus
    from revqb_pipeline.sync.failures import (
        QUEUE_STATUSES,
        alert_new_failures,
        failure_queue,
        format_queue,
        plan_retry,
        reset_for_retry,
    )
    from revqb_pipeline.sync.runtime import Runtime

    settings = settings_or_exit()
    if args.dry_run:
        require(settings, need_revio=False, need_qbo=False, need_mapping=False, db_must_exist=True)
    else:
        require(settings, db_must_exist=True)
    rt = Runtime(settings)
    if args.dry_run:
        plan = plan_retry(rt.ledger, args.type, args.id)
        say(format_queue(plan.items))
        say(f"would reset {len(plan.items)} record(s); partitions: {', '.join(plan.partitions) or '-'}")
        return EXIT_OK
    plan = reset_for_retry(rt.ledger, args.type, args.id)
    if not plan.items:
        say("nothing to retry: no failed or quarantined records match")
        return EXIT_OK
    say(f"reset {plan.reset} record(s) to pending; re-running {len(plan.partitions)} partition(s)")
    report = SyncReport()
    ok = True
    with graceful_signals() as stop, local_instance() as inst:
        if plan.partitions:
            report = run_partitions(plan.partitions, instance=inst)
            if stop.requested:
                return stopped(stop, report)
        if plan.status_sync:
            ok = run_status_job(inst)
    ok = ok and bool(report)
    for item in plan.unscheduled:
        say(f"  {item.source_type} {item.source_id}: no partition recorded; run `revqb sync` for its day")
    wanted = {(i.source_type, i.source_id) for i in plan.items}
    still = [
        i
        for i in failure_queue(rt.ledger, args.type, args.id, (*QUEUE_STATUSES, LedgerStatus.PENDING))
        if (i.source_type, i.source_id) in wanted
    ]
    alert_new_failures(rt.ledger, Notifier.from_os_env(rt.engine))
    if still:
        say("still not synced:")
        say(format_queue(still))
        return EXIT_FAILURE if not ok else EXIT_RECORDS
    say(f"all {len(plan.items)} record(s) synced" if ok else "records synced, but a run failed (see above)")
    return EXIT_OK if ok else EXIT_FAILURE
