"""Issue 5 end to end: an unmapped new product holds back only its bills, named; one mapping line posts them.
Also: the blocking payload check stops the QBO load in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.entities import reconcile
from revqb_pipeline.money import to_cents
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._mappings import DEFAULT_YAML

pytestmark = pytest.mark.slow

CATCH_ALL = """    - {charge_kind: recurring, item: "Telecom Services"}
    - {charge_kind: usage, item: "Usage"}
    - {charge_kind: one_time, item: "Installation"}
"""
# The sandbox catalog, one rule per product (no catch-all): a new product needs its own line.
PER_PRODUCT = "".join(
    f'    - {{product_id: {pid}, item: "{item}"}}\n'
    for pids, item in (
        ((101, 102, 103, 104, 105), "Telecom Services"),
        ((201, 202, 203), "Usage"),
        ((301, 302), "Installation"),
    )
    for pid in pids
)


def mapping_copy(tmp_path: Path, name: str, rules: str) -> Path:
    """A temp copy of default.yaml with its product rules replaced by ``rules``."""
    assert CATCH_ALL in DEFAULT_YAML
    path = tmp_path / name
    path.write_text(DEFAULT_YAML.replace(CATCH_ALL, rules), encoding="utf-8")
    return path


def run_job(p: Pipeline, partition: str) -> Any:
    """One in-process run of the sync job (the ExecuteInProcessResult, for its events)."""
    from revqb_pipeline.definitions import defs

    job = defs().resolve_job_def("revqb_sync_job")
    return job.execute_in_process(partition_key=partition, instance=p.instance, raise_on_error=False)


def materialized(result: Any) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def check_result(result: Any, name: str) -> Any:
    return next(c for c in result.get_asset_check_evaluations() if c.check_name == name)


def invoice_docs(p: Pipeline) -> dict[str, dict[str, Any]]:
    return {str(i["DocNumber"]): i for i in p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'")}


def test_unmapped_new_product_is_held_back_named_until_one_mapping_line_is_added(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=8, seed=21) as p:
        mapping = mapping_copy(tmp_path, "mapping.yaml", PER_PRODUCT)
        monkeypatch.setenv("REVQB_MAPPING_FILE", str(mapping))
        # a new product in the Rev.io catalog, sold to one customer, then a billing cycle for three
        product = p.revio_admin(
            "products",
            {"product_type_id": 10, "description": "Fax to Email", "rate": "9.95", "tax_class_id": 301},
        )["product"]
        pid = product["product_id"]
        customers = sorted({int(b["customer_id"]) for b in p.revio().iter_records("Bills")})[:3]
        p.revio_admin(f"customers/{customers[0]}/services", {"product_id": pid, "quantity": 2})
        new_bills = p.revio_admin("billing-cycle", {"cycle_date": "2026-02-01", "customer_ids": customers})[
            "bill_ids"
        ]
        assert len(new_bills) == 3
        held = str(min(new_bills))  # bills are created in customer order: the first has the new product
        charges = list(p.revio().charges(bill_id=int(held)))
        assert any(c["product_id"] == pid for c in charges)

        # `revqb mappings check` fails naming the product
        capsys.readouterr()
        assert main(["mappings", "check", "--days", "0"]) == 1
        out = capsys.readouterr().out
        assert f"[product {pid}]" in out and "'Fax to Email'" in out and f"bill {held}" in out

        # the sync: the unmapped bill is quarantined (reason names the product), the others post
        assert p.run()
        partition = str(p.revio().get("Bills", held)["created_date"])[:10]
        result = run_job(p, partition)  # a re-run of the new partition, to read its check results
        every = check_result(result, "every_bill_mapped")
        assert not every.passed
        assert f"product {pid} 'Fax to Email'" in str(every.metadata["missing_mappings"].value)
        assert check_result(result, "invoice_lines_valid").passed
        assert "quickbooks/invoices" in materialized(result)
        ledger = p.runtime().ledger
        row = ledger.get("bill", held)
        assert row is not None and row.status == LedgerStatus.QUARANTINED
        assert f"no mapping for product {pid} 'Fax to Email'" in (row.last_error or "")
        docs = invoice_docs(p)
        assert f"RV-{held}" not in docs
        others = [str(b["bill_id"]) for b in p.revio().iter_records("Bills") if str(b["bill_id"]) != held]
        assert others and all(f"RV-{b}" in docs for b in others)
        assert all(ledger.get("bill", b).status == LedgerStatus.SYNCED for b in others)

        # one line in the mapping file, no code change: the check passes and the next run posts the bill
        text = mapping.read_text(encoding="utf-8")
        line = f'    - {{product_id: {pid}, item: "Telecom Services"}}\n'
        mapping.write_text(text.replace(PER_PRODUCT, PER_PRODUCT + line), encoding="utf-8")
        assert len(mapping.read_text().splitlines()) == len(text.splitlines()) + 1
        assert main(["mappings", "check", "--days", "0"]) == 0
        assert p.run([partition])
        docs = invoice_docs(p)
        bill = p.revio().get("Bills", held)
        assert to_cents(docs[f"RV-{held}"]["TotalAmt"]) == to_cents(bill["invoice_amount"])
        assert p.runtime().ledger.get("bill", held).status == LedgerStatus.SYNCED
        results = reconcile(p.runtime(), ["invoices", "taxes"])
        assert all(r.agrees for r in results), [r.differences for r in results]


def test_blocking_payload_check_stops_the_load_in_the_same_run(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mapping that posts recurring revenue to a tax item builds payloads whose tax lines no longer equal
    Rev.io's tax: the blocking check fails, so `quickbooks/invoices` does not run and QBO gets no invoice."""
    with pipeline(sqlite_url, tmp_path, customers=6, seed=22) as p:
        bad = mapping_copy(
            tmp_path,
            "bad.yaml",
            CATCH_ALL.replace(
                '{charge_kind: recurring, item: "Telecom Services"}',
                '{charge_kind: recurring, item: "E911 Fee"}',
            ),
        )
        monkeypatch.setenv("REVQB_MAPPING_FILE", str(bad))
        partition = p.partitions()[0]  # the seeded cycle: every bill has recurring charges
        result = run_job(p, partition)
        assert not result.success
        check = check_result(result, "invoice_lines_valid")
        assert not check.passed
        failures = str(check.metadata["failures"].value)
        assert "invoice tax != sum of the bill's charge taxes" in failures
        assert check.metadata["failing_bills"].value
        done = materialized(result)
        assert "quickbooks/invoice_payloads" in done  # materialized, with the failed check
        assert "quickbooks/invoices" not in done
        assert invoice_docs(p) == {}
        assert not [r for r in p.runtime().ledger.rows(source_type="bill") if r.status == LedgerStatus.SYNCED]

        # the mapping is fixed (back to the default): the next run loads everything
        monkeypatch.delenv("REVQB_MAPPING_FILE")
        result = run_job(p, partition)
        assert result.success and "quickbooks/invoices" in materialized(result)
        assert invoice_docs(p)
