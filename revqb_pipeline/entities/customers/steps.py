"""Customers' daily QBO steps: payloads for the partition's customers, then lookup-or-create in QBO."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.entities.customers.sync import customer_requests, sync_customers
from revqb_pipeline.sync.payloads import save_payloads
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import Step, StepResult, md_table, report_metadata

#: Staging tables whose rows name the customers a partition touches (besides the customers table itself).
TOUCHING_TABLES = ("stg_bills", "stg_payments", "stg_credits")


def partition_customers(rt: Runtime, partition_key: str) -> list[dict[str, Any]]:
    """Customers billed in this partition, those with its payments or credits, and those updated that day."""
    touched: set[int] = set()
    for table in TOUCHING_TABLES:
        touched |= {int(r["customer_id"]) for r in rt.store.rows(table, partition_key=partition_key)}
    rows = rt.store.rows_in("stg_customers", "customer_id", sorted(touched)) if touched else []
    seen = {int(r["customer_id"]) for r in rows}
    for row in rt.store.rows("stg_customers", partition_key=partition_key):
        if int(row["customer_id"]) not in seen:
            rows.append(row)
    return rows


def build_payloads(rt: Runtime, partition_key: str) -> StepResult:
    """QBO Customer bodies for the partition's customers; the ones that cannot be mapped are named."""
    rows = partition_customers(rt, partition_key)
    requests, bad = customer_requests(rows, rt.mapping, rt.ledger, partition_key)
    save_payloads(rt.store, [{**r.__dict__, "partition_key": partition_key} for r in requests])
    metadata: dict[str, Any] = {"payloads": len(requests), "quarantined": len(bad)}
    if bad:
        metadata["quarantined_records"] = md_table(bad, "customer")
    return StepResult(metadata)


def load(rt: Runtime, partition_key: str) -> StepResult:
    """Link each customer to the QBO customer that already exists (account, email, name) or create it."""
    rows = partition_customers(rt, partition_key)
    report = sync_customers(rt.qbo, rt.ledger, rows, rt.mapping, partition_key)
    return StepResult(report_metadata(report))


STEPS = (
    Step(
        "customer_payloads",
        "QBO Customer bodies for this partition's Rev.io customers (billed, paying, credited, new).",
        deps=("staging/customers", "staging/bills", "staging/payments", "staging/credits"),
        run=build_payloads,
    ),
    Step(
        "customers",
        "QBO customers: linked when they already exist (account, email, name), created otherwise.",
        deps=("quickbooks/customer_payloads",),
        run=load,
        load=True,
    ),
)
