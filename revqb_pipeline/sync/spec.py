"""The registry row: what the engine needs to know about one entity, declared once in its folder.

The engine (extract, stage, sensor, CLI activity days, reconciliation) and the Dagster factories read
these rows and know no entity by name; ``revqb_pipeline.entities.REGISTRY`` is the list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.staging.store import StagingStore

if TYPE_CHECKING:
    from revqb_pipeline.sync.reconcile import EntityReconciliation
    from revqb_pipeline.sync.runtime import Runtime

Record = dict[str, Any]
#: What one extract step read, by source type (``{"payment": [...], "customer": [...]}``).
Extracted = dict[str, list[Record]]


@dataclass
class ExtractContext:
    """One extract step's inputs: the Rev.io client, the staging store, the partition's naive window and
    what the upstream extract steps read (by source type)."""

    revio: RevioClient
    store: StagingStore
    start: datetime
    end: datetime
    upstream: Extracted = field(default_factory=dict)

    def records(self, source_type: str) -> list[Record]:
        """Upstream records of ``source_type`` (empty when none were read)."""
        return self.upstream.get(source_type, [])


@dataclass
class StageContext:
    """What a normalizer may depend on: the partition, the mapping and the staging store."""

    partition_key: str | None
    mapping: MappingConfig
    store: StagingStore


Normalizer = Callable[[Mapping[str, Any]], Record]
#: A named reconciliation (Rev.io against QBO) an entity contributes to ``revqb reconcile``.
Reconciler = tuple[str, "Callable[[Runtime], EntityReconciliation]"]


@dataclass(frozen=True)
class EntitySpec:
    """One Rev.io record type and where it goes.

    ``name`` is the ``revio/<extract_asset>`` and ``staging/<extract_asset>`` asset that reads and stages
    it (several record types may share one asset, e.g. products and product types in ``catalog``).
    ``watched_fields`` non-empty makes the change sensor watch the resource and the CLI count its
    ``created_date`` days as activity days. ``staging_only`` record types have no QBO document of their
    own; a clean read resolves their ledger row.
    """

    name: str
    source_type: str
    resource: str
    primary_key: str
    staging_table: str
    normalizer: Callable[[StageContext], Normalizer]
    extract: Callable[[ExtractContext], Extracted] | None = None
    extract_asset: str | None = None
    extract_inputs: tuple[str, ...] = ()
    extract_description: str = ""
    stage_deps: tuple[str, ...] = ()
    qbo_entity: str | None = None
    business_key: str = ""
    watched_fields: tuple[str, ...] = ()
    staging_only: bool = False
    list_method: str = ""

    @property
    def asset(self) -> str:
        """The ``revio/…`` and ``staging/…`` asset name that reads and stages this record type."""
        return self.extract_asset or self.name
