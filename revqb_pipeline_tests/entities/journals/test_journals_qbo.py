"""Month-end revenue journals over the QBO sandbox (real HTTP) from a staged, seeded year of Rev.io billing.

The staging tables are filled the way the daily sync fills them (the pure normalizers over the Rev.io
sandbox generator's records); the monthly Dagster assets then run per month, in-process.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from revqb_pipeline.defs.resources import QBOResource, StagingResource
from revqb_pipeline.defs.revenue.assets import revenue_journal, revenue_summary
from revqb_pipeline.entities import reconcile
from revqb_pipeline.entities.journals.mapping import expected_net_debits, net_debits_by_account
from revqb_pipeline.entities.journals.revenue import Month
from revqb_pipeline.entities.journals.sync import month_summary
from revqb_pipeline.mapping.normalize import normalize_bill, normalize_charge, normalize_product_type
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.db import stg_bills, stg_charges, sync_ledger
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.reference_data import clear_reference_cache
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests._mappings import deferred_mapping
from revqb_sandbox.harness import serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.revio.generator import generate

pytestmark = pytest.mark.slow

MONTHS = [Month(2025, 1).add(i) for i in range(12)]
DEFAULT_MAPPING = Path(__file__).parents[3] / "revqb_pipeline" / "mapping" / "default.yaml"


@pytest.fixture(scope="module")
def qbo_url() -> Iterator[str]:
    served = serve_app(create_app(QBOSandboxSettings()))
    yield served.url
    served.stop()


class Env:
    """One realm of the QBO sandbox + a staging database with a seeded year staged."""

    def __init__(self, qbo_url: str, db_url: str, mapping_file: str):
        sandbox = QBOSandboxSettings()
        self.qbo_resource = QBOResource(
            base_url=qbo_url,
            token_url=f"{qbo_url}/oauth2/v1/tokens/bearer",
            realm_id=sandbox.realm_id,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            refresh_token=sandbox.initial_refresh_token,
        )
        self.staging = StagingResource(db_url=db_url, mapping_file=mapping_file)
        self.rt = self.staging.runtime(qbo=self.qbo_resource)
        self.cfg = self.rt.mapping

    def stage_year(self, seed: int = 5) -> None:
        data = generate(seed=seed, customers=10, start=date(2025, 1, 1), months=12)
        types = {t["product_type_id"]: normalize_product_type(t, self.cfg) for t in data.product_types}
        bills = [normalize_bill(b) for b in data.bills]
        pk = {b["bill_id"]: b["partition_key"] for b in bills}
        charges = [normalize_charge(c, types, pk.get(c["bill_id"])) for c in data.charges]
        self.rt.store.upsert("stg_bills", bills)
        self.rt.store.upsert("stg_charges", charges)

    def materialize(self, month: Month, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [revenue_summary, revenue_journal],
            partition_key=month.first_day.isoformat(),
            resources={"staging": self.staging, "qbo": self.qbo_resource},
            instance=instance,
            raise_on_error=False,
        )

    def entries(self) -> list[dict[str, Any]]:
        return list(self.rt.qbo.query_all("JournalEntry"))

    def account_ids(self) -> dict[str, str]:
        return {str(a["Name"]): str(a["Id"]) for a in self.rt.qbo.query_all("Account")}


def make_env(qbo_url: str, tmp_path: Path, db_url: str) -> Env:
    # One sandbox server per module; every test starts from a fresh company and fresh tokens.
    httpx.post(f"{qbo_url}/_admin/reset?oauth=true", timeout=10).raise_for_status()
    clear_reference_cache()  # the company was wiped: cached account and item ids are gone with it
    e = Env(qbo_url, db_url, deferred_mapping(tmp_path))
    e.stage_year()
    return e


@pytest.fixture
def env(qbo_url: str, tmp_path: Path) -> Iterator[Env]:
    e = make_env(qbo_url, tmp_path, f"sqlite:///{tmp_path / 'revqb.db'}")
    yield e
    e.rt.qbo.close()


def assert_one_correct_entry_per_month(env: Env) -> dict[str, dict[str, Any]]:
    entries = env.entries()
    counts = Counter(str(e.get("DocNumber")) for e in entries)
    assert all(n == 1 for n in counts.values()), counts
    by_doc = {str(e["DocNumber"]): e for e in entries}
    accounts = env.account_ids()
    posted = 0
    for month in MONTHS:
        summary = month_summary(env.rt, month)
        doc = f"REVREC-{month.key}"
        if summary.is_empty:
            assert doc not in by_doc
            continue
        posted += 1
        entry = by_doc[doc]
        assert entry["TxnDate"] == month.last_day.isoformat()
        assert net_debits_by_account(entry) == expected_net_debits(summary, accounts), month
    assert posted >= 10  # recurring service spans month ends almost every month
    return by_doc


def test_backfill_twelve_months_twice_leaves_one_entry_per_month(qbo_url: str, tmp_path: Path, db_url: str):
    env = make_env(qbo_url, tmp_path, db_url)  # SQLite and PostgreSQL staging
    with dg.instance_for_test() as instance:
        for _round in range(2):
            for month in MONTHS:
                result = env.materialize(month, instance)
                assert result.success, month
                checks = result.get_asset_check_evaluations()
                assert [c.passed for c in checks] == [True]
        first_ids = {d: e["Id"] for d, e in assert_one_correct_entry_per_month(env).items()}
        # Second round found nothing to change: same entries, SyncToken untouched.
        assert all(e["SyncToken"] == "0" for e in env.entries())
        assert first_ids
        # The ledger links each month to its entry.
        rows = {r.source_id: r for r in env.rt.ledger.rows(source_type="journal")}
        assert {rows[m].qbo_id for m in rows if rows[m].status == LedgerStatus.SYNCED} == set(
            first_ids.values()
        )
    rec = reconcile(env.rt, ["journals"])[0]
    assert rec.agrees, rec.differences


def test_rerun_after_a_change_updates_the_same_entry(env: Env):
    march = Month(2025, 3)
    with dg.instance_for_test() as instance:
        assert env.materialize(march, instance).success
        before = {e["DocNumber"]: e for e in env.entries()}["REVREC-2025-03"]
        # A recurring charge billed in March is re-rated (Rev.io corrected it; the daily sync restaged it).
        with env.rt.engine.begin() as conn:
            charge_id, bill_id, amount = conn.execute(
                sa.select(stg_charges.c.charge_id, stg_charges.c.bill_id, stg_charges.c.product_amount_cents)
                .select_from(stg_charges.join(stg_bills, stg_charges.c.bill_id == stg_bills.c.bill_id))
                .where(stg_bills.c.bill_date.like("2025-03-15%"), stg_charges.c.charge_kind == "recurring")
                .order_by(stg_charges.c.charge_id)
            ).first()
            conn.execute(
                sa.update(stg_charges)
                .where(stg_charges.c.charge_id == charge_id)
                .values(product_amount_cents=amount + 3100, amount_cents=stg_charges.c.amount_cents + 3100)
            )
            conn.execute(
                sa.update(stg_bills)
                .where(stg_bills.c.bill_id == bill_id)
                .values(invoice_amount_cents=stg_bills.c.invoice_amount_cents + 3100)
            )
        result = env.materialize(march, instance)
        assert result.success
        entries = [e for e in env.entries() if e["DocNumber"] == "REVREC-2025-03"]
        assert len(entries) == 1
        after = entries[0]
        assert after["Id"] == before["Id"] and int(after["SyncToken"]) == int(before["SyncToken"]) + 1
        # 31.00 over Mar 15 - Apr 14 (31 days): 14.00 more deferred at the end of March.
        assert net_debits_by_account(after) != net_debits_by_account(before)
        summary = month_summary(env.rt, march)
        assert net_debits_by_account(after) == expected_net_debits(summary, env.account_ids())
        mats = result.asset_materializations_for_node("quickbooks__revenue_journal")
        assert mats[0].metadata["updated"].value == 1


def test_month_that_nets_to_zero_deletes_its_entry_and_can_come_back(env: Env):
    march = Month(2025, 3)
    with dg.instance_for_test() as instance:
        assert env.materialize(march, instance).success
        assert [e["DocNumber"] for e in env.entries()] == ["REVREC-2025-03"]
        # Every bill that touches March is reversed in Rev.io: nothing left to recognize.
        with env.rt.engine.begin() as conn:
            conn.execute(sa.update(stg_bills).values(is_reversed=True))
        result = env.materialize(march, instance)
        assert result.success
        assert env.entries() == []
        assert env.rt.ledger.get("journal", "2025-03").status == LedgerStatus.VOIDED
        mats = result.asset_materializations_for_node("quickbooks__revenue_journal")
        assert mats[0].metadata["deleted"].value == 1
        # Running the empty month again is a no-op.
        assert env.materialize(march, instance).success and env.entries() == []
        with env.rt.engine.begin() as conn:
            conn.execute(sa.update(stg_bills).values(is_reversed=False))
        assert env.materialize(march, instance).success
        assert [e["DocNumber"] for e in env.entries()] == ["REVREC-2025-03"]


def test_lost_ledger_links_the_existing_entry(env: Env):
    april = Month(2025, 4)
    with dg.instance_for_test() as instance:
        assert env.materialize(april, instance).success
        with env.rt.engine.begin() as conn:
            conn.execute(sa.delete(sync_ledger).where(sync_ledger.c.source_type == "journal"))
        result = env.materialize(april, instance)
        assert result.success
        assert len(env.entries()) == 1
        mats = result.asset_materializations_for_node("quickbooks__revenue_journal")
        assert mats[0].metadata["linked"].value == 1


def test_blocking_check_stops_the_post_when_billing_does_not_tie(env: Env):
    may = Month(2025, 5)
    with env.rt.engine.begin() as conn:
        # A bill total that disagrees with its charges (e.g. a charge still quarantined).
        bill_id = conn.execute(
            sa.select(stg_bills.c.bill_id).where(stg_bills.c.bill_date.like("2025-05%")).limit(1)
        ).scalar()
        conn.execute(
            sa.update(stg_bills)
            .where(stg_bills.c.bill_id == bill_id)
            .values(invoice_amount_cents=stg_bills.c.invoice_amount_cents + 1)
        )
    with dg.instance_for_test() as instance:
        result = env.materialize(may, instance)
    assert not result.success
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert "invoiced" in check.metadata["failures"].value
    assert env.entries() == []  # nothing posted


def test_reconciler_reports_an_edited_entry(env: Env):
    june = Month(2025, 6)
    with dg.instance_for_test() as instance:
        assert env.materialize(june, instance).success
    assert reconcile(env.rt, ["journals"])[0].agrees
    [entry] = env.entries()
    lines = entry["Line"]
    for line in lines:
        line["Amount"] = str(line["Amount"] + 1)
    env.rt.qbo.update(
        "JournalEntry", {"Id": entry["Id"], "SyncToken": entry["SyncToken"], "Line": lines}, "x1"
    )
    rec = reconcile(env.rt, ["journals"])[0]
    assert not rec.agrees
    assert any("2025-06" in d for d in rec.differences)


def test_settings_for_a_runtime_are_isolated(env: Env):
    # The test's own mapping file is what the assets used (not the packaged default).
    assert env.cfg.revenue.by_charge_kind["recurring"].deferred is True
    assert env.rt.settings.mapping_file and Path(env.rt.settings.mapping_file) != DEFAULT_MAPPING
    assert isinstance(env.rt, Runtime) and isinstance(env.rt.settings, RevqbSettings)
