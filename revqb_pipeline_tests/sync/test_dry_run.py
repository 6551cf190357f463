"""Issue 16: a dry run of the sync says what it would post and writes nothing: no QBO write, no Rev.io
write-back, the ledger and staging tables unchanged; a real run then posts exactly what it listed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import dagster as dg
import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from revqb_pipeline import entities
from revqb_pipeline.money import to_decimal
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.ledger import Ledger
from revqb_pipeline.staging.scratch import scratch_copy
from revqb_pipeline.staging.tokens import SqlTokenStore
from revqb_pipeline.sync.dry_run import DryRunSummary, dry_run
from revqb_pipeline.sync.steps import Documents, Step, StepResult, dry_run_metadata, report_metadata
from revqb_pipeline.sync.writeback import INVOICE_ID_FIELD
from revqb_pipeline.sync.writer import WriteReport
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._mappings import DEFAULT_YAML

LOADS = {"customers": "Customer", "invoices": "Invoice", "payments": "Payment", "credit_memos": "CreditMemo"}
#: Not the ledger nor staging: the OAuth tokens (any run may refresh them; a rotated token must be kept) and
#: the QBO rate-limit windows every process shares (a dry run's reads count against QBO's limits too).
NOT_COMPARED = {"oauth_tokens", "rate_limit_buckets", "rate_limit_slots"}


def dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the staging DB, sorted (the ledger, its events, staging, payloads)."""
    engine = sa.create_engine(db_url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(r) for r in conn.execute(sa.select(table))), key=repr)
                for name, table in sorted(meta.tables.items())
                if name not in NOT_COMPARED
            }
    finally:
        engine.dispose()


def qbo_counts(p: Pipeline) -> dict[str, int]:
    qbo = p.runtime().qbo
    names = (*LOADS.values(), "Item", "Account", "PaymentMethod")
    return {
        e: qbo.count(e, "Active IN (true, false)" if e in ("Customer", "Item", "Account") else "")
        for e in names
    }


def realm_stats(p: Pipeline) -> dict[str, Any]:
    """The QBO sandbox's counters for the realm (requests, writes, batch requests, ...)."""
    return dict(p.qbo_stats()["realms"].get(p.sb.qbo.realm_id, {}))


def written_back(p: Pipeline) -> dict[str, Any]:
    """Rev.io bills whose "QBO Invoice Id" custom field is set."""
    out = {}
    for bill in p.revio().iter_records("Bills"):
        for f in bill.get("fields") or []:
            if f.get("label") == INVOICE_ID_FIELD and f.get("value"):
                out[str(bill["bill_id"])] = f["value"]
    return out


def real_totals(p: Pipeline, days: list[str]) -> dict[str, dict[str, tuple[int, Decimal]]]:
    """The load assets' ``totals`` of a real run (count and dollars per action), summed over the days."""
    out: dict[str, dict[str, tuple[int, Decimal]]] = {}
    for step in LOADS:
        key = dg.AssetKey(["quickbooks", step])
        for day in days:
            records = p.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
            ).records
            meta = records[0].asset_materialization.metadata
            for prefix, name in (("", step), ("application_", f"{step} (applications)")):
                if f"{prefix}totals" not in meta:
                    continue
                for action, count, amount in _rows(meta[f"{prefix}totals"].value):
                    c, a = out.setdefault(name, {}).get(action, (0, Decimal(0)))
                    out[name][action] = (c + int(count.replace(",", "")), a + _money(amount))
    return out


def _rows(md: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in md.splitlines()[2:]
        if line.startswith("|")
    ]


def _money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def previewed(summary: DryRunSummary) -> dict[str, dict[str, tuple[int, Decimal]]]:
    return {name: dict(e.actions) for name, e in summary.entities.items() if e.actions}


@pytest.mark.slow
def test_a_dry_run_writes_nothing_and_a_real_run_posts_what_it_listed(sqlite_url: str, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=6, seed=17) as p:
        days = p.partitions()
        assert days
        before_qbo = qbo_counts(p)  # the schema exists (a Runtime made it) before the first dump
        before_rows = dump(sqlite_url)
        writes_before = realm_stats(p).get("writes", 0)

        summary = dry_run(p.settings(), days, entities)

        stats = realm_stats(p)
        assert (
            stats["requests"] > 0 and stats["writes"] == writes_before
        )  # reads only: the sandbox counted no write
        assert qbo_counts(p) == before_qbo
        assert written_back(p) == {}  # no Rev.io write-back PATCH landed
        assert dump(sqlite_url) == before_rows  # ledger, events, staging, payloads: unchanged

        preview = previewed(summary)
        invoices = preview["invoices"]["created"]
        bills = {str(b["bill_id"]): b for b in p.revio().iter_records("Bills")}
        assert invoices[0] == len(bills)
        assert invoices[1] == sum(to_decimal(b["invoice_amount"]) for b in bills.values())
        assert preview["payments"]["created"][0] > 0 and summary.revio_writes_withheld >= len(bills)
        text = summary.text()
        assert text.startswith("DRY RUN") and "invoices" in text and "$" in text

        assert p.run(days)
        assert real_totals(p, days) == preview  # a real run posts exactly what the dry run listed
        posted = p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")
        assert sum(to_decimal(i["TotalAmt"]) for i in posted) == invoices[1]
        assert set(written_back(p)) == set(bills)


@pytest.mark.slow
def test_a_dry_run_on_a_fresh_realm_lists_the_reference_data_it_would_create(
    sqlite_url: str, tmp_path
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=3, seed=5) as p:
        days = p.partitions()
        before = qbo_counts(p)
        summary = dry_run(p.settings(), days, entities)
        assert qbo_counts(p) == before  # nothing created
        would = Counter(entity for entity, _ in summary.reference_data)
        assert would["Item"] > 0 and would["Account"] > 0
        assert "reference data that would be created in QuickBooks:" in summary.text()
        for entity, name in summary.reference_data:
            assert name in summary.text() and entity in summary.text()

        assert p.run(days)
        qbo = p.runtime().qbo
        for entity, name in summary.reference_data:  # the real run created exactly those
            escaped = name.replace("'", "\\'")
            assert qbo.query_rows(f"SELECT * FROM {entity} WHERE Name = '{escaped}'"), (entity, name)
        after = qbo_counts(p)
        for entity in ("Item", "Account", "PaymentMethod"):
            assert after[entity] - before[entity] == would[entity], entity


class _DryRt:
    dry_run = True


def test_a_dry_run_labels_a_load_steps_metadata_as_what_it_would_post() -> None:
    report = WriteReport()
    report.record("b1", "created", qbo_id="dry-1", entity="Invoice", amount=Decimal("10.50"))
    report.record("b2", "updated", qbo_id="42", entity="Invoice", amount=Decimal("1.25"))
    report.record("b3", "quarantined", "bad item", entity="Invoice", amount=Decimal("3"))
    step = Step("invoices", "d", (), lambda rt, day: StepResult(report_metadata(report)), load=True)
    meta = step.run(_DryRt(), "2026-01-01").metadata  # type: ignore[arg-type]
    assert meta["dry_run"].startswith("DRY RUN")
    assert meta["would_create"] == 1 and meta["would_update"] == 1 and meta["would_quarantine"] == 1
    assert "created" not in meta and "documents" not in meta
    rows = _rows(meta["would_post"])
    assert rows[0] == ["b1", "would create", "Invoice (new)", "$10.50", ""]  # a made-up id: no link
    assert rows[1][:3] == ["b2", "would update", "Invoice 42"] and "txnId=42" in rows[1][4]
    totals = meta["would_post_totals"]
    assert isinstance(totals, Documents) and totals.totals["created"] == (1, Decimal("10.50"))
    assert ["would create", "1", "$10.50"] in _rows(totals)
    # a real runtime: untouched
    assert dry_run_metadata({"created": 1}, load=False) == {"dry_run": meta["dry_run"], "created": 1}


@pytest.mark.slow
def test_dagster_dry_runs_write_nothing_and_the_dry_run_job_materializes_nothing(
    sqlite_url: str, tmp_path
) -> None:
    from revqb_pipeline.definitions import defs

    with pipeline(sqlite_url, tmp_path, customers=3, seed=5) as p:
        day = p.partitions()[0]
        invoices = dg.AssetKey(["quickbooks", "invoices"])
        before_qbo = qbo_counts(p)
        before_rows = dump(sqlite_url)
        writes = realm_stats(p).get("writes", 0)

        # the dry-run job: observations labelled DRY RUN on the load assets, no materialization
        result = (
            defs()
            .resolve_job_def("revqb_dry_run_job")
            .execute_in_process(partition_key=day, instance=p.instance)
        )
        assert result.success
        observed = [
            e.asset_observation_data.asset_observation
            for e in result.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
        by_key = {o.asset_key: o for o in observed}
        meta = by_key[invoices].metadata
        assert by_key[invoices].partition == day
        assert meta["dry_run"].value.startswith("DRY RUN") and meta["would_create"].value > 0
        assert "| would create | Invoice (new) |" in meta["would_post"].value
        assert not result.asset_materializations_for_node("revqb_dry_run")
        assert day not in p.instance.get_materialized_partitions(invoices)

        # the run tag on the sync job: nothing written either, but Dagster records materializations
        flagged = p.job.execute_in_process(
            partition_key=day,
            instance=p.instance,
            tags={"revqb/dry_run": "true"},
        )
        assert flagged.success
        mat = flagged.asset_materializations_for_node("quickbooks__invoices")[0].metadata
        assert mat["dry_run"].value.startswith("DRY RUN") and mat["would_create"] == meta["would_create"]
        assert day in p.instance.get_materialized_partitions(invoices)  # what Dagster does (documented)

        assert realm_stats(p)["writes"] == writes and qbo_counts(p) == before_qbo
        assert written_back(p) == {} and dump(sqlite_url) == before_rows

        # a later real run is not fooled: the ledger decides, and it posts everything the preview listed
        real = p.execute(day)
        done = real.asset_materializations_for_node("quickbooks__invoices")[0].metadata
        assert done["created"].value == meta["would_create"].value
        assert _rows(done["totals"].value)[0][1:] == _rows(meta["would_post_totals"].value)[0][1:]

        # the tagged dry run works on a copy of the real ledger: once synced, nothing more would be created
        again = p.job.execute_in_process(
            partition_key=day, instance=p.instance, tags={"revqb/dry_run": "true"}
        )
        later = again.asset_materializations_for_node("quickbooks__invoices")[0].metadata
        assert later["would_create"].value == 0 and later["unchanged"].value == done["created"].value


def test_the_scratch_copy_holds_every_row_but_the_tokens_and_leaves_the_source_alone(
    db_url: str, tmp_path
) -> None:
    source = make_engine(db_url)
    create_schema(source)
    ledger = Ledger(source)
    ledger.quarantine("bill", "7", reason="no item", qbo_entity="Invoice", partition_key="2026-01-02")
    ledger.mark_synced("customer", "3", qbo_id="42", sync_token="0", payload_hash="h", qbo_entity="Customer")
    SqlTokenStore(source, Fernet.generate_key().decode()).seed("realm-1", "refresh-secret")
    before = dump(db_url)

    copy = scratch_copy(source, tmp_path / "scratch.db")
    copied = _naive(dump(f"sqlite:///{tmp_path / 'scratch.db'}"))
    assert dump(db_url) == before  # only read
    expected = _naive({k: v for k, v in before.items() if k != "schema_version"})
    assert len(copied["sync_ledger"]) == 2 and copied["sync_ledger"] == expected["sync_ledger"]
    assert {k: v for k, v in copied.items() if k != "schema_version"} == expected
    assert _count(source, "oauth_tokens") == 1 and _count(copy, "oauth_tokens") == 0  # stays in the real DB
    Ledger(copy).quarantine("bill", "8", reason="x")  # the copy is writable; the source does not see it
    assert Ledger(source).get("bill", "8") is None
    with pytest.raises(FileExistsError):
        scratch_copy(source, tmp_path / "scratch.db")
    copy.dispose()
    source.dispose()


def _naive(tables: dict[str, list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Rows with aware datetimes as naive UTC (a reflected SQLite table reads them back naive)."""

    def plain(v: Any) -> Any:
        return v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v

    return {t: sorted((tuple(plain(v) for v in r) for r in rows), key=repr) for t, rows in tables.items()}


def _count(engine: sa.Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(f"select count(*) from {table}")).scalar_one())


@pytest.mark.slow
def test_a_dry_run_names_the_days_a_blocking_check_would_stop(sqlite_url: str, tmp_path) -> None:
    """Recurring revenue mapped to a tax item: the invoice lines check (blocking) fails on the billing
    days; the dry run lists those days as blocked and previews no invoice of them, as a run posts none."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        DEFAULT_YAML.replace(
            '{charge_kind: recurring, item: "Telecom Services"}', '{charge_kind: recurring, item: "E911 Fee"}'
        ),
        encoding="utf-8",
    )
    with pipeline(sqlite_url, tmp_path, customers=3, seed=5) as p:
        days = p.partitions()
        bill_days = {str(b["created_date"])[:10] for b in p.revio().iter_records("Bills")} & set(days)
        assert bill_days
        settings = p.settings().model_copy(update={"mapping_file": str(bad)})
        summary = dry_run(settings, days, entities)
        assert set(summary.blocked) == bill_days
        assert all(checks == ["invoice_lines_valid"] for checks in summary.blocked.values())
        assert summary.entities["invoices"].count("created") == 0 and summary.quarantined >= len(bill_days)
        assert "blocked by failed check invoice_lines_valid" in summary.text()
        assert realm_stats(p).get("writes", 0) == 0
