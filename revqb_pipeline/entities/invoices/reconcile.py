"""Invoices reconciled: one QBO invoice per Rev.io bill (DocNumber) with the bill's invoice amount, for the
bill's customer."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from revqb_pipeline.entities.customers.reconcile import customers_of
from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE
from revqb_pipeline.money import from_cents
from revqb_pipeline.sync.reconcile import (
    AMOUNT,
    CUSTOMER,
    DUPLICATE,
    MISSING_IN_QBO,
    MISSING_IN_REVIO,
    EntityReconciliation,
    cents_of,
    problem_reason,
)
from revqb_pipeline.sync.runtime import Runtime


def reconcile_invoices(rt: Runtime) -> EntityReconciliation:
    """One QBO invoice per Rev.io bill (DocNumber), with TotalAmt equal to the bill's invoice amount and
    CustomerRef the QBO customer linked to the bill's Rev.io customer."""
    rec = EntityReconciliation("invoices")
    prefix = rt.mapping.invoice.doc_number_prefix
    names = customers_of(rt)
    bills = {str(b["bill_id"]): b for b in rt.store.rows("stg_bills")}
    revio_bills = {str(b["bill_id"]): b for b in rt.revio.iter_records("Bills") if str(b["bill_id"]) in bills}
    for bill_id in sorted(set(bills) - set(revio_bills), key=int):
        rec.differ(
            MISSING_IN_REVIO,
            f"bill {bill_id}",
            f"Rev.io bill {bill_id} is staged but no longer in Rev.io",
            revio_cents=int(bills[bill_id].get("invoice_amount_cents") or 0),
            customer=names.label(bills[bill_id].get("customer_id")),
        )
    invoices = list(rt.qbo.query_all("Invoice", where=f"DocNumber LIKE '{prefix}%'"))
    by_doc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in invoices:
        by_doc[str(inv.get("DocNumber"))].append(inv)
    for bill_id, bill in sorted(revio_bills.items(), key=lambda kv: int(kv[0])):
        reversed_ = bool(bills[bill_id].get("is_reversed"))
        expected = 0 if reversed_ else cents_of(bill.get("invoice_amount"))
        customer_id = str(bill.get("customer_id"))
        who = names.label(customer_id)
        doc = f"{prefix}{bill_id}"
        rec.revio_count += 0 if reversed_ else 1
        rec.revio_total_cents += expected
        found = by_doc.get(doc, [])
        if len(found) > 1:
            rec.differ(
                DUPLICATE,
                f"bill {bill_id}",
                f"bill {bill_id}: {len(found)} QBO invoices with DocNumber {doc}",
                revio_cents=expected,
                qbo_cents=sum(cents_of(f.get("TotalAmt")) for f in found),
                qbo_document=", ".join(f"Invoice {f['Id']} ({doc})" for f in found),
                customer=who,
            )
        if not found:
            if not reversed_:
                rec.differ(
                    MISSING_IN_QBO,
                    f"bill {bill_id}",
                    f"bill {bill_id}: no QBO invoice ({problem_reason(rt, SOURCE_TYPE, bill_id)})",
                    revio_cents=expected,
                    qbo_document=doc,
                    customer=who,
                )
            continue
        inv = found[0]
        total = cents_of(inv.get("TotalAmt"))
        rec.qbo_count += 0 if reversed_ else 1
        rec.qbo_total_cents += total
        qbo_doc = f"Invoice {inv['Id']} ({doc})"
        if total != expected:
            rec.differ(
                AMOUNT,
                f"bill {bill_id}",
                f"bill {bill_id}: Rev.io {from_cents(expected)} vs "
                f"QBO invoice {inv['Id']} {from_cents(total)}",
                revio_cents=expected,
                qbo_cents=total,
                qbo_document=qbo_doc,
                customer=who,
            )
        want = names.qbo_ids.get(customer_id)
        have = str((inv.get("CustomerRef") or {}).get("value") or "")
        if want and have != want:
            other = names.by_qbo_id().get(have)
            rec.differ(
                CUSTOMER,
                f"bill {bill_id}",
                f"bill {bill_id}: Rev.io customer {who} (QBO customer {want}) vs QBO invoice {inv['Id']} "
                f"customer {names.label(other) if other else have}",
                revio_cents=expected,
                qbo_cents=total,
                qbo_document=qbo_doc,
                customer=who,
            )
    known = {f"{prefix}{b}" for b in revio_bills}
    for doc in sorted(set(by_doc) - known):
        inv = by_doc[doc][0]
        rec.differ(
            MISSING_IN_REVIO,
            doc,
            f"QBO invoice {doc} has no staged Rev.io bill",
            qbo_cents=cents_of(inv.get("TotalAmt")),
            qbo_document=f"Invoice {inv['Id']} ({doc})",
            customer=str((inv.get("CustomerRef") or {}).get("name") or ""),
        )
    return rec
