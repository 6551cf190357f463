"""The mapping file: default loads, rule precedence, tax rules by state, errors naming the bad key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from revqb_pipeline.mapping.config import (
    MappingConfig,
    MappingConfigError,
    jurisdiction_of,
    load_mapping,
    parse_mapping,
)
from revqb_pipeline.mapping.errors import MappingMissing, RecordError

DEFAULT_YAML = Path(__file__).resolve().parents[2] / "revqb_pipeline" / "mapping" / "default.yaml"


@pytest.fixture(scope="module")
def default_data() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_YAML.read_text())


def with_changes(data: dict[str, Any], **sections: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out.update(sections)
    return out


def test_default_mapping_loads() -> None:
    cfg = load_mapping(None)
    assert cfg.product_type_codes == {"MRC": "recurring", "USAGE": "usage", "NRC": "one_time"}
    assert {r.tax_class_id for r in cfg.taxes.rules} == {101, 102, 201, 202, 301, 302}
    assert cfg.taxes.mode == "lines"
    assert cfg.invoice.doc_number_prefix == "RV-" and cfg.invoice.credit_doc_number_prefix == "RVC-"
    assert set(cfg.payment_methods) == {"CREDIT_CARD", "ACH", "CHECK", "CASH", "OTHER"}
    assert cfg.payment_method_for("ach").deposit_account == "Undeposited Funds"
    assert cfg.payment_method_for(None).qbo_payment_method == "Other"
    assert cfg.accounts["Undeposited Funds"].existing is True
    assert cfg.accounts["Deferred Revenue"].type == "Other Current Liability"
    for rule in cfg.taxes.rules:  # every tax item posts to its liability account
        assert cfg.items[rule.item].income_account == rule.liability_account
    assert cfg.dunning.inactive_statuses == []
    assert load_mapping(DEFAULT_YAML) == cfg


def test_product_rule_precedence(default_data: dict[str, Any]) -> None:
    data = with_changes(
        default_data,
        products={
            "rules": [
                {"charge_kind": "recurring", "item": "Telecom Services"},
                {"product_type_code": "mrc", "item": "Usage"},
                {"product_type_id": 12, "item": "Installation"},
                {"product_id": 418, "item": "Service Credits", "class": "Fax"},
            ]
        },
    )
    cfg = parse_mapping(data)
    types = {12: {"product_type_code": "MRC", "charge_kind": "recurring"}, 20: {"product_type_code": "MRC"}}
    base = {"product_type_id": 12, "charge_kind": "recurring"}
    rule = cfg.item_for_charge({**base, "product_id": 418}, types)
    assert (rule.item, rule.class_, rule.matched_on) == ("Service Credits", "Fax", "product_id")
    assert cfg.item_for_charge({**base, "product_id": 1}, types).matched_on == "product_type_id"
    assert (
        cfg.item_for_charge({"product_id": 1, "product_type_id": 20, "charge_kind": "recurring"}, types).item
        == "Usage"
    )
    assert cfg.item_for_charge(
        {"product_id": 1, "product_type_id": 21, "charge_kind": "recurring"}, types
    ).item == ("Telecom Services")


def test_missing_product_mapping_names_the_product(default_data: dict[str, Any]) -> None:
    cfg = parse_mapping(
        with_changes(default_data, products={"rules": [{"charge_kind": "usage", "item": "Usage"}]})
    )
    types = {12: {"product_type_code": "MRC", "charge_kind": "recurring"}}
    products = {418: {"description": "Fax to email"}}
    with pytest.raises(MappingMissing) as err:
        cfg.item_for_charge(
            {"product_id": 418, "product_type_id": 12, "charge_kind": "recurring"}, types, products
        )
    assert err.value.kind == "product" and err.value.key == 418
    assert err.value.reason.startswith("no mapping for product 418 'Fax to email' (product type 12 MRC)")
    assert isinstance(err.value, RecordError)
    with_default = parse_mapping(
        with_changes(default_data, products={"default_item": "Telecom Services", "rules": []})
    )
    rule = with_default.item_for_charge({"product_id": 418, "product_type_id": 12}, types)
    assert (rule.item, rule.matched_on) == ("Telecom Services", "default")


def test_jurisdiction_of() -> None:
    assert jurisdiction_of("US130890000") == "GA"
    assert jurisdiction_of(" us480010000 ") == "TX"
    assert jurisdiction_of("US720010000") == "PR"
    with pytest.raises(RecordError, match="unknown state code 99"):
        jurisdiction_of("US990010000")
    with pytest.raises(RecordError, match="not in the expected form"):
        jurisdiction_of("130890000")
    with pytest.raises(RecordError, match="no geocode"):
        jurisdiction_of(None)


def test_tax_rule_state_beats_wildcard(default_data: dict[str, Any]) -> None:
    rules = [
        *default_data["taxes"]["rules"],
        {
            "tax_class_id": 201,
            "jurisdiction": "tx",
            "item": "State Telecom Excise Tax",
            "liability_account": "State Telecom Taxes Payable",
            "level": "state",
            "name": "Texas sales tax",
        },
        {
            "tax_class_id": 401,
            "jurisdiction": "CA",
            "item": "State Sales Tax",
            "liability_account": "State Telecom Taxes Payable",
            "level": "state",
            "name": "California only",
        },
    ]
    cfg = parse_mapping(with_changes(default_data, taxes={"mode": "lines", "rules": rules}))
    assert cfg.tax_rule_for(201, "US480010000").name == "Texas sales tax"
    assert cfg.tax_rule_for(201, "US130890000").name == "State Sales Tax"
    assert cfg.tax_rule_for(201, None).name == "State Sales Tax"
    assert (
        cfg.tax_rule_for(101, "garbage").item == "Federal USF Surcharge"
    )  # geocode unused without state rules
    with pytest.raises(MappingMissing, match="no mapping for tax class 401 in GA"):
        cfg.tax_rule_for(401, "US130890000")
    with pytest.raises(MappingMissing, match="no mapping for tax class 999"):
        cfg.tax_rule_for(999, "US130890000")
    with pytest.raises(RecordError, match="unknown state code"):
        cfg.tax_rule_for(401, "US000000000")


def _error_for(data: dict[str, Any]) -> str:
    with pytest.raises(MappingConfigError) as err:
        parse_mapping(data, "mine.yaml")
    return str(err.value)


def test_errors_name_the_bad_key(default_data: dict[str, Any]) -> None:
    bad = copy.deepcopy(default_data)
    bad["taxes"]["rules"][0]["level"] = "county"
    bad["invoice"]["doc_numbr_prefix"] = "X-"
    msg = _error_for(bad)
    assert msg.startswith("mine.yaml: invalid mapping file")
    assert "taxes.rules[0].level: Input should be 'federal', 'state' or 'local'" in msg
    assert "invoice.doc_numbr_prefix: unknown key" in msg

    bad = copy.deepcopy(default_data)
    bad["products"]["rules"].append({"charge_kind": "usage", "item": "Not An Item"})
    assert "products.rules[3]: charge_kind usage is already mapped by rules[1]" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    bad["products"]["rules"][0]["item"] = "Not An Item"
    assert "products.rules[0].item: item 'Not An Item' is not listed under items" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    bad["taxes"]["rules"][0]["liability_account"] = "Telecom Services Revenue"
    msg = _error_for(bad)
    assert "taxes.rules[0].liability_account: 'Telecom Services Revenue' is an account of type Income" in msg
    assert "tax item 'Federal USF Surcharge' posts to 'Federal USF Payable'" in msg

    bad = copy.deepcopy(default_data)
    bad["accounts"]["Bad Debt"]["type"] = "Expenses"
    assert "accounts.Bad Debt.type: Input should be" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    del bad["credits"]["items"]["dispute"]
    assert "credits.items: no item for credit kind(s) dispute" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    bad["revenue"]["by_charge_kind"]["usage"] = {"account": "Usage Revenue", "deferred": True}
    assert "revenue.by_charge_kind.usage.deferred_account: required when deferred is true" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    del bad["accounts"]
    assert "accounts: required key is missing" in _error_for(bad)

    bad = copy.deepcopy(default_data)
    bad["taxes"]["rules"][2]["jurisdiction"] = "Georgia"
    assert "taxes.rules[2].jurisdiction: jurisdiction must be a 2-letter US state code" in _error_for(bad)


def test_broken_yaml_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\naccounts:\n  - [unclosed\n")
    with pytest.raises(MappingConfigError) as err:
        load_mapping(path)
    assert str(path) in str(err.value) and "not valid YAML at line" in str(err.value)
    path.write_text("- just\n- a list\n")
    with pytest.raises(MappingConfigError, match="must be a YAML mapping"):
        load_mapping(path)
    with pytest.raises(MappingConfigError, match="cannot read the mapping file"):
        load_mapping(tmp_path / "missing.yaml")


def test_edited_copy_of_default_loads(tmp_path: Path, default_data: dict[str, Any]) -> None:
    data = copy.deepcopy(default_data)
    data["taxes"]["mode"] = "total_tax_override"
    data["dunning"]["inactive_statuses"] = ["closed"]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(data))
    cfg = load_mapping(str(path))
    assert isinstance(cfg, MappingConfig)
    assert cfg.taxes.mode == "total_tax_override" and cfg.dunning.inactive_statuses == ["CLOSED"]


def test_credit_kind_lookup(default_data: dict[str, Any]) -> None:
    cfg = parse_mapping(default_data)
    assert cfg.credit_item_for("bad_debt") == "Bad Debt Write-off"
    assert cfg.credit_kind_for("occ", False, "Billed in error") == "dispute"
    with_default = parse_mapping(
        with_changes(default_data, credits={**default_data["credits"], "default_kind": "adjustment"})
    )
    assert with_default.credit_kind_for("ZZZ", False, None) == "adjustment"
    with pytest.raises(MappingMissing, match="payment method 'BITCOIN'"):
        cfg.payment_method_for("BITCOIN")
