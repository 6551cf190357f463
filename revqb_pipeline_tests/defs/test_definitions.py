"""Definitions load, and the lineage reads revio -> staging -> quickbooks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg

from revqb_pipeline.definitions import defs


def _graph() -> dg.AssetGraph:
    return defs().resolve_asset_graph()


def test_sync_lineage_runs_revio_to_staging_to_quickbooks() -> None:
    graph = _graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {
        "revio/bills",
        "revio/charges",
        "revio/customers",
        "staging/bills",
        "staging/charges",
        "staging/customers",
        "quickbooks/customer_payloads",
        "quickbooks/invoice_payloads",
        "quickbooks/customers",
        "quickbooks/invoices",
    } <= keys

    def upstream(key: str) -> set[str]:
        node = graph.get(dg.AssetKey.from_user_string(key))
        return {p.to_user_string() for p in node.parent_keys}

    assert upstream("staging/bills") == {"revio/bills"}
    assert "staging/charges" in upstream("quickbooks/invoice_payloads")
    assert {"quickbooks/invoice_payloads", "quickbooks/customers"} <= upstream("quickbooks/invoices")
    assert "quickbooks/customer_payloads" in upstream("quickbooks/customers")


def test_sync_job_covers_every_layer_and_the_blocking_check() -> None:
    job = defs().resolve_job_def("revqb_sync_job")
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert {"revio/bills", "staging/bills", "quickbooks/invoice_payloads", "quickbooks/invoices"} <= selected
    checks = {
        c.name for c in _graph().get_check_keys_for_assets({dg.AssetKey(["quickbooks", "invoice_payloads"])})
    }
    assert "invoice_lines_valid" in checks


def test_pipeline_never_imports_the_sandbox() -> None:
    """Loading every definition pulls in no sandbox module; only cli/_sandbox.py names it (lazily)."""
    code = (
        "import sys, revqb_pipeline.definitions as d; d.defs(); "
        "print(sorted(m for m in sys.modules if m.startswith('revqb_sandbox')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    package = Path(__file__).resolve().parents[2] / "revqb_pipeline"
    mentions = {
        p.relative_to(package).as_posix() for p in package.rglob("*.py") if "revqb_sandbox" in p.read_text()
    }
    assert mentions <= {"cli/_sandbox.py"}
