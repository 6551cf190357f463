"""Reconciliation: counts and totals per entity type in Rev.io and in QBO, and every difference found.

Rev.io is read through its API (not the staging copy), QBO through queries, so this also catches
anything the ledger believes that QBO does not show.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from revqb_pipeline.money import from_cents, to_cents
from revqb_pipeline.sync.runtime import Runtime


@dataclass
class EntityReconciliation:
    """One entity type on both sides."""

    entity: str
    revio_count: int = 0
    qbo_count: int = 0
    revio_total_cents: int = 0
    qbo_total_cents: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return (
            not self.differences
            and self.revio_count == self.qbo_count
            and self.revio_total_cents == self.qbo_total_cents
        )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["revio_total"] = str(from_cents(self.revio_total_cents))
        out["qbo_total"] = str(from_cents(self.qbo_total_cents))
        out["agrees"] = self.agrees
        return out


Reconciler = Callable[[Runtime], EntityReconciliation]


def _cents(value: Any) -> int:
    return to_cents(value) if value not in (None, "") else 0


def _problem_reason(rt: Runtime, source_type: str, source_id: str) -> str:
    row = rt.ledger.get(source_type, source_id)
    if row is None:
        return "never synced"
    return f"{row.status}: {row.last_error}" if row.last_error else str(row.status)


def reconcile_customers(rt: Runtime) -> EntityReconciliation:
    """Every staged Rev.io customer has exactly one QBO customer carrying its account marker."""
    rec = EntityReconciliation("customers")
    staged = rt.store.rows("stg_customers")
    rec.revio_count = len(staged)
    qbo_customers = list(rt.qbo.query_all("Customer", where="Active IN (true, false)"))
    by_id = {str(c["Id"]): c for c in qbo_customers}
    linked: Counter[str] = Counter()
    for row in staged:
        sid = str(row["customer_id"])
        ledger_row = rt.ledger.get("customer", sid)
        qid = ledger_row.qbo_id if ledger_row else None
        if not qid or qid not in by_id:
            rec.differences.append(
                f"Rev.io customer {sid} has no QBO customer ({_problem_reason(rt, 'customer', sid)})"
            )
            continue
        linked[qid] += 1
    for qid, n in linked.items():
        if n > 1:
            rec.differences.append(f"QBO customer {qid} is linked to {n} Rev.io customers")
    markers: dict[str, list[str]] = defaultdict(list)
    for c in qbo_customers:
        for line in str(c.get("Notes", "")).splitlines():
            if line.startswith("revio:account:"):
                markers[line.strip()].append(str(c["Id"]))
    for marker, ids in markers.items():
        if len(ids) > 1:
            rec.differences.append(f"duplicate QBO customers {', '.join(ids)} carry {marker}")
    rec.qbo_count = len(linked)
    return rec


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
        expected = 0 if reversed_ else _cents(bill.get("invoice_amount"))
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
                    f"bill {bill_id}: no QBO invoice ({_problem_reason(rt, 'bill', bill_id)})"
                )
            continue
        total = _cents(found[0].get("TotalAmt"))
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


def reconcile_with(
    rt: Runtime, reconcilers: Mapping[str, Reconciler], entities: list[str] | None = None
) -> list[EntityReconciliation]:
    """Run ``reconcilers`` (all, or the named ones); the registry's list is ``entities.reconcile``."""
    names = entities or list(reconcilers)
    return [reconcilers[n](rt) for n in names]


def format_table(results: list[EntityReconciliation]) -> str:
    """A plain-text table for the terminal, differences listed under it."""
    head = f"{'entity':<14}{'Rev.io #':>10}{'QBO #':>10}{'Rev.io total':>16}{'QBO total':>16}  status"
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.entity:<14}{r.revio_count:>10}{r.qbo_count:>10}{from_cents(r.revio_total_cents)!s:>16}"
            f"{from_cents(r.qbo_total_cents)!s:>16}  {'OK' if r.agrees else 'DIFFERENT'}"
        )
    for r in results:
        for d in r.differences[:50]:
            lines.append(f"  - {r.entity}: {d}")
        if len(r.differences) > 50:
            lines.append(f"  - {r.entity}: ... {len(r.differences) - 50} more")
    return "\n".join(lines)
