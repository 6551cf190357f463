"""Reconcilers of payments, credits and balances: staged Rev.io records vs what QBO holds, read live."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.markers import payments_by_marker
from revqb_pipeline.entities.payments.source_types import BILL_SOURCE_TYPE, CUSTOMER_SOURCE_TYPE, SOURCE_TYPE
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.money import from_cents, to_cents
from revqb_pipeline.sync.reconcile import EntityReconciliation
from revqb_pipeline.sync.resolver import synced_ids
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import read_by_ids


def reconcile_payments(rt: Runtime) -> EntityReconciliation:
    """Each staged Rev.io payment that should be in QBO has exactly one live QBO Payment carrying its marker,
    for its net amount; bounced / fully refunded ones have none."""
    rec = EntityReconciliation("payments")
    staged = rt.store.rows("stg_payments")
    decisions = pm.plan_payments(staged)
    live = payments_by_marker(rt.qbo, rt.mapping.invoice.payment_note_marker)
    for pid, d in sorted(decisions.items()):
        found = live.get(str(pid), [])
        if len(found) > 1:
            rec.differences.append(f"payment {pid}: {len(found)} live QBO Payments carry its marker")
        if d.action == "post":
            rec.revio_count += 1
            rec.revio_total_cents += d.net_cents
            if not found:
                row = rt.ledger.get(SOURCE_TYPE, pid)
                why = (
                    f"{row.status}: {row.last_error}"
                    if row and row.last_error
                    else (row.status if row else "")
                )
                rec.differences.append(f"payment {pid}: no QBO Payment ({why or 'never synced'})")
                continue
            total = to_cents(found[0]["TotalAmt"])
            rec.qbo_count += 1
            rec.qbo_total_cents += total
            if total != d.net_cents:
                rec.differences.append(
                    f"payment {pid}: Rev.io net {from_cents(d.net_cents)} vs QBO {from_cents(total)}"
                )
        elif found:
            rec.differences.append(
                f"payment {pid} ({d.action}: {d.reason}) still has live QBO Payment {found[0]['Id']}"
            )
    return rec


def reconcile_credits(rt: Runtime) -> EntityReconciliation:
    """One QBO CreditMemo per staged Rev.io credit (DocNumber) with the credit's amount, and at most one live
    application Payment per credit."""
    rec = EntityReconciliation("credits")
    prefix = rt.mapping.invoice.credit_doc_number_prefix
    memos: dict[str, list[dict[str, Any]]] = {}
    for m in rt.qbo.query_all("CreditMemo", where=f"DocNumber LIKE '{prefix}%'"):
        memos.setdefault(str(m.get("DocNumber")), []).append(m)
    apps = payments_by_marker(rt.qbo, pm.CREDIT_APPLY_MARKER)
    for c in sorted(rt.store.rows("stg_credits"), key=lambda r: int(r["credit_memo_id"])):
        cid = int(c["credit_memo_id"])
        rec.revio_count += 1
        rec.revio_total_cents += int(c["amount_cents"])
        found = memos.get(f"{prefix}{cid}", [])
        if len(found) > 1:
            rec.differences.append(f"credit {cid}: {len(found)} QBO credit memos")
        if len(apps.get(str(cid), [])) > 1:
            rec.differences.append(f"credit {cid}: {len(apps[str(cid)])} live application Payments")
        if not found:
            rec.differences.append(f"credit {cid}: no QBO credit memo")
            continue
        total = to_cents(found[0]["TotalAmt"])
        rec.qbo_count += 1
        rec.qbo_total_cents += total
        if total != int(c["amount_cents"]):
            rec.differences.append(
                f"credit {cid}: Rev.io {from_cents(int(c['amount_cents']))} vs QBO {from_cents(total)}"
            )
    return rec


def reconcile_balances(rt: Runtime) -> EntityReconciliation:
    """QBO invoice Balance = Rev.io's outstanding on the bill, and QBO customer Balance = Rev.io's balance
    (minus charges not on a bill yet, which reach QBO only with their bill), to the cent, read live."""
    rec = EntityReconciliation("balances")
    staged_bills = {int(b["bill_id"]) for b in rt.store.rows("stg_bills")}
    bills = [
        norm.normalize_bill(b) for b in rt.revio.iter_records("Bills") if int(b["bill_id"]) in staged_bills
    ]
    payments = [norm.normalize_payment(p) for p in rt.revio.iter_records("Payments")]
    outstanding = pm.revio_outstanding(bills, payments)
    invoices = synced_ids(rt.ledger, BILL_SOURCE_TYPE)
    qbo_invoices = read_by_ids(
        rt.qbo, "Invoice", [invoices[str(b)] for b in outstanding if str(b) in invoices]
    )
    for bid, owed in sorted(outstanding.items()):
        qid = invoices.get(str(bid))
        inv = qbo_invoices.get(qid or "")
        rec.revio_count += 1
        rec.revio_total_cents += owed
        if inv is None:
            rec.differences.append(f"bill {bid}: no QBO invoice to compare")
            continue
        bal = to_cents(inv.get("Balance") or 0)
        rec.qbo_count += 1
        rec.qbo_total_cents += bal
        if bal != owed:
            rec.differences.append(
                f"bill {bid}: Rev.io outstanding {from_cents(owed)} vs QBO invoice {qid} "
                f"Balance {from_cents(bal)}"
            )
    unbilled: dict[int, int] = {}
    for ch in rt.revio.iter_records("Charges"):
        if not ch.get("bill_id"):
            unbilled[int(ch["customer_id"])] = unbilled.get(int(ch["customer_id"]), 0) + to_cents(
                ch["amount"]
            )
    customers = synced_ids(rt.ledger, CUSTOMER_SOURCE_TYPE)
    qbo_customers = read_by_ids(rt.qbo, "Customer", customers.values())
    for raw in rt.revio.iter_records("Customers"):
        cid = str(raw["customer_id"])
        if cid not in customers or customers[cid] not in qbo_customers:
            continue
        want = int(norm.normalize_customer(raw)["balance_cents"] or 0) - unbilled.get(int(cid), 0)
        have = to_cents(qbo_customers[customers[cid]].get("Balance") or 0)
        if have != want:
            rec.differences.append(
                f"customer {cid}: Rev.io balance {from_cents(want)} vs QBO {from_cents(have)}"
            )
    return rec
