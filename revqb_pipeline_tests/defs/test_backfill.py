"""Backfills by range (issue 10, item 5): every daily asset has BackfillPolicy.multi_run(31), so a Dagster
backfill of a year plans 12 runs of the whole sync graph; a range run ends where the day-by-day path ends,
to the cent; a blocking check failing on one day of a range posts nothing of that day."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from revqb_pipeline.cli._runs import range_runs
from revqb_pipeline.defs._results import merge_checks, merge_days
from revqb_pipeline.defs.automation.jobs import SYNC_GROUPS
from revqb_pipeline.defs.partitions import DAYS_PER_BACKFILL_RUN, bill_date_partitions
from revqb_pipeline.entities import reconcile
from revqb_pipeline.money import to_cents
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.steps import CheckOutcome, Markdown
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._mappings import DEFAULT_YAML

# ----------------------------------------------------------------------------- pure helpers


def test_one_day_keeps_its_metadata_and_checks_unchanged() -> None:
    meta = {"created": 2, "problems": Markdown("| record | reason |")}
    assert merge_days([("2026-01-01", meta)]) == meta
    outcome = CheckOutcome("lines", passed=False, metadata={"failing_bills": "7"})
    assert merge_checks([("2026-01-01", [outcome])]) == [outcome]


def test_a_range_sums_counts_and_keeps_tables_per_day() -> None:
    merged = merge_days(
        [
            ("2026-01-01", {"created": 2, "failed": 0, "problems": Markdown("| a | b |")}),
            ("2026-01-02", {"created": 3, "failed": 1}),
        ]
    )
    assert merged["created"] == 5 and merged["failed"] == 1 and merged["days"] == 2
    assert isinstance(merged["problems"], Markdown) and merged["problems"].startswith("**2026-01-01**")


def test_a_range_check_fails_when_one_day_fails_and_names_that_day() -> None:
    ok = CheckOutcome("lines", passed=True, metadata={"lines": 4})
    bad = CheckOutcome("lines", passed=False, metadata={"failing_bills": "9"})
    warn = CheckOutcome("mapped", passed=False, warn=True, metadata={"missing": 1})
    merged = {
        c.name: c
        for c in merge_checks(
            [
                ("2026-01-01", [ok, CheckOutcome("mapped", passed=True)]),
                ("2026-01-02", [bad, warn]),
                ("2026-01-03", [ok, CheckOutcome("mapped", passed=True)]),
            ]
        )
    }
    lines = merged["lines"]
    assert not lines.passed and not lines.warn  # ERROR: blocking checks stop the load
    assert lines.metadata["failed_days"] == "2026-01-02" and lines.metadata["days_checked"] == 3
    assert lines.metadata["failing_bills"] == "9"
    assert not merged["mapped"].passed and merged["mapped"].warn
    all_ok = merge_checks([("2026-01-01", [ok]), ("2026-01-02", [ok])])[0]
    assert all_ok.passed and all_ok.metadata["lines"] == 8 and "failed_days" not in all_ok.metadata


# ----------------------------------------------------------------------------- the backfill's run plan


def test_a_dagster_backfill_of_a_year_plans_twelve_runs_of_the_whole_sync_graph() -> None:
    """The asset backfill daemon's own planning (its first iteration, side-effect free) over a year of the
    sync job's assets: 12 range runs of at most 31 days, each carrying every asset and check."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.execution.asset_backfill import (
        AssetBackfillData,
        execute_asset_backfill_iteration_inner,
    )
    from dagster._core.test_utils import in_process_test_workspace
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    year = bill_date_partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2025-01-01", "2025-12-31"))
    origin = LoadableTargetOrigin(executable_path=sys.executable, module_name="revqb_pipeline.definitions")
    with dg.instance_for_test() as instance, in_process_test_workspace(instance, origin) as workspace:
        graph = workspace.asset_graph
        keys = sorted(k for k in graph.get_all_asset_keys() if graph.get(k).group_name in SYNC_GROUPS)
        assert len(keys) >= 20 and all(graph.get(k).backfill_policy is not None for k in keys)
        data = AssetBackfillData.from_asset_partitions(
            asset_graph=graph,
            partition_names=year,
            asset_selection=keys,
            dynamic_partitions_store=instance,
            backfill_start_timestamp=time.time(),
            all_partitions=False,
        )
        view = AssetGraphView(
            temporal_context=TemporalContext(effective_dt=datetime.now(UTC), last_event_id=None),
            instance=instance,
            asset_graph=graph,
        )
        result = execute_asset_backfill_iteration_inner(
            "year", data, view, time.time(), logging.getLogger("test"), None
        )
    runs = result.run_requests
    assert len(runs) == 12  # a run per day without the policy: 365
    covered: list[str] = []
    for run in runs:
        assert sorted(run.asset_selection or []) == keys
        assert len(run.asset_check_keys or []) == len(graph.get_check_keys_for_assets(set(keys)))
        assert run.partition_key_range is not None
        days = bill_date_partitions.get_partition_keys_in_range(run.partition_key_range)
        assert len(days) <= DAYS_PER_BACKFILL_RUN
        covered += days
    assert covered == year


# ----------------------------------------------------------------------------- range run == day by day


def cents(value: Any) -> int | None:
    """An amount as integer cents (QBO answers 0, 0.0 or 0.00 for the same balance)."""
    return None if value is None else to_cents(Decimal(str(value)))


def _names(p: Pipeline) -> tuple[dict[str, str], dict[str, str]]:
    customers = {str(c["Id"]): str(c["DisplayName"]) for c in p.qbo_all("Customer")}
    invoices = {str(i["Id"]): str(i.get("DocNumber")) for i in p.qbo_all("Invoice")}
    return customers, invoices


def qbo_books(p: Pipeline) -> dict[str, Any]:
    """The realm's documents by business key (QBO ids differ with the order of creation)."""
    customers, invoices = _names(p)

    def who(doc: dict[str, Any]) -> str:
        return customers.get(str((doc.get("CustomerRef") or {}).get("value")), "?")

    def links(doc: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        out = []
        for line in doc.get("Line") or []:
            for linked in line.get("LinkedTxn") or []:
                out.append(
                    (
                        invoices.get(str(linked.get("TxnId")), str(linked.get("TxnType"))),
                        cents(line["Amount"]),
                    )
                )
        return tuple(sorted(out))

    return {
        "customers": sorted((str(c["DisplayName"]), cents(c.get("Balance"))) for c in p.qbo_all("Customer")),
        "invoices": sorted(
            (
                str(i.get("DocNumber")),
                str(i["TotalAmt"]),
                str(i.get("Balance")),
                str(i.get("TxnDate")),
                who(i),
            )
            for i in p.qbo_all("Invoice")
        ),
        "payments": sorted(
            (cents(x["TotalAmt"]), cents(x.get("UnappliedAmt")), str(x.get("TxnDate")), who(x), links(x))
            for x in p.qbo_all("Payment")
        ),
        "credit_memos": sorted(
            (str(x.get("DocNumber")), cents(x["TotalAmt"]), cents(x.get("Balance")), who(x))
            for x in p.qbo_all("CreditMemo")
        ),
    }


def ledger_state(p: Pipeline) -> dict[tuple[str, str], tuple[str, str | None, str | None]]:
    """Every ledger row's status, QBO entity and business key (payload hashes cover QBO ids, which differ
    with the order of creation)."""
    return {
        (r.source_type, r.source_id): (str(r.status), r.qbo_entity, r.business_key)
        for r in p.runtime().ledger.rows()
    }


def _created_day(record: dict[str, Any]) -> str:
    return str(record.get("created_date") or "")[:10]


@pytest.mark.slow
def test_range_runs_end_where_day_by_day_ends_to_the_cent(tmp_path: Path) -> None:
    """The same world synced a run per day (every day of the window, as a backfill without the policy
    runs it) and as range runs (``revqb sync --days-per-run 31``): same QBO documents, same ledger."""
    world = {"customers": 6, "seed": 11, "months": 1}
    with pipeline(f"sqlite:///{tmp_path / 'day.db'}", tmp_path / "day", **world) as p:
        active = p.partitions()
        every_day = bill_date_partitions.get_partition_keys_in_range(
            dg.PartitionKeyRange(active[0], active[-1])
        )
        assert len(every_day) <= DAYS_PER_BACKFILL_RUN
        assert p.run(every_day)
        assert p.instance.get_runs_count() == len(every_day)
        by_day = (qbo_books(p), ledger_state(p))

    with pipeline(f"sqlite:///{tmp_path / 'range.db'}", tmp_path / "range", **world) as p:
        assert p.partitions() == active
        # a payment of a later day applying to a bill of an earlier day of the same range run
        bills = {str(b["bill_id"]): _created_day(b) for b in p.revio().iter_records("Bills")}
        later = [
            x
            for x in p.revio().iter_records("Payments")
            if active[0] <= bills.get(str(x.get("bill_id") or ""), "9999") < _created_day(x) <= active[-1]
        ]
        assert later, "the world has no payment applying to an earlier day's bill"

        from revqb_pipeline.cli import run_partitions

        report = run_partitions(active, instance=p.instance, days_per_run=DAYS_PER_BACKFILL_RUN)
        assert report and report.exit_code == 0 and report.partitions == active
        assert p.instance.get_runs_count() == len(range_runs(active, DAYS_PER_BACKFILL_RUN)) == 1
        ranged = (qbo_books(p), ledger_state(p))
        assert all(r.agrees for r in reconcile(p.runtime())), [r.differences for r in reconcile(p.runtime())]
        # every day of the range is materialized in Dagster, as a one-day run's partition is
        materialized = p.instance.get_materialized_partitions(dg.AssetKey(["quickbooks", "payments"]))
        assert materialized == set(every_day)

    for kind in by_day[0]:
        assert ranged[0][kind] == by_day[0][kind], kind
    assert ranged[1] == by_day[1]
    statuses = Counter(s for s, _, _ in ranged[1].values())
    assert statuses[str(LedgerStatus.SYNCED)] > 0


BAD_RECURRING = DEFAULT_YAML.replace(
    '{charge_kind: recurring, item: "Telecom Services"}', '{charge_kind: recurring, item: "E911 Fee"}'
)


@pytest.mark.slow
def test_a_blocking_check_failing_on_one_day_of_a_range_posts_nothing_of_that_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recurring revenue mapped to a tax item: the invoice lines check fails on the days with bills. In a
    range run the check is reported once, failed, naming those days; the loads of the run do not start,
    so QBO gets no invoice (and no payment); fixed, the same range posts everything, to the cent."""
    assert BAD_RECURRING != DEFAULT_YAML
    with pipeline(f"sqlite:///{tmp_path / 'r.db'}", tmp_path, customers=6, seed=22) as p:
        bad = tmp_path / "bad.yaml"
        bad.write_text(BAD_RECURRING, encoding="utf-8")
        monkeypatch.setenv("REVQB_MAPPING_FILE", str(bad))
        days = p.partitions()
        bill_days = sorted({_created_day(b) for b in p.revio().iter_records("Bills")} & set(days))
        assert bill_days and set(days) - set(bill_days), "need days with and without bills"
        first, last = days[0], days[-1]
        assert (date.fromisoformat(last) - date.fromisoformat(first)) < timedelta(days=DAYS_PER_BACKFILL_RUN)

        from revqb_pipeline.definitions import defs

        job = defs().resolve_job_def("revqb_sync_job")
        tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
        result = job.execute_in_process(tags=tags, instance=p.instance, raise_on_error=False)
        assert not result.success
        lines = [c for c in result.get_asset_check_evaluations() if c.check_name == "invoice_lines_valid"]
        check = next(c for c in lines if c.partition is None)  # the run's merged result (it gates the loads)
        assert not check.passed
        failed_days = str(check.metadata["failed_days"].value).split(", ")
        assert failed_days and set(failed_days) <= set(bill_days)
        # each day's own outcome on its partition (issue 16): exactly the failing days failed
        assert {c.partition for c in lines if c.partition and not c.passed} == set(failed_days)
        assert check.metadata["days_checked"].value == len(
            bill_date_partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last))
        )
        done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
        assert "quickbooks/invoice_payloads" in done
        assert "quickbooks/invoices" not in done and "quickbooks/payments" not in done
        assert p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'") == [] and p.qbo_all("Payment") == []
        assert not p.runtime().ledger.rows(source_type="bill", statuses=[LedgerStatus.SYNCED])

        monkeypatch.delenv("REVQB_MAPPING_FILE")  # the default mapping (resources read it at definition)
        job = defs().resolve_job_def("revqb_sync_job")
        result = job.execute_in_process(tags=tags, instance=p.instance, raise_on_error=False)
        assert result.success
        assert len(p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")) == len(
            [b for b in p.revio().iter_records("Bills") if _created_day(b) in days]
        )
        assert all(r.agrees for r in reconcile(p.runtime()))
