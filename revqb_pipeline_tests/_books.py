"""Assertions over both books (Rev.io vs QBO) for the payments, credits and sensor tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from revqb_pipeline.entities import reconcile
from revqb_pipeline_tests._harness import Pipeline

BILL_DAY = "2026-01-01"


def assert_books_agree(
    env: Pipeline, entities: tuple[str, ...] = ("balances", "payments", "credits")
) -> dict[str, Any]:
    """The payments / credits / balances reconcilers agree (and compared something)."""
    results = {r.entity: r for r in reconcile(env.runtime(), list(entities))}
    for name, r in results.items():
        assert r.agrees, (name, r.differences)
        assert r.revio_count > 0, name
    return results


def invoice_balance(env: Pipeline, bill_id: int) -> Decimal:
    """The QBO Balance of the invoice synced from ``bill_id``."""
    rt = env.runtime()
    row = rt.ledger.get("bill", bill_id)
    assert row is not None and row.qbo_id
    return Decimal(str(rt.qbo.read("Invoice", row.qbo_id)["Balance"]))
