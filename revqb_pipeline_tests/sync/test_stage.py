"""Unit tests of ``sync/stage.py`` over a real SQLite staging database, with synthetic registry rows.

The synthetic "widget" record type stages into ``stg_product_types`` and the "gadget" type into
``stg_products``; their normalizers are defined here, so the engine is exercised without any entity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.staging.store import StagingStore
from revqb_pipeline.sync.spec import EntitySpec, Normalizer, StageContext
from revqb_pipeline.sync.stage import (
    StageReport,
    record_id_of,
    stage_extracted,
    stage_records,
    stage_spec,
)

PARTITION = "2026-01-15"
CFG: MappingConfig = load_mapping(None)


@dataclass
class Staging:
    store: StagingStore
    ledger: Ledger

    def ctx(self, partition_key: str | None = PARTITION) -> StageContext:
        return StageContext(partition_key=partition_key, mapping=CFG, store=self.store)


@pytest.fixture
def staging(sqlite_url: str) -> Iterator[Staging]:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    yield Staging(StagingStore(engine), Ledger(engine))
    engine.dispose()


def _meta(raw: Mapping[str, Any], partition_key: str | None) -> dict[str, Any]:
    text = json.dumps(raw, sort_keys=True)
    return {"partition_key": partition_key, "record_hash": hashlib.sha256(text.encode()).hexdigest()}


def widget_row(
    raw: Mapping[str, Any], partition_key: str | None = PARTITION, note: str = ""
) -> dict[str, Any]:
    """A ``stg_product_types`` row; a widget without a code is malformed."""
    if not raw.get("code"):
        raise RecordError("the widget has no code")
    meta = _meta(raw, partition_key)
    return {
        "product_type_id": int(raw["widget_id"]),
        "product_type_code": str(raw["code"]),
        "description": note or raw.get("description"),
        **meta,
        "raw_json": json.dumps(raw, sort_keys=True),
    }


def gadget_row(raw: Mapping[str, Any], partition_key: str | None = PARTITION) -> dict[str, Any]:
    """A ``stg_products`` row; a gadget without a description is malformed."""
    if not raw.get("description"):
        raise RecordError("the gadget has no description")
    return {
        "product_id": int(raw["gadget_id"]),
        "description": raw["description"],
        **_meta(raw, partition_key),
        "raw_json": json.dumps(raw, sort_keys=True),
    }


def _widget_normalizer(ctx: StageContext) -> Normalizer:
    # Reads the gadgets already staged when the step starts: shows they are staged before the widgets.
    seen = len(ctx.store.rows("stg_products"))
    return lambda raw: widget_row(raw, ctx.partition_key, note=f"after {seen} gadgets")


WIDGET = EntitySpec(
    name="widgets",
    source_type="widget",
    resource="Widgets",
    primary_key="widget_id",
    staging_table="stg_product_types",
    normalizer=_widget_normalizer,
    qbo_entity="Item",
)
GADGET = EntitySpec(
    name="gadgets",
    source_type="gadget",
    resource="Gadgets",
    primary_key="gadget_id",
    staging_table="stg_products",
    normalizer=lambda ctx: lambda raw: gadget_row(raw, ctx.partition_key),
    staging_only=True,
)
SPECS = {s.source_type: s for s in (WIDGET, GADGET)}


def _stage(staging: Staging, raws: list[dict[str, Any]], staging_only: bool = False) -> Any:
    return stage_records(
        staging.store,
        staging.ledger,
        table="stg_product_types",
        resource="Widgets",
        source_type="widget",
        pk="widget_id",
        raws=raws,
        normalize=lambda raw: widget_row(raw),
        partition_key=PARTITION,
        staging_only=staging_only,
    )


# ----- record_id_of ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"widget_id": 7}, "7"),
        ({"widget_id": "0042"}, "42"),
        ({"widget_id": 0}, "0"),
        ({"widget_id": "9" * 30}, "9" * 30),
        ({"widget_id": "9" * 80}, "9" * 64),
    ],
)
def test_record_id_of_readable_ids(raw: dict[str, Any], expected: str) -> None:
    assert record_id_of(raw, "widget_id") == expected


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({}, "missing"),
        ({"widget_id": None}, "missing"),
        ({"widget_id": ""}, "missing"),
        ("not a record", "missing"),
        ({"widget_id": "abc"}, "invalid"),
        ({"widget_id": -3}, "invalid"),
        ({"widget_id": True}, "invalid"),
        ({"widget_id": 1.5}, "invalid"),
    ],
)
def test_record_id_of_stand_ins_are_stable_and_short(raw: Any, kind: str) -> None:
    rid = record_id_of(raw, "widget_id")
    assert rid.startswith(f"{kind}-widget_id-")
    assert len(rid) <= 64
    assert record_id_of(raw, "widget_id") == rid  # the same record always gets the same stand-in


def test_record_id_of_stand_ins_differ_between_records() -> None:
    assert record_id_of({"widget_id": "x", "a": 1}, "widget_id") != record_id_of(
        {"widget_id": "x", "a": 2}, "widget_id"
    )


# ----- stage_records ---------------------------------------------------------------------------------------


def test_counts_inserted_updated_unchanged(staging: Staging) -> None:
    first = _stage(staging, [{"widget_id": 1, "code": "A"}, {"widget_id": 2, "code": "B"}])
    assert (first.inserted, first.updated, first.unchanged) == (2, 0, 0)
    assert first.quarantined == {}

    second = _stage(
        staging,
        [{"widget_id": 1, "code": "A"}, {"widget_id": 2, "code": "B2"}, {"widget_id": 3, "code": "C"}],
    )
    assert (second.inserted, second.updated, second.unchanged) == (1, 1, 1)
    assert second.metadata() == {"inserted": 1, "updated": 1, "unchanged": 1, "quarantined": 0}
    codes = {r["product_type_id"]: r["product_type_code"] for r in staging.store.rows("stg_product_types")}
    assert codes == {1: "A", 2: "B2", 3: "C"}


def test_bad_record_is_quarantined_in_store_and_ledger(staging: Staging) -> None:
    report = _stage(staging, [{"widget_id": 1, "code": "A"}, {"widget_id": 2}])

    reason = "Rev.io Widgets 2: the widget has no code"
    assert report.inserted == 1
    assert report.quarantined == {"2": reason}
    assert report.metadata()["quarantined"] == 1
    [held] = staging.store.quarantined("Widgets")
    assert (held["record_id"], held["reason"], held["partition_key"]) == ("2", reason, PARTITION)
    assert json.loads(held["raw_json"]) == {"widget_id": 2}
    row = staging.ledger.get("widget", "2")
    assert row is not None
    assert (row.status, row.last_error, row.partition_key) == (LedgerStatus.QUARANTINED, reason, PARTITION)
    assert [r["product_type_id"] for r in staging.store.rows("stg_product_types")] == [1]


def test_record_without_id_is_quarantined_under_its_stand_in(staging: Staging) -> None:
    raw = {"widget_id": "abc", "code": ""}
    report = _stage(staging, [raw])

    rid = record_id_of(raw, "widget_id")
    assert list(report.quarantined) == [rid]
    assert [q["record_id"] for q in staging.store.quarantined("Widgets")] == [rid]
    assert staging.ledger.get("widget", rid) is not None


def test_long_reason_is_cut(staging: Staging) -> None:
    def normalize(raw: dict[str, Any]) -> dict[str, Any]:
        raise RecordError("x" * 5000)

    report = stage_records(
        staging.store,
        staging.ledger,
        table="stg_product_types",
        resource="Widgets",
        source_type="widget",
        pk="widget_id",
        raws=[{"widget_id": 1}],
        normalize=normalize,
        partition_key=None,
    )
    assert report.quarantined["1"] == "Rev.io Widgets 1: " + "x" * 2000


def test_record_turning_bad_drops_its_stale_staged_copy(staging: Staging) -> None:
    _stage(staging, [{"widget_id": 1, "code": "A"}, {"widget_id": 2, "code": "B"}])

    report = _stage(staging, [{"widget_id": 1, "code": ""}, {"widget_id": 2, "code": "B"}])

    assert list(report.quarantined) == ["1"]
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, 1)
    assert [r["product_type_id"] for r in staging.store.rows("stg_product_types")] == [2]


def test_clean_read_clears_the_quarantine(staging: Staging) -> None:
    _stage(staging, [{"widget_id": 1}])
    assert staging.store.quarantined("Widgets")

    report = _stage(staging, [{"widget_id": 1, "code": "A"}])

    assert report.inserted == 1
    assert staging.store.quarantined("Widgets") == []
    # not staging-only: the ledger row is left for the QBO step to resolve
    row = staging.ledger.get("widget", "1")
    assert row is not None and row.status == LedgerStatus.QUARANTINED


@pytest.mark.parametrize(
    "status", [LedgerStatus.QUARANTINED, LedgerStatus.PENDING, LedgerStatus.FAILED, LedgerStatus.WAITING]
)
def test_staging_only_rows_resolve_to_synced_after_a_clean_read(
    staging: Staging, status: LedgerStatus
) -> None:
    staging.ledger.record_decision("widget", "1", status=status, action="test", detail="set up")

    _stage(staging, [{"widget_id": 1, "code": "A"}], staging_only=True)

    row = staging.ledger.get("widget", "1")
    assert row is not None
    if status == LedgerStatus.WAITING:  # only quarantined / pending / failed rows are resolved
        assert row.status == LedgerStatus.WAITING
        return
    assert row.status == LedgerStatus.SYNCED
    [event] = staging.ledger.events("widget", "1", limit=1)
    assert (event.action, event.detail) == ("staged", "read cleanly from Rev.io and staged")


def test_staging_only_clean_read_creates_no_ledger_row(staging: Staging) -> None:
    _stage(staging, [{"widget_id": 1, "code": "A"}], staging_only=True)
    assert staging.ledger.get("widget", "1") is None


# ----- stage_spec / stage_extracted ------------------------------------------------------------------------


def test_stage_spec_uses_the_spec_table_key_and_partition(staging: Staging) -> None:
    report = stage_spec(
        staging.store,
        staging.ledger,
        GADGET,
        [{"gadget_id": 5, "description": "g"}, {"gadget_id": 6}],
        staging.ctx(),
    )

    assert report.inserted == 1
    assert report.quarantined == {"6": "Rev.io Gadgets 6: the gadget has no description"}
    [row] = staging.store.rows("stg_products")
    assert (row["product_id"], row["partition_key"]) == (5, PARTITION)
    ledger_row = staging.ledger.get("gadget", "6")
    assert ledger_row is not None and ledger_row.partition_key == PARTITION


def test_stage_spec_staging_only_flag_comes_from_the_spec(staging: Staging) -> None:
    staging.ledger.quarantine("gadget", "5", reason="earlier")
    staging.ledger.quarantine("widget", "5", reason="earlier")

    stage_spec(staging.store, staging.ledger, GADGET, [{"gadget_id": 5, "description": "g"}], staging.ctx())
    stage_spec(staging.store, staging.ledger, WIDGET, [{"widget_id": 5, "code": "W"}], staging.ctx())

    gadget, widget = staging.ledger.get("gadget", "5"), staging.ledger.get("widget", "5")
    assert gadget is not None and gadget.status == LedgerStatus.SYNCED
    assert widget is not None and widget.status == LedgerStatus.QUARANTINED
    staging_only_off = replace(GADGET, staging_only=False)
    staging.ledger.quarantine("gadget", "5", reason="again")
    stage_spec(
        staging.store,
        staging.ledger,
        staging_only_off,
        [{"gadget_id": 5, "description": "g2"}],
        staging.ctx(),
    )
    again = staging.ledger.get("gadget", "5")
    assert again is not None and again.status == LedgerStatus.QUARANTINED


def test_stage_extracted_stages_other_types_first_and_prefixes_their_quarantines(staging: Staging) -> None:
    extracted = {
        "widget": [{"widget_id": 1, "code": "A"}, {"widget_id": 2}],
        "gadget": [
            {"gadget_id": 10, "description": "g"},
            {"gadget_id": 11, "description": "h"},
            {"gadget_id": 12},
        ],
    }

    report, others = stage_extracted(
        staging.store, staging.ledger, (WIDGET,), SPECS, extracted, staging.ctx()
    )

    # the widget normalizer was built after both good gadgets were staged
    [widget] = staging.store.rows("stg_product_types")
    assert (widget["product_type_id"], widget["description"]) == (1, "after 2 gadgets")
    assert others == {"gadgets": 2}
    # own counts only; other types' quarantines keyed "<source_type> <id>"
    assert (report.inserted, report.updated, report.unchanged) == (1, 0, 0)
    assert report.quarantined == {
        "2": "Rev.io Widgets 2: the widget has no code",
        "gadget 12": "Rev.io Gadgets 12: the gadget has no description",
    }


def test_stage_extracted_own_types_without_records_report_nothing(staging: Staging) -> None:
    report, others = stage_extracted(
        staging.store,
        staging.ledger,
        (WIDGET, GADGET),
        SPECS,
        {"gadget": [{"gadget_id": 1, "description": "g"}]},
        staging.ctx(),
    )

    assert others == {}
    assert report.metadata() == {"inserted": 1, "updated": 0, "unchanged": 0, "quarantined": 0}
    assert staging.store.rows("stg_product_types") == []


def test_stage_report_merge_adds_counts_and_quarantines() -> None:
    a = StageReport(inserted=1, updated=2, unchanged=3, quarantined={"1": "x"})
    a.merge(StageReport(inserted=10, updated=20, unchanged=30, quarantined={"2": "y"}))
    assert a.metadata() == {"inserted": 11, "updated": 22, "unchanged": 33, "quarantined": 2}
    assert a.quarantined == {"1": "x", "2": "y"}
