"""Invoices' daily QBO steps: one checked Invoice body per bill, then the load and the Rev.io write-back."""

from __future__ import annotations

from datetime import date
from typing import Any

from revqb_pipeline.entities.invoices.sync import (
    SOURCE_TYPE,
    build_invoice_payloads,
    held_charges,
    prepare_load,
    sync_invoices,
)
from revqb_pipeline.mapping import checks as mapping_checks
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.payloads import load_payloads, save_payloads
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import CheckOutcome, CheckSpec, Markdown, Step, StepResult, md_table
from revqb_pipeline.sync.steps import report_metadata as write_metadata
from revqb_pipeline.sync.writeback import INVOICE_ID_FIELD, WriteBack
from revqb_pipeline.sync.writer import WriteReport


def build_payloads(rt: Runtime, partition_key: str) -> StepResult:
    """One QBO Invoice body per staged bill of the partition; unmappable bills are quarantined (named)."""
    pk = partition_key
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
        rt.ledger.quarantine(SOURCE_TYPE, sid, reason=reason, qbo_entity="Invoice", partition_key=pk)
    save_payloads(rt.store, rows)
    billed = {int(r["source_id"]) for r in rows}
    lines = check_invoice_lines(
        {int(r["source_id"]): r["payload"] for r in rows},
        [b for b in bills if int(b["bill_id"]) in billed],
        [c for bid in sorted(billed) for c in charges.get(bid, [])],
        rt.mapping,
        types,
        products,
    )
    mapped = CheckOutcome(
        "every_bill_mapped",
        passed=not bad,
        warn=True,
        metadata={
            "unmapped": len(bad),
            **({"unmapped_bills": md_table(bad, "bill")} if bad else {}),
            **({"missing_mappings": missing_mappings_table(bad)} if bad else {}),
        },
    )
    return StepResult(
        {"payloads": len(rows), "quarantined": len(bad), "bills": len(bills)}, checks=[lines, mapped]
    )


def missing_mappings_table(bad: dict[str, str]) -> Markdown:
    """Quarantine reasons (each names the missing mapping) with the bills they hold back."""
    rows = "\n".join(
        f"| {reason} | {', '.join(bills)} |" for reason, bills in mapping_checks.unmapped_summary(bad).items()
    )
    return Markdown(f"| missing mapping | bills |\n|---|---|\n{rows}")


def check_invoice_lines(
    payloads: dict[int, dict[str, Any]],
    bills: list[dict[str, Any]],
    charges: list[dict[str, Any]],
    cfg: MappingConfig,
    product_types: dict[int, dict[str, Any]] | None = None,
    products: dict[int, dict[str, Any]] | None = None,
) -> CheckOutcome:
    """The pandera rules of mapping/checks.py (staged charges, mapped lines, bill totals) as vectorized
    column checks over this partition's bills (``staged_invoice_check_failures``), each payload tied to its
    checked lines; failing rows come back as a markdown table, failing bills listed."""
    if not payloads:  # a day without bills to post: nothing to check (skips pandera's fixed cost)
        return CheckOutcome("invoice_lines_valid", passed=True, metadata={"lines": 0})
    fc = mapping_checks.staged_invoice_check_failures(
        bills, charges, cfg, product_types=product_types, products=products, payloads=payloads
    )
    if len(fc):
        failing = sorted({int(b) for b in fc["bill_id"].dropna()})
        return CheckOutcome(
            "invoice_lines_valid",
            passed=False,
            metadata={
                "num_failures": len(fc),
                "failing_bills": ", ".join(str(b) for b in failing[:100]),
                "failures": Markdown(fc.head(200).astype(str).to_markdown(index=False)),
            },
        )
    lines = sum(len(p.get("Line") or []) for p in payloads.values())
    return CheckOutcome("invoice_lines_valid", passed=True, metadata={"lines": lines})


#: Payloads written to QBO before their ids are handed to the Rev.io write-back: one batch first (the
#: write-back starts as early as possible), then 10 batches of 30. The day's DocNumbers are looked up once,
#: ahead of the first slice (``prepare_load``: 1,004 payloads = 11 ``IN`` lists, sent with the reference
#: data's lists in one ``/batch`` call), so slicing costs no extra QBO request.
FIRST_SLICE = 30
LOAD_SLICE = 300


def load_slices(payloads: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``payloads`` cut into the load's slices (one empty slice when there is none)."""
    slices = [payloads[:FIRST_SLICE]] if payloads else [[]]
    rest = payloads[FIRST_SLICE:]
    slices += [rest[i : i + LOAD_SLICE] for i in range(0, len(rest), LOAD_SLICE)]
    return slices


def load(rt: Runtime, partition_key: str) -> StepResult:
    """Post the partition's invoices slice by slice (void reversed bills with the last); each slice's QBO ids
    are written back to their Rev.io bills in background threads while the next slice is posted."""
    pk = partition_key
    payloads = load_payloads(rt.store, SOURCE_TYPE, [pk])
    slices = load_slices(payloads)
    refs, known = prepare_load(rt.qbo, rt.ledger, rt.mapping, payloads, len(slices))
    bills = rt.store.rows("stg_bills", partition_key=pk)
    enabled = rt.settings.revio_writeback
    report = WriteReport()
    with WriteBack(rt.revio, "Bills", INVOICE_ID_FIELD, bills, "bill_id", enabled=enabled) as writeback:
        for n, part in enumerate(slices):
            last = n == len(slices) - 1
            done = sync_invoices(rt.qbo, rt.ledger, part, refs, bills if last else [], known)
            report.merge(done)
            writeback.submit(
                {sid: qid for sid, qid in done.qbo_ids.items() if done.outcomes[sid][0] != "voided"}
            )
        # what the ledger holds as synced is the reference (e.g. a bill synced by an earlier run)
        synced = rt.ledger.rows(source_type=SOURCE_TYPE, statuses=[LedgerStatus.SYNCED], partition_key=pk)
        writeback.submit({r.source_id: r.qbo_id for r in synced if r.qbo_id})
        counts = writeback.wait()
    metadata = write_metadata(report)
    metadata["revio_writeback"] = "on" if enabled else "off"
    if enabled:
        metadata.update({f"revio_writeback_{k}": v for k, v in counts.items()})
        metadata["revio_writeback_wait_s"] = round(writeback.wait_s, 2)
    metadata["reference_data_created"] = len(refs.created)
    metadata["reference_data_corrected"] = len(refs.corrected)
    metadata["as_of"] = date.today().isoformat()
    return StepResult(metadata)


STEPS = (
    Step(
        "invoice_payloads",
        "One QBO Invoice body per Rev.io bill; bills that cannot be mapped are quarantined.",
        deps=("staging/bills", "staging/charges"),
        run=build_payloads,
        checks=(
            CheckSpec(
                "invoice_lines_valid",
                "Qty x UnitPrice = Amount, whole cents, no negative lines; lines tie to bill totals.",
                blocking=True,
            ),
            CheckSpec(
                "every_bill_mapped",
                "Every bill of the partition has a payload (unmapped ones are named here).",
            ),
        ),
    ),
    Step(
        "invoices",
        "QBO invoices, one per Rev.io bill; the QBO id is written back to the bill.",
        deps=("quickbooks/invoice_payloads", "quickbooks/customers"),
        run=load,
        load=True,
    ),
)
