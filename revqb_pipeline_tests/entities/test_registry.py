"""The registry is consistent: with the staging tables, the Rev.io client and models, the Dagster asset
graph and the CLI's source types."""

from __future__ import annotations

from functools import partial

import pytest
from pydantic import BaseModel

from revqb_pipeline import entities
from revqb_pipeline.cli import SOURCE_TYPES
from revqb_pipeline.clients.revio import PRIMARY_KEYS, RevioClient, primary_key
from revqb_pipeline.definitions import defs
from revqb_pipeline.entities import (
    BY_SOURCE_TYPE,
    RECONCILERS,
    REGISTRY,
    STEPS,
    extract_assets,
    ledger_source_types,
    spec_for,
    watched,
)
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.models import revio as models
from revqb_pipeline.staging import db
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.spec import EntitySpec, StageContext

#: The pydantic model of each Rev.io resource the registry reads.
MODELS: dict[str, type[BaseModel]] = {
    "Customers": models.RevioCustomer,
    "Bills": models.RevioBill,
    "Charges": models.RevioCharge,
    "Credits": models.RevioCredit,
    "Payments": models.RevioPayment,
    "Products": models.RevioProduct,
    "ProductTypes": models.RevioProductType,
}
SPEC_IDS = [s.source_type for s in REGISTRY]


@pytest.fixture(scope="module")
def asset_keys() -> set[str]:
    """Every asset key of the Dagster definitions, as ``group/name`` strings."""
    graph = defs().resolve_asset_graph()
    return {key.to_user_string() for key in graph.get_all_asset_keys()}


def test_the_registry_is_not_empty_and_names_are_unique() -> None:
    assert REGISTRY
    source_types = [s.source_type for s in REGISTRY]
    names = [s.name for s in REGISTRY]
    assert len(set(source_types)) == len(source_types)
    assert len(set(names)) == len(names)
    assert BY_SOURCE_TYPE == {s.source_type: s for s in REGISTRY}


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_staging_table_exists_with_the_primary_key(spec: EntitySpec) -> None:
    table = db.metadata.tables.get(spec.staging_table)
    assert table is not None, f"{spec.staging_table} is not a staging table"
    assert [c.name for c in table.primary_key.columns] == [spec.primary_key]


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_primary_key_agrees_with_the_revio_client(spec: EntitySpec) -> None:
    assert primary_key(spec.resource) == spec.primary_key
    assert spec.primary_key in PRIMARY_KEYS.values()


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_every_spec_extracts_through_a_revio_client_method(spec: EntitySpec) -> None:
    assert spec.extract is not None
    assert spec.list_method, f"{spec.source_type} names no RevioClient list method"
    assert callable(getattr(RevioClient, spec.list_method, None))


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_extract_inputs_and_stage_deps_name_existing_extract_assets(spec: EntitySpec) -> None:
    known = set(extract_assets())
    assert set(spec.extract_inputs) <= known
    assert set(spec.stage_deps) <= known
    assert spec.asset not in spec.extract_inputs


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_watched_fields_are_fields_of_the_revio_record(spec: EntitySpec) -> None:
    fields = set(MODELS[spec.resource].model_fields)
    assert set(spec.watched_fields) <= fields
    assert spec.primary_key in fields


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_a_spec_writes_to_qbo_or_is_staging_only(spec: EntitySpec) -> None:
    assert bool(spec.qbo_entity) != spec.staging_only
    assert bool(spec.business_key) == bool(spec.qbo_entity)


@pytest.mark.parametrize("spec", REGISTRY, ids=SPEC_IDS)
def test_normalizer_builds_for_a_context(spec: EntitySpec, sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    db.create_schema(engine)
    ctx = StageContext(partition_key="2026-01-15", mapping=load_mapping(None), store=StagingStore(engine))
    assert callable(spec.normalizer(ctx))
    engine.dispose()


def test_watched_are_the_record_types_with_watched_fields() -> None:
    assert [s.source_type for s in watched()] == ["bill", "payment", "credit"]


def test_extract_assets_group_record_types_in_registry_order() -> None:
    groups = {name: [s.source_type for s in specs] for name, specs in extract_assets().items()}
    assert groups == {
        "customers": ["customer"],
        "catalog": ["product_type", "product"],
        "bills": ["bill"],
        "charges": ["charge"],
        "payments": ["payment"],
        "credits": ["credit"],
    }


def test_each_extract_asset_is_a_revio_and_a_staging_asset(asset_keys: set[str]) -> None:
    for name in extract_assets():
        assert {f"revio/{name}", f"staging/{name}"} <= asset_keys


def test_steps_are_unique_assets_whose_deps_exist(asset_keys: set[str]) -> None:
    names = [s.name for s in STEPS]
    assert len(set(names)) == len(names)
    for step in STEPS:
        assert f"quickbooks/{step.name}" in asset_keys
        assert set(step.deps) <= asset_keys, f"{step.name}: unknown deps {set(step.deps) - asset_keys}"
        assert len({c.name for c in step.checks}) == len(step.checks)


def test_load_steps_come_after_what_they_depend_on() -> None:
    seen: set[str] = set()
    for step in STEPS:
        quickbooks_deps = {d.removeprefix("quickbooks/") for d in step.deps if d.startswith("quickbooks/")}
        assert quickbooks_deps <= seen, f"{step.name} is listed before {quickbooks_deps - seen}"
        seen.add(step.name)


def test_reconcilers_in_order() -> None:
    assert list(RECONCILERS) == [
        "customers",
        "invoices",
        "journals",
        "payments",
        "credits",
        "balances",
        "taxes",
    ]
    assert all(callable(fn) for fn in RECONCILERS.values())


def test_ledger_source_types_are_the_cli_types() -> None:
    assert ledger_source_types() == SOURCE_TYPES
    assert {s.source_type for s in REGISTRY} <= set(SOURCE_TYPES)


def test_spec_for_names_the_known_types() -> None:
    assert spec_for("bill") is BY_SOURCE_TYPE["bill"]
    with pytest.raises(KeyError, match=r"unknown source type 'widget'; known: .*'bill'"):
        spec_for("widget")


def test_every_entity_module_declares_its_parts() -> None:
    for module in entities.ENTITY_MODULES:
        for part in ("SPECS", "STEPS", "LEDGER_TYPES", "RECONCILERS"):
            assert isinstance(getattr(module, part), tuple), f"{module.__name__}.{part}"


def test_a_new_record_type_groups_by_its_extract_asset_and_gets_its_assets() -> None:
    """A synthetic spec (never added to the real registry) joins a shared asset or gets its own, and the
    Dagster factories give it its extract and staging assets (what "adding an entity" relies on)."""
    import dagster as dg

    from revqb_pipeline.defs.revio.assets import extract_asset
    from revqb_pipeline.defs.staging.assets import stage_asset

    base = partial(
        EntitySpec,
        resource="Widgets",
        primary_key="widget_id",
        staging_table="stg_products",
        normalizer=lambda ctx: dict,
    )
    shared = base(name="widgets", source_type="widget", extract_asset="catalog")
    own = base(
        name="gizmos",
        source_type="gizmo",
        extract=lambda ctx: {"gizmo": []},
        extract_inputs=("bills",),
        extract_description="Gizmos of the day.",
        stage_deps=("catalog",),
    )

    grouped = extract_assets((*REGISTRY, shared, own))

    assert [s.source_type for s in grouped["catalog"]] == ["product_type", "product", "widget"]
    assert [s.source_type for s in grouped["gizmos"]] == ["gizmo"]
    assert "widget" not in BY_SOURCE_TYPE  # the real registry is untouched
    extract, stage = extract_asset("gizmos", grouped["gizmos"]), stage_asset("gizmos", grouped["gizmos"])
    assert extract.key == dg.AssetKey(["revio", "gizmos"])
    assert extract.dependency_keys == {dg.AssetKey(["revio", "bills"])}
    assert stage.key == dg.AssetKey(["staging", "gizmos"])
    assert stage.dependency_keys == {dg.AssetKey(["revio", "gizmos"]), dg.AssetKey(["staging", "catalog"])}


def test_symbolic_references_resolve_from_registered_source_types() -> None:
    """Every ledger-backed symbol (``revio-bill:`` ...) names a source type the ledger holds."""
    from revqb_pipeline.entities import ledger_source_types
    from revqb_pipeline.mapping.symbols import SYMBOLS

    backed = {s.source_type for s in SYMBOLS if s.source_type}
    assert backed and backed <= set(ledger_source_types())
