"""The registry: every entity revqb syncs, one folder each, listed once here.

Each entity folder declares its Rev.io record types (``SPECS``: resource, primary key, staging table,
source type, QBO entity, business key, watched fields, normalizer, extract), its daily QBO steps
(``STEPS``: payload building with its checks, loading) and its reconciliations (``RECONCILERS``). The
Dagster extract, staging, payload and load assets, the change sensor's watch list, the CLI's activity days
and ``revqb reconcile`` are generated from this list; the engine knows no entity by name.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from revqb_pipeline.entities import customers, dunning, invoices, journals, payments, taxes
from revqb_pipeline.sync.reconcile import EntityReconciliation, reconcile_with
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.spec import EntitySpec
from revqb_pipeline.sync.steps import Step

#: Entity folders in dependency order (customers before invoices before payments).
ENTITY_MODULES: tuple[ModuleType, ...] = (customers, invoices, journals, payments, taxes, dunning)

REGISTRY: tuple[EntitySpec, ...] = tuple(spec for module in ENTITY_MODULES for spec in module.SPECS)
BY_SOURCE_TYPE: dict[str, EntitySpec] = {spec.source_type: spec for spec in REGISTRY}
#: The daily QBO steps (payloads, loads) in dependency order.
STEPS: tuple[Step, ...] = tuple(step for module in ENTITY_MODULES for step in module.STEPS)
RECONCILERS: dict[str, Callable[[Runtime], EntityReconciliation]] = {
    name: fn for module in ENTITY_MODULES for name, fn in module.RECONCILERS
}


def ledger_source_types() -> tuple[str, ...]:
    """Every source type the ledger holds: the record types and each entity's other ``LEDGER_TYPES``."""
    extra = [t for module in ENTITY_MODULES for t in module.LEDGER_TYPES]
    return tuple(sorted({spec.source_type for spec in REGISTRY} | set(extra)))


def spec_for(source_type: str) -> EntitySpec:
    """The registry row of ``source_type`` (KeyError names the known ones)."""
    try:
        return BY_SOURCE_TYPE[source_type]
    except KeyError:
        raise KeyError(f"unknown source type {source_type!r}; known: {sorted(BY_SOURCE_TYPE)}") from None


def watched(registry: tuple[EntitySpec, ...] = REGISTRY) -> tuple[EntitySpec, ...]:
    """Record types whose new or changed records start a sync of their ``created_date`` day."""
    return tuple(spec for spec in registry if spec.watched_fields)


def extract_assets(registry: tuple[EntitySpec, ...] = REGISTRY) -> dict[str, tuple[EntitySpec, ...]]:
    """``revio/<name>`` / ``staging/<name>`` asset name -> the record types it reads and stages."""
    out: dict[str, list[EntitySpec]] = {}
    for spec in registry:
        out.setdefault(spec.asset, []).append(spec)
    return {name: tuple(specs) for name, specs in out.items()}


def extract_gates(registry: tuple[EntitySpec, ...] = REGISTRY) -> dict[str, tuple[str, ...]]:
    """Extract asset -> the source types whose records make reading it worthwhile.

    An asset of staging-only record types that other record types' staging depends on (``stage_deps``,
    e.g. the product catalog the charges are normalized with) is read only on a day when one of those
    dependants has records; its extract then takes their extract asset as an input. Other assets: none.
    """
    gates: dict[str, tuple[str, ...]] = {}
    for name, specs in extract_assets(registry).items():
        if not all(s.staging_only and not s.watched_fields for s in specs):
            continue
        dependants = tuple(s.source_type for s in registry if name in s.stage_deps)
        if dependants:
            gates[name] = dependants
    return gates


def reconcile(rt: Runtime, entities: list[str] | None = None) -> list[EntityReconciliation]:
    """Run every registered reconciliation (or the named ones), in registry order."""
    return reconcile_with(rt, RECONCILERS, entities)


__all__ = [
    "BY_SOURCE_TYPE",
    "RECONCILERS",
    "REGISTRY",
    "STEPS",
    "EntitySpec",
    "extract_assets",
    "ledger_source_types",
    "reconcile",
    "spec_for",
    "watched",
]
