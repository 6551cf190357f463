"""Customers reconciled: every staged Rev.io customer has exactly one QBO customer carrying its marker."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from revqb_pipeline.entities.customers.sync import SOURCE_TYPE
from revqb_pipeline.sync.reconcile import (
    DUPLICATE,
    MISSING_IN_QBO,
    EntityReconciliation,
    problem_reason,
)
from revqb_pipeline.sync.resolver import synced_ids
from revqb_pipeline.sync.runtime import Runtime


@dataclass(frozen=True)
class Customers:
    """Rev.io customers as the other reconcilers name them, and the QBO customer each is linked to."""

    labels: dict[str, str]  # Rev.io customer id -> "Name (Rev.io 12)"
    qbo_ids: dict[str, str]  # Rev.io customer id -> QBO Customer Id (synced ledger rows)

    def label(self, customer_id: Any) -> str:
        cid = str(customer_id)
        return self.labels.get(cid, f"Rev.io customer {cid}")

    def by_qbo_id(self) -> dict[str, str]:
        """QBO Customer Id -> Rev.io customer id."""
        return {q: c for c, q in self.qbo_ids.items()}


def customers_of(rt: Runtime) -> Customers:
    """Labels of the staged Rev.io customers and their linked QBO ids (staging and ledger only)."""
    labels = {
        str(r["customer_id"]): f"{r.get('display_name') or r.get('company_name') or ''} "
        f"(Rev.io {r['customer_id']})".strip()
        for r in rt.store.rows("stg_customers")
    }
    return Customers(labels, synced_ids(rt.ledger, SOURCE_TYPE))


def reconcile_customers(rt: Runtime) -> EntityReconciliation:
    """Every staged Rev.io customer has exactly one QBO customer carrying its account marker."""
    rec = EntityReconciliation("customers", has_total=False)
    staged = rt.store.rows("stg_customers")
    rec.revio_count = len(staged)
    qbo_customers = list(rt.qbo.query_all("Customer", where="Active IN (true, false)"))
    by_id = {str(c["Id"]): c for c in qbo_customers}
    names = customers_of(rt)
    linked: Counter[str] = Counter()
    for row in staged:
        sid = str(row["customer_id"])
        ledger_row = rt.ledger.get(SOURCE_TYPE, sid)
        qid = ledger_row.qbo_id if ledger_row else None
        if not qid or qid not in by_id:
            rec.differ(
                MISSING_IN_QBO,
                f"customer {sid}",
                f"Rev.io customer {sid} has no QBO customer ({problem_reason(rt, SOURCE_TYPE, sid)})",
                customer=names.label(sid),
            )
            continue
        linked[qid] += 1
    for qid, n in linked.items():
        if n > 1:
            rec.differ(
                DUPLICATE,
                f"QBO customer {qid}",
                f"QBO customer {qid} is linked to {n} Rev.io customers",
                qbo_document=f"Customer {qid}",
            )
    markers: dict[str, list[str]] = defaultdict(list)
    for c in qbo_customers:
        for line in str(c.get("Notes", "")).splitlines():
            if line.startswith("revio:account:"):
                markers[line.strip()].append(str(c["Id"]))
    for marker, ids in markers.items():
        if len(ids) > 1:
            rec.differ(
                DUPLICATE,
                marker,
                f"duplicate QBO customers {', '.join(ids)} carry {marker}",
                qbo_document=", ".join(f"Customer {i}" for i in ids),
            )
    rec.qbo_count = len(linked)
    return rec
