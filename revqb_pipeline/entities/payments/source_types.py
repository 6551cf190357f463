"""Ledger source types of payments and credits (the credit memo's own is the engine resolver's, which
resolves ``revio-credit:`` references)."""

from __future__ import annotations

from revqb_pipeline.sync.resolver import CREDIT_SOURCE_TYPE

SOURCE_TYPE = "payment"
APPLY_SOURCE_TYPE = "credit_application"

__all__ = ["APPLY_SOURCE_TYPE", "CREDIT_SOURCE_TYPE", "SOURCE_TYPE"]
