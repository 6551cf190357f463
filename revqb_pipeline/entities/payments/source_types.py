"""Ledger source types of payments and credits, and of the invoices and customers they point at."""

from __future__ import annotations

from revqb_pipeline.entities.customers.sync import SOURCE_TYPE as CUSTOMER_SOURCE_TYPE
from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE as BILL_SOURCE_TYPE

SOURCE_TYPE = "payment"
CREDIT_SOURCE_TYPE = "credit"
APPLY_SOURCE_TYPE = "credit_application"

__all__ = [
    "APPLY_SOURCE_TYPE",
    "BILL_SOURCE_TYPE",
    "CREDIT_SOURCE_TYPE",
    "CUSTOMER_SOURCE_TYPE",
    "SOURCE_TYPE",
]
