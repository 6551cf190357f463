"""The product catalog is read only on a day with charges (issue 10: fixed cost of a quiet day)."""

from __future__ import annotations

import dagster as dg

from revqb_pipeline.defs.revio.assets import extract_assets_defs
from revqb_pipeline.entities import REGISTRY, extract_assets, extract_gates


def test_catalog_is_gated_on_charges_and_reads_after_them() -> None:
    assert extract_gates() == {"catalog": ("charge",)}
    specs = extract_assets()
    assert all(s.staging_only for s in specs["catalog"])
    assert all("catalog" in s.stage_deps for s in REGISTRY if s.source_type == "charge")
    catalog = next(a for a in extract_assets_defs if a.key == dg.AssetKey(["revio", "catalog"]))
    assert catalog.dependency_keys == {dg.AssetKey(["revio", "charges"])}
    others = [a for a in extract_assets_defs if a.key != catalog.key]
    assert all(dg.AssetKey(["revio", "catalog"]) not in a.dependency_keys for a in others)
