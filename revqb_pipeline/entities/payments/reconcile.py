"""Reconcilers of payments, credits and balances: staged Rev.io records vs what QBO holds, read live."""

from __future__ import annotations

from typing import Any

from revqb_pipeline.entities.customers.reconcile import Customers, customers_of
from revqb_pipeline.entities.payments import mapping as pm
from revqb_pipeline.entities.payments.markers import payments_by_marker
from revqb_pipeline.entities.payments.source_types import BILL_SOURCE_TYPE, CUSTOMER_SOURCE_TYPE, SOURCE_TYPE
from revqb_pipeline.mapping import normalize as norm
from revqb_pipeline.money import from_cents, to_cents
from revqb_pipeline.sync.reconcile import (
    AMOUNT,
    CUSTOMER,
    DUPLICATE,
    MISSING_IN_QBO,
    EntityReconciliation,
)
from revqb_pipeline.sync.resolver import synced_ids
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.writer import read_by_ids


def reconcile_payments(rt: Runtime) -> EntityReconciliation:
    """Each staged Rev.io payment that should be in QBO has exactly one live QBO Payment carrying its marker,
    for its net amount; bounced / fully refunded ones have none."""
    rec = EntityReconciliation("payments")
    staged = rt.store.rows("stg_payments")
    owner = {int(p["payment_id"]): p.get("customer_id") for p in staged}
    names = customers_of(rt)
    decisions = pm.plan_payments(staged)
    live = payments_by_marker(rt.qbo, rt.mapping.invoice.payment_note_marker)
    for pid, d in sorted(decisions.items()):
        found = live.get(str(pid), [])
        who = names.label(owner.get(int(pid)))
        if len(found) > 1:
            rec.differ(
                DUPLICATE,
                f"payment {pid}",
                f"payment {pid}: {len(found)} live QBO Payments carry its marker",
                revio_cents=d.net_cents,
                qbo_cents=sum(to_cents(f["TotalAmt"]) for f in found),
                qbo_document=", ".join(f"Payment {f['Id']}" for f in found),
                customer=who,
            )
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
                rec.differ(
                    MISSING_IN_QBO,
                    f"payment {pid}",
                    f"payment {pid}: no QBO Payment ({why or 'never synced'})",
                    revio_cents=d.net_cents,
                    customer=who,
                )
                continue
            total = to_cents(found[0]["TotalAmt"])
            rec.qbo_count += 1
            rec.qbo_total_cents += total
            qbo_doc = f"Payment {found[0]['Id']}"
            if total != d.net_cents:
                rec.differ(
                    AMOUNT,
                    f"payment {pid}",
                    f"payment {pid}: Rev.io net {from_cents(d.net_cents)} vs QBO {from_cents(total)}",
                    revio_cents=d.net_cents,
                    qbo_cents=total,
                    qbo_document=qbo_doc,
                    customer=who,
                )
            _check_customer(rec, names, f"payment {pid}", owner.get(int(pid)), found[0], d.net_cents)
        elif found:
            rec.differ(
                AMOUNT,
                f"payment {pid}",
                f"payment {pid} ({d.action}: {d.reason}) still has live QBO Payment {found[0]['Id']}",
                revio_cents=0,
                qbo_cents=to_cents(found[0]["TotalAmt"]),
                qbo_document=f"Payment {found[0]['Id']}",
                customer=who,
            )
    return rec


def _check_customer(
    rec: EntityReconciliation,
    names: Customers,
    document: str,
    customer_id: Any,
    doc: dict[str, Any],
    revio_cents: int,
) -> None:
    """A ``customer`` difference when ``doc``'s CustomerRef is not the Rev.io customer's linked QBO id."""
    want = names.qbo_ids.get(str(customer_id))
    have = str((doc.get("CustomerRef") or {}).get("value") or "")
    if not want or have == want:
        return
    other = names.by_qbo_id().get(have)
    entity = "CreditMemo" if rec.entity == "credits" else "Payment"
    rec.differ(
        CUSTOMER,
        document,
        f"{document}: Rev.io customer {names.label(customer_id)} (QBO customer {want}) vs QBO {entity} "
        f"{doc['Id']} customer {names.label(other) if other else have}",
        revio_cents=revio_cents,
        qbo_cents=to_cents(doc.get("TotalAmt") or 0),
        qbo_document=f"{entity} {doc['Id']}",
        customer=names.label(customer_id),
    )


def reconcile_credits(rt: Runtime) -> EntityReconciliation:
    """One QBO CreditMemo per staged Rev.io credit (DocNumber) with the credit's amount, and at most one live
    application Payment per credit."""
    rec = EntityReconciliation("credits")
    prefix = rt.mapping.invoice.credit_doc_number_prefix
    memos: dict[str, list[dict[str, Any]]] = {}
    for m in rt.qbo.query_all("CreditMemo", where=f"DocNumber LIKE '{prefix}%'"):
        memos.setdefault(str(m.get("DocNumber")), []).append(m)
    apps = payments_by_marker(rt.qbo, pm.CREDIT_APPLY_MARKER)
    names = customers_of(rt)
    for c in sorted(rt.store.rows("stg_credits"), key=lambda r: int(r["credit_memo_id"])):
        cid = int(c["credit_memo_id"])
        amount = int(c["amount_cents"])
        who = names.label(c.get("customer_id"))
        doc = f"{prefix}{cid}"
        rec.revio_count += 1
        rec.revio_total_cents += amount
        found = memos.get(doc, [])
        if len(found) > 1:
            rec.differ(
                DUPLICATE,
                f"credit {cid}",
                f"credit {cid}: {len(found)} QBO credit memos",
                revio_cents=amount,
                qbo_cents=sum(to_cents(f["TotalAmt"]) for f in found),
                qbo_document=", ".join(f"CreditMemo {f['Id']} ({doc})" for f in found),
                customer=who,
            )
        if len(apps.get(str(cid), [])) > 1:
            rec.differ(
                DUPLICATE,
                f"credit {cid}",
                f"credit {cid}: {len(apps[str(cid)])} live application Payments",
                qbo_document=", ".join(f"Payment {a['Id']}" for a in apps[str(cid)]),
                customer=who,
            )
        if not found:
            rec.differ(
                MISSING_IN_QBO,
                f"credit {cid}",
                f"credit {cid}: no QBO credit memo",
                revio_cents=amount,
                qbo_document=doc,
                customer=who,
            )
            continue
        total = to_cents(found[0]["TotalAmt"])
        rec.qbo_count += 1
        rec.qbo_total_cents += total
        if total != amount:
            rec.differ(
                AMOUNT,
                f"credit {cid}",
                f"credit {cid}: Rev.io {from_cents(amount)} vs QBO {from_cents(total)}",
                revio_cents=amount,
                qbo_cents=total,
                qbo_document=f"CreditMemo {found[0]['Id']} ({doc})",
                customer=who,
            )
        _check_customer(rec, names, f"credit {cid}", c.get("customer_id"), found[0], amount)
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
    names = customers_of(rt)
    owners = {int(b["bill_id"]): b.get("customer_id") for b in bills}
    for bid, owed in sorted(outstanding.items()):
        qid = invoices.get(str(bid))
        inv = qbo_invoices.get(qid or "")
        who = names.label(owners.get(bid))
        rec.revio_count += 1
        rec.revio_total_cents += owed
        if inv is None:
            rec.differ(
                MISSING_IN_QBO,
                f"bill {bid}",
                f"bill {bid}: no QBO invoice to compare",
                revio_cents=owed,
                customer=who,
            )
            continue
        bal = to_cents(inv.get("Balance") or 0)
        rec.qbo_count += 1
        rec.qbo_total_cents += bal
        if bal != owed:
            rec.differ(
                AMOUNT,
                f"bill {bid}",
                f"bill {bid}: Rev.io outstanding {from_cents(owed)} vs QBO invoice {qid} "
                f"Balance {from_cents(bal)}",
                revio_cents=owed,
                qbo_cents=bal,
                qbo_document=f"Invoice {qid} ({inv.get('DocNumber', '')})",
                customer=who,
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
            rec.differ(
                AMOUNT,
                f"customer {cid}",
                f"customer {cid}: Rev.io balance {from_cents(want)} vs QBO {from_cents(have)}",
                revio_cents=want,
                qbo_cents=have,
                qbo_document=f"Customer {customers[cid]}",
                customer=names.label(cid),
            )
    return rec
