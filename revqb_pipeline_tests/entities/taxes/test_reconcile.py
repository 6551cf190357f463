"""Tax reconciliation: per liability account and state, QBO's invoice taxes equal Rev.io's to the cent."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.entities import reconcile
from revqb_pipeline.entities.taxes.reconcile import (
    TOTAL_TAX,
    attribute_states,
    compare_taxes,
    qbo_invoice_taxes,
    revio_bill_taxes,
)
from revqb_pipeline.mapping.config import LIABILITY_TYPES, jurisdiction_of, load_mapping
from revqb_pipeline.money import to_cents
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._mappings import DEFAULT_YAML

# ----- pure parts -------------------------------------------------------------------------------------


def test_revio_taxes_by_liability_account_and_state() -> None:
    cfg = load_mapping(None)
    charges = [
        {
            "charge_id": 1,
            "bill_id": 5,
            "tax_amount": Decimal("1.50"),
            "tax_class_id": 302,
            "geocode": "US130890000",
        },
        {
            "charge_id": 2,
            "bill_id": 5,
            "tax_amount": Decimal("0.35"),
            "tax_class_id": 301,
            "geocode": "US130890000",
        },
        {
            "charge_id": 3,
            "bill_id": 6,
            "tax_amount": Decimal("2.00"),
            "tax_class_id": 201,
            "geocode": "US482010000",
        },
        {
            "charge_id": 4,
            "bill_id": 6,
            "tax_amount": Decimal("0.00"),
            "tax_class_id": 201,
            "geocode": "US482010000",
        },
        {
            "charge_id": 5,
            "bill_id": 6,
            "tax_amount": Decimal("0.10"),
            "tax_class_id": 999,
            "geocode": "US482010000",
        },
    ]
    by_bill, problems = revio_bill_taxes(charges, cfg)
    assert by_bill[5] == Counter({("Local Telecom Taxes Payable", "GA"): 185})
    assert by_bill[6] == Counter(
        {("State Telecom Taxes Payable", "TX"): 200, ("(unmapped tax class 999)", "TX"): 10}
    )
    assert problems == ["charge 5 (bill 6): no mapping for tax class 999; add it under taxes.rules"]
    override = cfg.model_copy(update={"taxes": cfg.taxes.model_copy(update={"mode": "total_tax_override"})})
    by_bill, problems = revio_bill_taxes(charges, override)
    assert by_bill[6] == Counter({(TOTAL_TAX, "TX"): 210}) and not problems


def test_qbo_invoice_taxes_and_comparison() -> None:
    item_accounts = {
        "1": ("Telecom Services Revenue", "Income"),
        "9": ("Local Telecom Taxes Payable", "Other Current Liability"),
    }
    invoice = {
        "Line": [
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("49.90"),
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            },
            {
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("1.85"),
                "SalesItemLineDetail": {"ItemRef": {"value": "9"}},
            },
            {"DetailType": "SubTotalLineDetail", "Amount": Decimal("51.75")},
        ],
        "TxnTaxDetail": {"TotalTax": Decimal("0")},
    }
    qbo = qbo_invoice_taxes(invoice, item_accounts)
    assert qbo == Counter({"Local Telecom Taxes Payable": 185})
    revio = Counter({("Local Telecom Taxes Payable", "GA"): 185})
    assert attribute_states(revio, qbo) == revio
    rec = compare_taxes({5: revio}, {5: qbo})
    assert rec.agrees and rec.revio_buckets == rec.qbo_buckets == {("Local Telecom Taxes Payable", "GA"): 185}

    # one cent off, a missing invoice, and an override on a lines-mode invoice are all differences
    short = Counter({"Local Telecom Taxes Payable": 184})
    missing = Counter({("State Telecom Taxes Payable", "TX"): 200})
    qbo_side = {5: short, 6: None, 7: Counter({TOTAL_TAX: 5})}
    reasons = {6: "quarantined: no mapping for product 9"}
    rec = compare_taxes({5: revio, 6: missing, 7: Counter()}, qbo_side, reasons)
    assert not rec.agrees
    text = "\n".join(rec.differences)
    assert "bill 5: Local Telecom Taxes Payable: Rev.io 1.85 vs QBO 1.84" in text
    assert "bill 6: Rev.io tax 2.00 but no QBO invoice (quarantined: no mapping for product 9)" in text
    assert "bill 7: TotalTax: Rev.io 0.00 vs QBO 0.05" in text
    assert "Local Telecom Taxes Payable / GA: Rev.io 1.85 vs QBO 1.84" in text
    # a bill in two states whose QBO line disagrees cannot be split: it shows as "mixed"
    two = Counter({("Local Telecom Taxes Payable", "GA"): 100, ("Local Telecom Taxes Payable", "TX"): 85})
    assert attribute_states(two, Counter({"Local Telecom Taxes Payable": 185})) == two
    assert attribute_states(two, short) == Counter({("Local Telecom Taxes Payable", "mixed"): 184})
    as_dict = compare_taxes({5: revio}, {5: qbo}).as_dict()
    assert as_dict["by_account_and_state"] == [
        {"account": "Local Telecom Taxes Payable", "state": "GA", "revio": "1.85", "qbo": "1.85"}
    ]


# ----- end to end over both sandboxes, both tax modes ---------------------------------------------------


def independent_totals(
    p: Pipeline, mode: str
) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Rev.io and QBO tax totals per (liability account | TotalTax, state), computed here from raw API data,
    not through the reconciler: Rev.io from charges + mapping, QBO from invoice lines + item accounts."""
    cfg = load_mapping(p.env.get("REVQB_MAPPING_FILE") or None)
    rt = p.runtime()
    bills = {int(b["bill_id"]) for b in rt.revio.iter_records("Bills")}
    revio: Counter[tuple[str, str]] = Counter()
    state_of_bill: dict[int, str] = {}
    for ch in rt.revio.iter_records("Charges"):
        tax = to_cents(ch.get("tax_amount") or 0)
        if not tax or ch.get("bill_id") not in bills:
            continue
        state = jurisdiction_of(ch["geocode"])
        state_of_bill[int(ch["bill_id"])] = state
        account = (
            "TotalTax"
            if mode != "lines"
            else cfg.tax_rule_for(ch["tax_class_id"], ch["geocode"]).liability_account
        )
        revio[(account, state)] += tax
    accounts = {a["Id"]: a for a in p.qbo_all("Account")}
    items = {i["Id"]: accounts[i["IncomeAccountRef"]["value"]] for i in p.qbo_all("Item")}
    qbo: Counter[tuple[str, str]] = Counter()
    for inv in p.qbo_all("Invoice", "DocNumber LIKE 'RV-%'"):
        state = state_of_bill.get(int(inv["DocNumber"][3:]), "none")
        for line in inv["Line"]:
            if line["DetailType"] != "SalesItemLineDetail":
                continue
            acct = items[line["SalesItemLineDetail"]["ItemRef"]["value"]]
            if acct["AccountType"] in LIABILITY_TYPES:
                qbo[(acct["Name"], state)] += to_cents(line["Amount"])
        total_tax = to_cents((inv.get("TxnTaxDetail") or {}).get("TotalTax") or 0)
        if total_tax:
            qbo[("TotalTax", state)] += total_tax
    return dict(revio), dict(qbo)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["lines", "total_tax_override"])
def test_seeded_cycle_tax_totals_agree_per_jurisdiction_and_account(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    with pipeline(sqlite_url, tmp_path, customers=10, seed=31) as p:
        if mode != "lines":
            mapping = tmp_path / "override.yaml"
            mapping.write_text(DEFAULT_YAML.replace("  mode: lines\n", f"  mode: {mode}\n"), encoding="utf-8")
            monkeypatch.setenv("REVQB_MAPPING_FILE", str(mapping))
            p.env["REVQB_MAPPING_FILE"] = str(mapping)
        assert p.run()
        revio, qbo = independent_totals(p, mode)
        assert revio == qbo
        states = {s for _, s in revio}
        assert len(states) >= 3, states  # several jurisdictions in the seeded cycle
        if mode == "lines":
            assert {a for a, _ in revio} >= {
                "Federal USF Payable",
                "State Telecom Taxes Payable",
                "Local Telecom Taxes Payable",
            }
        else:
            assert {a for a, _ in revio} == {"TotalTax"}
        [rec] = reconcile(p.runtime(), ["taxes"])
        assert rec.agrees, rec.differences
        assert rec.revio_buckets == rec.qbo_buckets == revio
        assert rec.revio_total_cents == rec.qbo_total_cents == sum(revio.values()) > 0
        capsys.readouterr()
        assert main(["reconcile", "--entity", "taxes"]) == 0
        assert "taxes" in capsys.readouterr().out
