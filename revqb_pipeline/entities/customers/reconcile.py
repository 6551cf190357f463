"""Customers reconciled: every staged Rev.io customer has exactly one QBO customer carrying its marker."""

from __future__ import annotations

from collections import Counter, defaultdict

from revqb_pipeline.entities.customers.sync import SOURCE_TYPE
from revqb_pipeline.sync.reconcile import EntityReconciliation, problem_reason
from revqb_pipeline.sync.runtime import Runtime


def reconcile_customers(rt: Runtime) -> EntityReconciliation:
    """Every staged Rev.io customer has exactly one QBO customer carrying its account marker."""
    rec = EntityReconciliation("customers", has_total=False)
    staged = rt.store.rows("stg_customers")
    rec.revio_count = len(staged)
    qbo_customers = list(rt.qbo.query_all("Customer", where="Active IN (true, false)"))
    by_id = {str(c["Id"]): c for c in qbo_customers}
    linked: Counter[str] = Counter()
    for row in staged:
        sid = str(row["customer_id"])
        ledger_row = rt.ledger.get(SOURCE_TYPE, sid)
        qid = ledger_row.qbo_id if ledger_row else None
        if not qid or qid not in by_id:
            rec.differences.append(
                f"Rev.io customer {sid} has no QBO customer ({problem_reason(rt, SOURCE_TYPE, sid)})"
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
