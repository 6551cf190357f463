"""QuickBooks: mapped payloads (checked before anything is posted) and the entities loaded into QBO.

Generated from ``revqb_pipeline.entities.STEPS``: each entity's payload step becomes
``quickbooks/<name>`` in the ``quickbooks_mapping`` group with its asset checks (blocking ones stop the
load in the same run), each load step ``quickbooks/<name>`` in the ``quickbooks`` group behind the QBO
pool and retry policy.
"""

from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._results import check_result, dagster_metadata
from revqb_pipeline.defs.partitions import bill_date_partitions
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.entities import STEPS
from revqb_pipeline.sync.steps import Step

RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
MAPPING: dict[str, Any] = {"group_name": "quickbooks_mapping", "partitions_def": bill_date_partitions}
LOAD: dict[str, Any] = {
    "group_name": "quickbooks",
    "partitions_def": bill_date_partitions,
    "pool": "qbo_api",
    "retry_policy": RETRY,
    "kinds": {"python"},
}


def step_asset(step: Step) -> dg.AssetsDefinition:
    """``quickbooks/<step.name>`` running ``step.run`` on the partition."""
    key = dg.AssetKey(["quickbooks", step.name])
    checks = [
        dg.AssetCheckSpec(c.name, asset=key, blocking=c.blocking, description=c.description)
        for c in step.checks
    ]

    @dg.asset(
        key=key,
        deps=[dg.AssetKey.from_user_string(d) for d in step.deps],
        description=step.description,
        check_specs=checks or None,
        **(LOAD if step.load else MAPPING),
    )
    @fail_fast
    def _step(
        context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource, revio: RevioResource
    ):
        result = step.run(staging.runtime(revio=revio, qbo=qbo), context.partition_key)
        yield dg.MaterializeResult(metadata=dagster_metadata(result.metadata))
        for outcome in result.checks:
            yield check_result(outcome)

    return _step


quickbooks_assets = [step_asset(step) for step in STEPS]
