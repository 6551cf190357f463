"""A snapshot of the whole Dagster definition graph: asset keys, deps, groups, partitions, backfill
policies, pools, checks, jobs, resources, schedules and sensors. A restructuring must leave it unchanged;
an intended change regenerates it with ``REVQB_UPDATE_SNAPSHOTS=1 pytest
revqb_pipeline_tests/defs/test_snapshot.py`` and shows in review."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from revqb_pipeline.definitions import defs
from revqb_pipeline.defs._meta import OWNERS_METADATA
from revqb_pipeline.defs.partitions import START_DATE

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(pdef: dg.PartitionsDefinition | None) -> str | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.TimeWindowPartitionsDefinition):
        # the start follows REVQB_START_DATE / the recorded first activity (test_partition_status.py)
        start = "<start>" if pdef.start.date().isoformat()[:8] == START_DATE[:8] else pdef.start
        return f"{type(pdef).__name__}(cron={pdef.cron_schedule!r}, tz={pdef.timezone!r}, start={start})"
    return type(pdef).__name__


def _retry(policy: dg.RetryPolicy | None) -> str | None:
    if policy is None:
        return None
    return f"{policy.max_retries}x{policy.delay}s {policy.backoff} {policy.jitter}"


def _backfill(policy: dg.BackfillPolicy | None) -> str | None:
    if policy is None:
        return None
    return f"{policy.policy_type.value} max_partitions_per_run={policy.max_partitions_per_run}"


def _owners(definition: Any) -> list[str]:
    meta = (getattr(definition, "metadata", None) or {}).get(OWNERS_METADATA)
    return sorted(
        getattr(definition, "owners", None) or ([str(getattr(meta, "value", meta))] if meta else [])
    )


def graph_snapshot() -> dict[str, Any]:
    """The definitions as plain, sorted JSON data."""
    d = defs()
    repo = d.get_repository_def()
    graph = d.resolve_asset_graph()
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        checks = sorted(
            f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}"
            f"{' (partitioned)' if graph.get_check_spec(c).partitions_def else ''}"
            for c in graph.get_check_keys_for_assets({key})
        )
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "partitions": _partitions(node.partitions_def),
            "pools": sorted(node.pools or []),
            "kinds": sorted(node.kinds),
            "retry": _retry(node.assets_def.op.retry_policy) if node.is_executable else None,
            "backfill": _backfill(node.backfill_policy),
            "description": node.description,
            "owners": sorted(node.owners),
            "column_schema": "dagster/column_schema" in node.metadata,
            "checks": checks,
        }
    jobs = {}
    for job in sorted(d.resolve_all_job_defs(), key=lambda j: j.name):
        if job.name.startswith("__"):
            continue
        selected = sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys)
        jobs[job.name] = {
            "assets": selected,
            "partitions": _partitions(job.partitions_def),
            "owners": _owners(job),
        }
    schedules = {
        s.name: {"cron": s.cron_schedule, "job": s.job_name, "tz": s.execution_timezone, "owners": _owners(s)}
        for s in sorted(repo.schedule_defs, key=lambda s: s.name)
    }
    sensors = {
        s.name: {
            "interval_s": s.minimum_interval_seconds,
            "jobs": sorted(j.name for j in s.jobs) if s.has_jobs else [],
            "type": type(s).__name__,
            "owners": _owners(s),
        }
        for s in sorted(repo.sensor_defs, key=lambda s: s.name)
    }
    resources = sorted(
        f"{k}: {getattr(v, 'configurable_resource_cls', type(v)).__name__}"
        for k, v in repo.get_top_level_resources().items()
    )
    return {
        "assets": assets,
        "jobs": jobs,
        "resources": resources,
        "schedules": schedules,
        "sensors": sensors,
    }


def test_definitions_match_the_snapshot() -> None:
    current = json.dumps(graph_snapshot(), indent=1, sort_keys=True) + "\n"
    if os.environ.get("REVQB_UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    diff = "".join(difflib.unified_diff(SNAPSHOT.read_text().splitlines(True), current.splitlines(True)))
    assert not diff, f"the definitions changed (regenerate if intended):\n{diff}"
