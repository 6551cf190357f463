"""`revqb mappings init` writes a starter that loads and covers the catalog; `revqb mappings check` exits
non-zero naming a missing product, zero after one line is added."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.mapping.starter import RevioSnapshot, starter_yaml
from revqb_sandbox.servers import Sandboxes, sandboxes


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandboxes]:
    with sandboxes(customers=5, seed=41) as s:
        for key, value in s.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("REVQB_DB_URL", f"sqlite:///{tmp_path / 'revqb.db'}")
        monkeypatch.delenv("REVQB_MAPPING_FILE", raising=False)
        yield s


def admin(sb: Sandboxes, path: str, body: dict) -> dict:
    r = httpx.post(f"{sb.revio_url}/_admin/{path}", json=body)
    r.raise_for_status()
    return r.json()


@pytest.mark.slow
def test_init_then_check_then_new_product_then_one_line(
    sb: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mapping.yaml"
    assert main(["mappings", "init", "--output", str(out), "--days", "0"]) == 0
    cfg = load_mapping(out)
    assert {r.product_id for r in cfg.products.rules} == {101, 102, 103, 104, 105, 201, 202, 203, 301, 302}
    assert {r.tax_class_id for r in cfg.taxes.rules} == {101, 102, 201, 202, 301, 302}
    assert {"CHECK", "CREDIT_CARD", "ACH", "CASH", "WIRE", "OTHER"} <= set(cfg.payment_methods)
    assert cfg.product_type_codes == {"MRC": "recurring", "USAGE": "usage", "NRC": "one_time"}
    assert main(["mappings", "init", "--output", str(out)]) == 1  # never overwrites without --force
    capsys.readouterr()
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out), "--strict"]) == 0
    assert "OK: the mapping covers the Rev.io data." in capsys.readouterr().out

    # a new product in the catalog: only a warning until a customer is billed for it (--strict fails now)
    pid = admin(sb, "products", {"product_type_id": 30, "description": "Fax Setup", "rate": "15.00"})[
        "product"
    ]["product_id"]
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out)]) == 0
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out), "--strict"]) == 1
    capsys.readouterr()
    admin(sb, "customers/1001/services", {"product_id": pid})
    [bill_id] = admin(sb, "billing-cycle", {"cycle_date": "2026-02-01", "customer_ids": [1001]})["bill_ids"]
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"[product {pid}] no mapping for product {pid} 'Fax Setup' (product type 30 NRC)" in text
    assert f"(bill {bill_id})" in text and "NOT OK" in text
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert [(m["kind"], m["key"]) for m in data["missing"] if m["records"]] == [("product", str(pid))]

    # one line in the file fixes it
    lines = out.read_text().splitlines(keepends=True)
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("- {product_id: 302"))
    lines.insert(at + 1, f'    - {{product_id: {pid}, item: "One-time charges"}}\n')
    out.write_text("".join(lines))
    assert main(["mappings", "check", "--days", "0", "--mapping", str(out)]) == 0


@pytest.mark.slow
def test_check_reports_a_bad_mapping_file(
    sb: Sandboxes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\naccounts: {}\n")
    assert main(["mappings", "check", "--mapping", str(bad)]) == 2
    assert "required key is missing" in capsys.readouterr().out
    # the packaged default covers the seeded sandbox data
    assert main(["mappings", "check", "--days", "0"]) == 0


def test_starter_yaml_loads_for_an_odd_catalog(tmp_path: Path) -> None:
    snap = RevioSnapshot(
        product_types=[
            {
                "product_type_id": 1,
                "product_type_code": "MRC",
                "description": 'Voice: "Pro"',
                "one_time_flag": False,
            },
            {
                "product_type_id": 2,
                "product_type_code": "X",
                "description": 'Voice: "Pro"',
                "one_time_flag": True,
            },
            {"product_type_id": 3, "product_type_code": None, "description": None, "one_time_flag": False},
        ],
        products=[
            {"product_id": 7, "product_type_id": 1, "description": "Seat # 1: 'quoted'", "tax_class_id": 5},
            {"product_id": 8, "product_type_id": 9, "description": "orphan"},
            {"product_id": 9, "product_type_id": 2, "description": "off", "active": False},
        ],
        payments=[{"method": "money order"}],
    )
    path = tmp_path / "odd.yaml"
    path.write_text(starter_yaml(snap))
    cfg = load_mapping(path)
    assert [r.product_id for r in cfg.products.rules] == [7]
    assert cfg.product_type_codes == {"MRC": "recurring", "X": "one_time"}
    assert "MONEY ORDER" in cfg.payment_methods and [r.tax_class_id for r in cfg.taxes.rules] == [5]
    assert starter_yaml(RevioSnapshot())  # an empty tenant still gives a loadable file
    empty = tmp_path / "empty.yaml"
    empty.write_text(starter_yaml(RevioSnapshot()))
    assert load_mapping(empty).products.rules == []
