"""The invoices load writes QBO ids back to Rev.io beside the QBO load (issue 10), over both sandboxes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from revqb_pipeline.entities.invoices.steps import load, load_slices
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writeback import INVOICE_ID_FIELD
from revqb_pipeline_tests._harness import Pipeline, pipeline

DAY = "2026-01-01"
INVOICES = dg.AssetKey(["quickbooks", "invoices"])
#: Counts every PATCH the Rev.io sandbox receives (a zero-delay ``slow`` rule is counted in ``injected``).
COUNT_PATCHES = {"kind": "slow", "method": "PATCH", "count": 1_000_000, "delay_s": 0.0}


def _faults(p: Pipeline, *rules: dict[str, Any]) -> None:
    httpx.post(f"{p.sb.revio_url}/_admin/faults", json={"rules": list(rules)}).raise_for_status()


def _injected(p: Pipeline) -> dict[str, int]:
    return dict(httpx.get(f"{p.sb.revio_url}/_admin/faults").json()["injected"])


def _revio_ids(p: Pipeline) -> dict[str, str | None]:
    """Bill id -> the value of its "QBO Invoice Id" field in Rev.io (None when empty)."""
    out: dict[str, str | None] = {}
    for bill in p.revio().iter_records("Bills"):
        values = [f.get("value") for f in bill.get("fields") or [] if f.get("label") == INVOICE_ID_FIELD]
        out[str(bill["bill_id"])] = str(values[0]) if values and values[0] not in (None, "") else None
    return out


def _synced(p: Pipeline) -> dict[str, str]:
    rows = p.runtime().ledger.rows(source_type="bill", statuses=[LedgerStatus.SYNCED], partition_key=DAY)
    return {r.source_id: str(r.qbo_id) for r in rows}


def _writeback_metadata(p: Pipeline) -> dict[str, Any]:
    records = p.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=INVOICES, asset_partitions=[DAY]), limit=1
    ).records
    assert records and records[0].asset_materialization is not None
    meta = records[0].asset_materialization.metadata
    return {
        k: v.value
        for k, v in meta.items()
        if k.startswith("revio_writeback") and k != "revio_writeback_wait_s"
    }


def test_slices_cost_no_extra_batch_or_lookup() -> None:
    rows = [{"n": i} for i in range(1004)]
    slices = load_slices(rows)
    assert [len(s) for s in slices] == [30, 300, 300, 300, 74]
    assert [r for s in slices for r in s] == rows
    assert sum(-(-len(s) // 30) for s in slices) == 34  # batches of 30, as unsliced
    assert sum(-(-len(s) // 100) for s in slices) == 11  # DocNumber lookups of 100, as unsliced
    assert load_slices([]) == [[]]


@pytest.mark.slow
def test_every_synced_bill_gets_its_id_and_a_failing_patch_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with pipeline(f"sqlite:///{tmp_path / 'revqb.db'}", tmp_path, customers=20, seed=7) as p:
        day_bills = sorted(
            str(b["bill_id"])
            for b in p.revio().iter_records("Bills")
            if str(b.get("created_date", "")).startswith(DAY)
        )
        assert len(day_bills) >= 5
        bad = day_bills[1]
        throttled = {"kind": "http_429", "method": "PATCH", "path_regex": f"/Bills/{bad}$"}
        _faults(p, {**throttled, "count": 6, "retry_after_s": 1}, COUNT_PATCHES)  # 1 try + 5 retries
        with caplog.at_level(logging.WARNING, logger="revqb.sync"):
            assert p.run([DAY])  # the step succeeds
        synced = _synced(p)
        assert sorted(synced) == day_bills
        assert _writeback_metadata(p) == {
            "revio_writeback": "on",
            "revio_writeback_written": len(day_bills) - 1,
            "revio_writeback_already_set": 0,
            "revio_writeback_failed": 1,
        }
        in_revio = _revio_ids(p)
        assert {sid: in_revio[sid] for sid in synced if sid != bad} == {
            sid: qid for sid, qid in synced.items() if sid != bad
        }
        assert in_revio[bad] is None
        assert _injected(p) == {"http_429": 6, "slow": len(day_bills) - 1}  # one PATCH per written bill
        warned = [r.getMessage() for r in caplog.records if r.name == "revqb.sync"]
        assert any(f"Bills {bad}" in m and synced[bad] in m for m in warned), warned

        assert p.run([DAY])  # the next run writes the one that failed, and only it
        assert _writeback_metadata(p) == {
            "revio_writeback": "on",
            "revio_writeback_written": 1,
            "revio_writeback_already_set": len(day_bills) - 1,
            "revio_writeback_failed": 0,
        }
        assert {sid: _revio_ids(p)[sid] for sid in synced} == synced
        assert _injected(p)["slow"] == len(day_bills)


@pytest.mark.slow
def test_switched_off_the_load_sends_no_patch(tmp_path: Path) -> None:
    """REVQB_REVIO_WRITEBACK=false: the invoices are loaded, Rev.io receives no PATCH at all."""
    from revqb_pipeline.definitions import defs

    with pipeline(f"sqlite:///{tmp_path / 'revqb.db'}", tmp_path, customers=12, seed=7) as p:
        graph = defs().resolve_asset_graph()
        upstream = dg.AssetSelection.assets(INVOICES).upstream().resolve(graph) - {INVOICES}
        result = p.job.execute_in_process(
            partition_key=DAY, instance=p.instance, asset_selection=sorted(upstream), raise_on_error=False
        )
        assert result.success
        _faults(p, COUNT_PATCHES)
        rt = Runtime(RevqbSettings.from_env({**p.env, "REVQB_REVIO_WRITEBACK": "false"}))
        assert rt.settings.revio_writeback is False
        res = load(rt, DAY)
        assert res.metadata["revio_writeback"] == "off"
        assert not [k for k in res.metadata if k.startswith("revio_writeback_")]
        synced = _synced(p)
        assert synced and res.metadata.get("created") == len(synced)
        assert _injected(p) == {}
        assert set(_revio_ids(p).values()) == {None}
