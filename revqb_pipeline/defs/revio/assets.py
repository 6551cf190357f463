"""Extract: raw Rev.io records per bill-date partition, one asset per registry extract step.

Generated from ``revqb_pipeline.entities.REGISTRY``: every record type names the ``revio/<asset>`` that
reads it and the upstream extract assets it needs (e.g. charges read the day's bills). Each asset returns
its records by source type (``{"payment": [...], "customer": [...]}``); a run over a range of days
(a backfill) reads each day in turn, with that day's window, and returns ``{day: records by type}``.
"""

from typing import Any

import dagster as dg

from revqb_pipeline import connections
from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs._meta import DATA_ENG, beta_quiet
from revqb_pipeline.defs.partitions import bill_date_partitions, daily_backfill, day_window, run_days
from revqb_pipeline.defs.resources import RevioResource, StagingResource
from revqb_pipeline.entities import BY_SOURCE_TYPE, extract_assets, extract_gates, watched
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.spec import EntitySpec, ExtractContext, Extracted

RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
COMMON: dict[str, Any] = {
    "group_name": "revio",
    "partitions_def": bill_date_partitions,
    "backfill_policy": daily_backfill,
    "pool": connections.pool("revio"),
    "retry_policy": RETRY,
    "kinds": {"python"},
    "owners": [DATA_ENG],
}


@beta_quiet
def extract_asset(
    name: str, specs: tuple[EntitySpec, ...], gate: tuple[str, ...] = ()
) -> dg.AssetsDefinition:
    """``revio/<name>``: runs the extract of each record type in ``specs`` and merges what they read.

    With a ``gate`` (source types, see :func:`gates`) it reads the extract assets of those types first and
    calls Rev.io only on a day when they read records (the catalog: only with charges; customers: only on a
    day with bills, payments or credits). A gated day builds no client and makes no call.
    """
    gate_assets = {BY_SOURCE_TYPE[t].asset for t in gate}
    inputs = sorted({i for s in specs for i in s.extract_inputs} | gate_assets)

    @dg.asset(
        name=name,
        key_prefix=[*connections.asset_prefix(), "revio"],
        ins={i: dg.AssetIn(key=[*connections.asset_prefix(), "revio", i]) for i in inputs},
        description=next(s.extract_description for s in specs if s.extract_description)
        + (f" Read only on a day with {', '.join(BY_SOURCE_TYPE[t].name for t in gate)}." if gate else ""),
        **COMMON,
    )
    @fail_fast
    def _extract(
        context: dg.AssetExecutionContext,
        revio: RevioResource,
        staging: StagingResource,
        **upstream: Any,
    ) -> dict[str, Any]:
        days = run_days(context)
        per_day: dict[str, Extracted] = {}
        rt: Runtime | None = None  # built on the first day that reads Rev.io
        for day in days:
            merged: Extracted = {}
            for part in upstream.values():  # one day: what it read; a range: {day: what it read}
                merged.update(part.get(day, {}) if len(days) > 1 else part)
            out: Extracted = {}
            if gate and not any(merged.get(t) for t in gate):
                per_day[day] = out  # nothing that needs it this day: no client, no Rev.io call
                continue
            rt = rt or staging.runtime(revio=revio)
            start, end = day_window(day)
            ctx = ExtractContext(rt.revio, rt.store, start, end, merged)
            for spec in specs:
                assert spec.extract is not None
                for source_type, records in spec.extract(ctx).items():
                    out.setdefault(source_type, []).extend(records)
            per_day[day] = out
        counts: dict[str, int] = {}
        for out in per_day.values():
            for source_type, records in out.items():
                counts[source_type] = counts.get(source_type, 0) + len(records)
        context.add_output_metadata({**counts, **({"days": len(days)} if len(days) > 1 else {})})
        return per_day if len(days) > 1 else per_day[days[0]]

    return _extract


def gates() -> dict[str, tuple[str, ...]]:
    """Extract asset -> the source types whose records make reading it worthwhile.

    ``entities.extract_gates`` (staging-only lookups: the catalog, read with charges), and every asset of
    record types that become QBO documents but are not watched (customers): read only on a day with
    activity, i.e. records of a watched type (bills, payments, credits). A day without any is the day
    the change sensor and ``revqb sync`` report empty (``automation/empty_days.py``); its forced run
    then makes only the watched types' reads. A customer changed on such a day is read with its next
    bill (by id), as on the days no run ever covers.
    """
    out = dict(extract_gates())
    active = tuple(s.source_type for s in watched())
    for name, specs in extract_assets().items():
        if name not in out and not any(s.watched_fields or s.staging_only for s in specs):
            out[name] = active
    return out


_GATES = gates()
extract_assets_defs = [
    extract_asset(name, specs, _GATES.get(name, ())) for name, specs in extract_assets().items()
]
