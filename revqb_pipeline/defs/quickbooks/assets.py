"""QuickBooks: mapped payloads (checked before anything is posted) and the entities loaded into QBO.

Generated from ``revqb_pipeline.entities.STEPS``: each entity's payload step becomes
``quickbooks/<name>`` in the ``quickbooks_mapping`` group with its asset checks (blocking ones stop the
load in the same run), each load step ``quickbooks/<name>`` in the ``quickbooks`` group behind the QBO
pool and retry policy. A backfill range runs the step day after day (all days' invoices before any day's
payments, as the asset order goes: a payment still finds the earlier day's invoice); each check is
reported once for the range, failed if it failed on any day (the failing days named), so a blocking
check failing on one day stops the loads of the whole run and nothing of that day is posted.

Checks are partitioned like their asset: a one-day run's result carries its partition; a range run's merged
result has none (Dagster gives a range step no single partition), so each day's own outcome is also
logged in the run as the evaluation of that day's partition (metadata ``range_run``): it resolves the
check Dagster planned for that day, so no day's check stays "planned".
"""

from typing import Any

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import FINANCE_OPS, beta_quiet
from revqb_pipeline.defs._results import (
    check_result,
    dagster_metadata,
    day_check_evaluation,
    merge_checks,
    merge_days,
)
from revqb_pipeline.defs.partitions import bill_date_partitions, daily_backfill, run_days
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.entities import STEPS
from revqb_pipeline.sync.steps import Step

RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
MAPPING: dict[str, Any] = {
    "group_name": "quickbooks_mapping",
    "partitions_def": bill_date_partitions,
    "backfill_policy": daily_backfill,
    "owners": [FINANCE_OPS],
}
LOAD: dict[str, Any] = {
    "group_name": "quickbooks",
    "partitions_def": bill_date_partitions,
    "backfill_policy": daily_backfill,
    "pool": connections.pool("qbo"),
    "retry_policy": RETRY,
    "kinds": {"python"},
    "owners": [FINANCE_OPS],
}


@beta_quiet
def step_asset(step: Step) -> dg.AssetsDefinition:
    """``quickbooks/<step.name>`` running ``step.run`` on each day of the run (one, or a backfill range)."""
    key = dg.AssetKey([*connections.asset_prefix(), "quickbooks", step.name])
    blocking = {c.name: c.blocking for c in step.checks}
    checks = [  # partitions_def on a check spec is a preview in 1.13 (@beta_quiet): results carry it
        dg.AssetCheckSpec(
            c.name,
            asset=key,
            blocking=c.blocking,
            description=c.description,
            partitions_def=bill_date_partitions,
        )
        for c in step.checks
    ]

    @dg.asset(
        key=key,
        deps=[
            dg.AssetKey([*connections.asset_prefix(), *dg.AssetKey.from_user_string(d).path])
            for d in step.deps
        ],
        description=step.description,
        check_specs=checks or None,
        **(LOAD if step.load else MAPPING),
    )
    @fail_fast
    def _step(
        context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource, revio: RevioResource
    ):
        rt = staging.runtime(revio=revio, qbo=qbo)
        results = [(day, step.run(rt, day)) for day in run_days(context)]  # a backfill range: day by day
        yield dg.MaterializeResult(
            metadata=dagster_metadata(merge_days([(d, r.metadata) for d, r in results]))
        )
        if len(results) > 1:  # a range run: each day's outcome on its own partition, then the merged one
            for day, r in results:
                for outcome in r.checks:
                    evaluation = day_check_evaluation(key, outcome, day, blocking[outcome.name])
                    context.log_event(evaluation)
        for outcome in merge_checks([(d, r.checks) for d, r in results]):
            yield check_result(outcome)

    return _step


quickbooks_assets = [step_asset(step) for step in STEPS]
