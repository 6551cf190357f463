"""`revqb demo` end to end under heavy injected faults: every reconciled entity type agrees to the cent."""

from __future__ import annotations

import os

import pytest

from revqb_pipeline.cli import main

pytestmark = pytest.mark.slow

HEAVY = "qbo.drop_after_commit=0.15,qbo.http_503=0.1,qbo.http_429=0.05,qbo.reset_before_write=0.05"


def test_demo_agrees_to_the_cent_under_heavy_faults(tmp_path, capsys) -> None:
    saved = dict(os.environ)
    try:
        code = main(
            ["demo", "--customers", "12", "--seed", "23", "--faults", HEAVY, "--workdir", str(tmp_path)]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr().out
    assert "Rev.io and QBO agree to the cent." in out, out[-3000:]
    assert code == 0
    table = out[out.index("Reconciliation (Rev.io vs QuickBooks Online):") :]
    for entity in ("customers", "invoices", "payments", "credits", "balances", "journals", "taxes"):
        line = next(ln for ln in table.splitlines() if ln.startswith(entity))
        assert line.rstrip().endswith("OK"), line
