"""Normalizing raw Rev.io records into staging tables; malformed records are quarantined, never dropped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.normalize import record_key
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.spec import EntitySpec, Extracted, StageContext

MAX_REASON = 2000
_UNRESOLVED = (LedgerStatus.QUARANTINED, LedgerStatus.PENDING, LedgerStatus.FAILED)


@dataclass
class StageReport:
    """Counts for Dagster metadata, and the quarantined records with their reasons."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)

    def merge(self, other: StageReport) -> None:
        """Add ``other``'s counts and quarantined records."""
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined.update(other.quarantined)

    def metadata(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "quarantined": len(self.quarantined),
        }


def record_id_of(raw: Any, pk: str) -> str:
    """The record's id, or a stable stand-in (at most 64 characters) for one whose id is missing or not
    a valid id: ``missing-<pk>-<digest>`` / ``invalid-<pk>-<digest>``."""
    rid = record_key(raw, pk)
    if rid is not None:
        return str(rid)
    value = raw.get(pk) if isinstance(raw, dict) else None
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip().isdigit():
        return str(value).strip()[:64]  # 0, "0", or digits beyond the id range: kept as sent
    digest = hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:12]
    kind = "missing" if value in (None, "") else "invalid"
    return f"{kind}-{pk}-{digest}"


def stage_records(
    store: StagingStore,
    ledger: Ledger,
    *,
    table: str,
    resource: str,
    source_type: str,
    pk: str,
    raws: list[dict[str, Any]],
    normalize: Callable[[dict[str, Any]], dict[str, Any]],
    partition_key: str | None,
    staging_only: bool = False,
) -> StageReport:
    """Normalize ``raws`` and upsert them into ``table``; quarantine each failing record with its reason
    (and drop an earlier staged copy of it, so no later step uses data Rev.io no longer holds)."""
    report = StageReport()
    rows: list[dict[str, Any]] = []
    clean: list[str] = []
    stale: list[int] = []
    for raw in raws:
        rid = record_id_of(raw, pk)
        try:
            rows.append(normalize(raw))
        except RecordError as exc:
            reason = f"Rev.io {resource} {rid}: {str(exc)[:MAX_REASON]}"
            store.quarantine(resource, rid, reason, json.dumps(raw, default=str), partition_key)
            ledger.quarantine(source_type, rid, reason=reason, partition_key=partition_key)
            report.quarantined[rid] = reason
            if (key := record_key(raw, pk)) is not None:
                stale.append(key)
            continue
        clean.append(rid)
    store.clear_quarantine_many(resource, clean)
    if staging_only and clean:
        _resolve_staged(ledger, source_type, clean, partition_key)
    if stale:  # an earlier, valid copy must not stand in for the record Rev.io now sends
        store.delete_ids(table, stale)
    if rows:
        counts = store.upsert(table, rows)
        report.inserted, report.updated, report.unchanged = counts.inserted, counts.updated, counts.unchanged
    return report


def _resolve_staged(ledger: Ledger, source_type: str, ids: list[str], partition_key: str | None) -> None:
    """A staging-only record quarantined earlier (or reset by ``revqb retry``) that now reads cleanly is
    done: its ledger row says so, so ``status`` and ``retry`` stop listing it."""
    for rid, row in ledger.get_many(source_type, ids).items():
        if row.status in _UNRESOLVED:
            ledger.record_decision(
                source_type,
                rid,
                status=LedgerStatus.SYNCED,
                action="staged",
                detail="read cleanly from Rev.io and staged",
                partition_key=partition_key,
            )


def stage_spec(
    store: StagingStore, ledger: Ledger, spec: EntitySpec, raws: list[dict[str, Any]], ctx: StageContext
) -> StageReport:
    """Stage ``raws`` of one registry record type (its table, key, normalizer)."""
    return stage_records(
        store,
        ledger,
        table=spec.staging_table,
        resource=spec.resource,
        source_type=spec.source_type,
        pk=spec.primary_key,
        raws=raws,
        normalize=spec.normalizer(ctx),
        partition_key=ctx.partition_key,
        staging_only=spec.staging_only,
    )


def stage_extracted(
    store: StagingStore,
    ledger: Ledger,
    own: tuple[EntitySpec, ...],
    specs: dict[str, EntitySpec],
    extracted: Extracted,
    ctx: StageContext,
) -> tuple[StageReport, dict[str, int]]:
    """Stage one extract step's records: the other record types it read first (e.g. the customers of a
    day's payments; their quarantines keyed ``<source_type> <id>``), then its own types in order.
    Returns the report and, per other type, how many records were inserted."""
    report = StageReport()
    others: dict[str, int] = {}
    own_types = [s.source_type for s in own]
    for source_type in [t for t in extracted if t not in own_types] + own_types:
        spec = specs[source_type]
        part = stage_spec(store, ledger, spec, extracted.get(source_type, []), ctx)
        if source_type in own_types:
            report.merge(part)
        else:
            report.quarantined.update({f"{source_type} {k}": v for k, v in part.quarantined.items()})
            others[spec.name] = part.inserted
    return report, others
