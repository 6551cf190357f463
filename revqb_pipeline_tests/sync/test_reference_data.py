"""Reference data: mapped accounts and items exist in QBO once, posting where the mapping says."""

from __future__ import annotations

import pytest

from revqb_pipeline.sync.reference_data import ensure_reference_data
from revqb_pipeline_tests._harness import pipeline

pytestmark = pytest.mark.slow


def test_reference_data_is_created_once_and_existing_items_follow_the_mapping(sqlite_url, tmp_path) -> None:
    with pipeline(sqlite_url, tmp_path, customers=2, seed=3) as p:
        rt = p.runtime()
        cfg = rt.mapping
        # The seeded sandbox company already has items; point one of the mapped names somewhere else.
        services = p.qbo_query("SELECT * FROM Account WHERE Name = 'Services'")[0]
        name = next(iter(cfg.items))
        existing = p.qbo_query(f"SELECT * FROM Item WHERE Name = '{name}'")
        if not existing:
            rt.qbo.create(
                "Item",
                {"Name": name, "Type": "Service", "IncomeAccountRef": {"value": services["Id"]}},
                "pre-item",
            )
        refs = ensure_reference_data(rt.qbo, cfg)
        assert set(refs.items) == set(cfg.items) and set(refs.accounts) == set(cfg.accounts)
        for item_name, rule in cfg.items.items():
            item = p.qbo_query(f"SELECT * FROM Item WHERE Id = '{refs.items[item_name]}'")[0]
            assert item["IncomeAccountRef"]["value"] == refs.accounts[rule.income_account], item_name
        assert any(name in note for note in refs.corrected)
        # a second pass creates and corrects nothing
        again = ensure_reference_data(p.runtime().qbo, cfg, max_age_s=0)  # re-check QBO, no cache
        assert again.created == [] and again.corrected == []
        assert again.items == refs.items and again.accounts == refs.accounts
        for item_name in cfg.items:
            escaped = item_name.replace("'", "\\'")
            assert (
                len(p.qbo_query(f"SELECT * FROM Item WHERE Name = '{escaped}' AND Active IN (true, false)"))
                == 1
            )
