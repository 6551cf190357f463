"""QuickBooks: mapped payloads (checked before anything is posted) and the entities loaded into QBO."""

from datetime import date
from typing import Any

import dagster as dg

from revqb_pipeline.defs._failures import fail_fast
from revqb_pipeline.defs.partitions import bill_date_partitions
from revqb_pipeline.defs.resources import QBOResource, RevioResource, StagingResource
from revqb_pipeline.defs.staging.assets import md_cell
from revqb_pipeline.entities.customers.sync import customer_requests, sync_customers
from revqb_pipeline.entities.invoices.sync import build_invoice_payloads, held_charges, sync_invoices
from revqb_pipeline.mapping import checks as mapping_checks
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.reference_data import ensure_reference_data
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writeback import INVOICE_ID_FIELD, write_back_ids
from revqb_pipeline.sync.writer import WriteReport

RETRY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)
MAPPING: dict[str, Any] = {"group_name": "quickbooks_mapping", "partitions_def": bill_date_partitions}
LOAD: dict[str, Any] = {
    "group_name": "quickbooks",
    "partitions_def": bill_date_partitions,
    "pool": "qbo_api",
    "retry_policy": RETRY,
    "kinds": {"python"},
}
INVOICE_PAYLOADS = dg.AssetKey(["quickbooks", "invoice_payloads"])


def md_table(problems: dict[str, str], heading: str = "record") -> dg.MetadataValue:
    rows = "\n".join(f"| {md_cell(k)} | {md_cell(v)} |" for k, v in sorted(problems.items()))
    return dg.MetadataValue.md(f"| {heading} | reason |\n|---|---|\n{rows}")


def report_metadata(report: WriteReport) -> dict[str, Any]:
    """Counts created / updated / linked / unchanged / quarantined / failed / waiting, plus the problems."""
    actions = ("created", "updated", "linked", "unchanged", "voided", "quarantined", "failed", "waiting")
    metadata: dict[str, Any] = {a: report.counts.get(a, 0) for a in actions}
    problems = {
        k: f"{a}: {d}" for k, (a, d) in report.outcomes.items() if a in ("quarantined", "failed", "waiting")
    }
    if problems:
        metadata["problems"] = md_table(problems)
    return metadata


def partition_customers(rt: Runtime, partition_key: str) -> list[dict[str, Any]]:
    """Customers billed in this partition, those with its payments or credits, and those updated that day."""
    billed = {int(b["customer_id"]) for b in rt.store.rows("stg_bills", partition_key=partition_key)}
    for table in ("stg_payments", "stg_credits"):
        billed |= {int(r["customer_id"]) for r in rt.store.rows(table, partition_key=partition_key)}
    rows = rt.store.rows_in("stg_customers", "customer_id", sorted(billed)) if billed else []
    seen = {int(r["customer_id"]) for r in rows}
    for row in rt.store.rows("stg_customers", partition_key=partition_key):
        if int(row["customer_id"]) not in seen:
            rows.append(row)
    return rows


@dg.asset(
    key=["quickbooks", "customer_payloads"],
    deps=[
        dg.AssetKey(["staging", "customers"]),
        dg.AssetKey(["staging", "bills"]),
        dg.AssetKey(["staging", "payments"]),
        dg.AssetKey(["staging", "credits"]),
    ],
    description="QBO Customer bodies for this partition's Rev.io customers (billed, paying, credited, new).",
    **MAPPING,
)
@fail_fast
def customer_payloads(context: dg.AssetExecutionContext, staging: StagingResource) -> dg.MaterializeResult:
    rt = staging.runtime()
    rows = partition_customers(rt, context.partition_key)
    requests, bad = customer_requests(rows, rt.mapping, rt.ledger, context.partition_key)
    save_payloads(rt.store, [{**r.__dict__, "partition_key": context.partition_key} for r in requests])
    metadata: dict[str, Any] = {"payloads": len(requests), "quarantined": len(bad)}
    if bad:
        metadata["quarantined_records"] = md_table(bad, "customer")
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    key=INVOICE_PAYLOADS,
    deps=[dg.AssetKey(["staging", "bills"]), dg.AssetKey(["staging", "charges"])],
    description="One QBO Invoice body per Rev.io bill; bills that cannot be mapped are quarantined.",
    check_specs=[
        dg.AssetCheckSpec(
            "invoice_lines_valid",
            asset=INVOICE_PAYLOADS,
            blocking=True,
            description="Qty x UnitPrice = Amount, whole cents, no negative lines; lines tie to bill totals.",
        ),
        dg.AssetCheckSpec(
            "every_bill_mapped",
            asset=INVOICE_PAYLOADS,
            description="Every bill of the partition has a payload (unmapped ones are named here).",
        ),
    ],
    **MAPPING,
)
@fail_fast
def invoice_payloads(context: dg.AssetExecutionContext, staging: StagingResource):
    rt = staging.runtime()
    pk = context.partition_key
    bills = rt.store.rows("stg_bills", partition_key=pk)
    bill_ids = [int(b["bill_id"]) for b in bills]
    charges: dict[int, list[dict[str, Any]]] = {}
    for ch in rt.store.rows_in("stg_charges", "bill_id", bill_ids) if bill_ids else []:
        charges.setdefault(int(ch["bill_id"]), []).append(ch)
    types = {int(r["product_type_id"]): r for r in rt.store.rows("stg_product_types")}
    products = {int(r["product_id"]): r for r in rt.store.rows("stg_products")}
    held = held_charges(rt.store, bill_ids)
    rows, bad = build_invoice_payloads(bills, charges, rt.mapping, types, products, held)
    for sid, reason in bad.items():
        rt.ledger.quarantine("bill", sid, reason=reason, qbo_entity="Invoice", partition_key=pk)
    save_payloads(rt.store, rows)
    yield dg.MaterializeResult(
        metadata={"payloads": len(rows), "quarantined": len(bad), "bills": len(bills)},
    )
    billed = {int(r["source_id"]) for r in rows}
    yield check_invoice_lines(
        [r["payload"] for r in rows],
        [b for b in bills if int(b["bill_id"]) in billed],
        [c for bid in sorted(billed) for c in charges.get(bid, [])],
        rt.mapping,
    )
    yield dg.AssetCheckResult(
        check_name="every_bill_mapped",
        passed=not bad,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "unmapped": len(bad),
            **({"unmapped_bills": md_table(bad, "bill")} if bad else {}),
            **({"missing_mappings": missing_mappings_table(bad)} if bad else {}),
        },
    )


def missing_mappings_table(bad: dict[str, str]) -> dg.MetadataValue:
    """Quarantine reasons (each names the missing mapping) with the bills they hold back."""
    rows = "\n".join(
        f"| {reason} | {', '.join(bills)} |" for reason, bills in mapping_checks.unmapped_summary(bad).items()
    )
    return dg.MetadataValue.md(f"| missing mapping | bills |\n|---|---|\n{rows}")


def check_invoice_lines(
    payloads: list[dict[str, Any]],
    bills: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    cfg: MappingConfig,
) -> dg.AssetCheckResult:
    """The pandera rules of mapping/checks.py (staged charges, mapped payload lines, bill totals) over this
    partition's payloads; failing rows come back as a markdown table, failing bills listed."""
    fc = mapping_checks.invoice_check_failures(payloads, bills, charges, cfg)
    if len(fc):
        failing = sorted({int(b) for b in fc["bill_id"].dropna()})
        return dg.AssetCheckResult(
            check_name="invoice_lines_valid",
            passed=False,
            metadata={
                "num_failures": len(fc),
                "failing_bills": ", ".join(str(b) for b in failing[:100]),
                "failures": dg.MetadataValue.md(fc.head(200).astype(str).to_markdown(index=False)),
            },
        )
    lines = sum(len(p.get("Line") or []) for p in payloads)
    return dg.AssetCheckResult(check_name="invoice_lines_valid", passed=True, metadata={"lines": lines})


@dg.asset(
    key=["quickbooks", "customers"],
    deps=[dg.AssetKey(["quickbooks", "customer_payloads"])],
    description="QBO customers: linked when they already exist (account, email, name), created otherwise.",
    **LOAD,
)
@fail_fast
def qbo_customers(
    context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource
) -> dg.MaterializeResult:
    rt = staging.runtime(qbo=qbo)
    rows = partition_customers(rt, context.partition_key)
    report = sync_customers(rt.qbo, rt.ledger, rows, rt.mapping, context.partition_key)
    return dg.MaterializeResult(metadata=report_metadata(report))


@dg.asset(
    key=["quickbooks", "invoices"],
    deps=[INVOICE_PAYLOADS, dg.AssetKey(["quickbooks", "customers"])],
    description="QBO invoices, one per Rev.io bill; the QBO id is written back to the bill.",
    **LOAD,
)
@fail_fast
def qbo_invoices(
    context: dg.AssetExecutionContext, staging: StagingResource, qbo: QBOResource, revio: RevioResource
) -> dg.MaterializeResult:
    rt = staging.runtime(revio=revio, qbo=qbo)
    pk = context.partition_key
    refs = ensure_reference_data(rt.qbo, rt.mapping)
    bills = rt.store.rows("stg_bills", partition_key=pk)
    report = sync_invoices(rt.qbo, rt.ledger, load_payloads(rt.store, "bill", [pk]), refs, bills)
    synced = {
        r.source_id: r.qbo_id
        for r in rt.ledger.rows(source_type="bill", statuses=[LedgerStatus.SYNCED], partition_key=pk)
        if r.qbo_id
    }
    writeback = write_back_ids(rt.revio, "Bills", INVOICE_ID_FIELD, bills, "bill_id", synced)
    metadata = report_metadata(report)
    metadata.update({f"revio_writeback_{k}": v for k, v in writeback.items()})
    metadata["reference_data_created"] = len(refs.created)
    metadata["reference_data_corrected"] = len(refs.corrected)
    metadata["as_of"] = date.today().isoformat()
    return dg.MaterializeResult(metadata=metadata)
