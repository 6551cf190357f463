"""Issue 16: every asset, check, job, schedule and sensor has a description and owners; the staging assets
show their column schema (from the pandera schemas); loading the definitions warns about nothing."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from revqb_pipeline.definitions import defs
from revqb_pipeline.defs._meta import OWNERS_METADATA
from revqb_pipeline.staging.columns import table_columns


def _owners(definition: object) -> list[str]:
    """Dagster's ``owners``, else the ``owners`` metadata entry (jobs, run-status sensors)."""
    native = list(getattr(definition, "owners", None) or [])
    meta = (getattr(definition, "metadata", None) or {}).get(OWNERS_METADATA)
    return native or ([str(meta.value if hasattr(meta, "value") else meta)] if meta else [])


def test_every_definition_has_a_description_and_owners() -> None:
    d = defs()
    graph = d.resolve_asset_graph()
    repo = d.get_repository_def()
    missing: list[str] = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = f"asset {key.to_user_string()}"
        if not (node.description or "").strip():
            missing.append(f"{name}: description")
        if not node.owners:
            missing.append(f"{name}: owners")
        for check_key in graph.get_check_keys_for_assets({key}):
            spec = graph.get_check_spec(check_key)
            if not (spec.description or "").strip():
                missing.append(f"check {check_key.to_user_string()}: description")
            # a check is owned by its asset's owners (AssetCheckSpec takes none): checked above
    for job in d.resolve_all_job_defs():
        if job.name.startswith("__"):
            continue  # Dagster's implicit asset job
        if not (job.description or "").strip():
            missing.append(f"job {job.name}: description")
        if not _owners(job):
            missing.append(f"job {job.name}: owners")
    for kind, items in (("schedule", repo.schedule_defs), ("sensor", repo.sensor_defs)):
        for item in items:
            if not (item.description or "").strip():
                missing.append(f"{kind} {item.name}: description")
            if not _owners(item):
                missing.append(f"{kind} {item.name}: owners")
    assert not missing, "\n".join(sorted(missing))


def test_owners_are_teams() -> None:
    graph = defs().resolve_asset_graph()
    owners = {o for key in graph.get_all_asset_keys() for o in graph.get(key).owners}
    assert owners and all(o.startswith("team:") for o in owners), owners
    assert graph.get(dg.AssetKey(["revio", "bills"])).owners == ["team:data-eng"]
    assert graph.get(dg.AssetKey(["quickbooks", "invoices"])).owners == ["team:finance-ops"]


def _column_schema(graph: dg.AssetGraph, key: dg.AssetKey) -> dg.TableSchema:
    value = graph.get(key).metadata.get("dagster/column_schema")
    schema = value.schema if isinstance(value, dg.TableSchemaMetadataValue) else value
    assert isinstance(schema, dg.TableSchema), f"{key.to_user_string()}: no column schema"
    return schema


def test_staging_assets_show_their_column_schema() -> None:
    graph = defs().resolve_asset_graph()
    staging = [k for k in graph.get_all_asset_keys() if k.path[0] == "staging"]
    assert len(staging) >= 6
    for key in staging:
        assert _column_schema(graph, key).columns, key
    charges = _column_schema(graph, dg.AssetKey(["staging", "charges"]))
    assert [c.name for c in charges.columns] == [c.name for c in table_columns("stg_charges")]
    by_name = {c.name: c for c in charges.columns}
    assert by_name["charge_id"].constraints.unique and not by_name["charge_id"].constraints.nullable
    assert by_name["product_amount_cents"].type == "Int64"
    assert ">= 0" in by_name["product_amount_cents"].constraints.other  # ChargeLines: ge=0
    assert by_name["quantity"].constraints.other == ["fails if quantity is not a non-negative decimal number"]
    assert charges.constraints.other == ["fails if amount_cents != product_amount_cents + tax_amount_cents"]
    assert by_name["description"].type == "str"
    catalog = _column_schema(graph, dg.AssetKey(["staging", "catalog"]))
    names = {c.name for c in catalog.columns}
    assert {"stg_products.product_id", "stg_product_types.product_type_id"} <= names


#: Loads and resolves everything in a fresh interpreter with Dagster's deprecation, supersession, beta and
#: preview warnings (and Python's DeprecationWarning) turned into errors.
PROBE = """
import warnings
import dagster as dg
for category in (DeprecationWarning, FutureWarning, dg.BetaWarning, dg.PreviewWarning):
    warnings.simplefilter("error", category)
import importlib, pathlib, revqb_pipeline.defs as pkg
root = pathlib.Path(pkg.__file__).parent
for path in sorted(root.rglob("*.py")):  # a direct import too (tests, the CLI): Dagster hides none here
    importlib.import_module("revqb_pipeline.defs." + ".".join(path.relative_to(root).with_suffix("").parts))
from revqb_pipeline.definitions import defs
d = defs()
graph = d.resolve_asset_graph()
repo = d.get_repository_def()
for job in d.resolve_all_job_defs():
    job.asset_layer
for schedule in repo.schedule_defs:
    schedule.cron_schedule
for sensor in repo.sensor_defs:
    sensor.targets
print("clean")
"""


def test_loading_the_definitions_warns_about_nothing() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("clean"), out.stderr[-3000:]
