"""Invoices reconciled: one QBO invoice per Rev.io bill (DocNumber) with the bill's invoice amount."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE
from revqb_pipeline.money import from_cents
from revqb_pipeline.sync.reconcile import EntityReconciliation, cents_of, problem_reason
from revqb_pipeline.sync.runtime import Runtime


def reconcile_invoices(rt: Runtime) -> EntityReconciliation:
    """One QBO invoice per Rev.io bill (DocNumber), with TotalAmt equal to the bill's invoice amount."""
    rec = EntityReconciliation("invoices")
    prefix = rt.mapping.invoice.doc_number_prefix
    bills = {str(b["bill_id"]): b for b in rt.store.rows("stg_bills")}
    revio_bills = {str(b["bill_id"]): b for b in rt.revio.iter_records("Bills") if str(b["bill_id"]) in bills}
    for bill_id in sorted(set(bills) - set(revio_bills), key=int):
        rec.differences.append(f"Rev.io bill {bill_id} is staged but no longer in Rev.io")
    invoices = list(rt.qbo.query_all("Invoice", where=f"DocNumber LIKE '{prefix}%'"))
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in invoices:
        by_doc[str(inv.get("DocNumber"))].append(inv)
    for bill_id, bill in sorted(revio_bills.items(), key=lambda kv: int(kv[0])):
        reversed_ = bool(bills[bill_id].get("is_reversed"))
        expected = 0 if reversed_ else cents_of(bill.get("invoice_amount"))
        rec.revio_count += 0 if reversed_ else 1
        rec.revio_total_cents += expected
        found = by_doc.get(f"{prefix}{bill_id}", [])
        if len(found) > 1:
            rec.differences.append(
                f"bill {bill_id}: {len(found)} QBO invoices with DocNumber {prefix}{bill_id}"
            )
        if not found:
            if not reversed_:
                rec.differences.append(
                    f"bill {bill_id}: no QBO invoice ({problem_reason(rt, SOURCE_TYPE, bill_id)})"
                )
            continue
        total = cents_of(found[0].get("TotalAmt"))
        rec.qbo_count += 0 if reversed_ else 1
        rec.qbo_total_cents += total
        if total != expected:
            rec.differences.append(
                f"bill {bill_id}: Rev.io {from_cents(expected)} vs "
                f"QBO invoice {found[0]['Id']} {from_cents(total)}"
            )
    known = {f"{prefix}{b}" for b in revio_bills}
    for doc in sorted(set(by_doc) - known):
        rec.differences.append(f"QBO invoice {doc} has no staged Rev.io bill")
    return rec
