"""Customer status changes (status, suspension, dunning) and the tenant's reconciliation summary."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio.catalog import q2
from revqb_sandbox.revio.state._balances import Balances
from revqb_sandbox.revio.state._dates import fmt
from revqb_sandbox.revio.state._store import ZERO, SandboxError


class Customers(Balances):
    """Customer-level changes and totals."""

    def set_customer_status(self, customer_id: int, at: datetime, **changes: Any) -> dict[str, Any]:
        """Change status / suspension / dunning fields (``collection_step``, ``amount_overdue``)."""
        cust = self.get("customers", customer_id)
        if "status" in changes and changes["status"] is not None:
            status = str(changes["status"]).upper()
            if status not in ("OPEN", "PENDING", "CLOSED", "PROSPECT"):
                raise SandboxError(f"unknown status {status!r}")
            cust["status"] = status
            cust["close_date"] = fmt(at) if status == "CLOSED" else None
        if changes.get("suspended") is not None:
            flag = bool(changes["suspended"])
            if flag != bool(cust["suspended"]):
                cust["suspended"] = flag
                cust["suspended_date"] = fmt(at) if flag else None
        if changes.get("collection_step") is not None:
            cust["fields"][1]["value"] = str(changes["collection_step"])
        if changes.get("amount_overdue") is not None:
            cust["finance"]["amount_overdue"] = q2(changes["amount_overdue"])
        cust["updated_date"] = fmt(at)
        self.emit("customer_updated", customer_id)
        return cust

    def summary(self) -> dict[str, Any]:
        """Counts and totals per resource."""
        t = self.tables

        def total(table: str, key: str, pred: Callable[[dict[str, Any]], bool] = lambda r: True) -> Decimal:
            return sum((r[key] for r in t[table].values() if pred(r)), ZERO)

        return {
            "customers": {
                "count": len(t["customers"]),
                "by_status": _count_by(t["customers"].values(), "status"),
                "suspended": sum(1 for c in t["customers"].values() if c["suspended"]),
                "balance": sum((c["finance"]["balance"] for c in t["customers"].values()), ZERO),
            },
            "products": {"count": len(t["products"])},
            "product_types": {"count": len(t["product_types"])},
            "payment_methods": {"count": len(t["payment_methods"])},
            "service_products": {"count": len(t["service_products"])},
            "bills": {
                "count": len(t["bills"]),
                "reversed": sum(1 for b in t["bills"].values() if b.get("is_reversed")),
                "invoice_amount": total("bills", "invoice_amount"),
                "credit_memo_amount": total("bills", "credit_memo_amount"),
                "amount_due": total("bills", "amount_due"),
            },
            "charges": {
                "count": len(t["charges"]),
                "unposted": sum(1 for c in t["charges"].values() if c["bill_id"] is None),
                "amount": total("charges", "amount"),
                "product_amount": total("charges", "product_amount"),
                "tax_amount": total("charges", "tax_amount"),
                "posted_amount": total("charges", "amount", lambda r: r["bill_id"] is not None),
            },
            "credits": {
                "count": len(t["credits"]),
                "unposted": sum(1 for c in t["credits"].values() if c["bill_id"] is None),
                "amount": total("credits", "amount"),
                "posted_amount": total("credits", "amount", lambda r: r["bill_id"] is not None),
                "by_atype": _count_by(t["credits"].values(), "atype"),
                "bad_debt_amount": total("credits", "amount", lambda r: r["is_bad_debt"]),
            },
            "payments": {
                "count": len(t["payments"]),
                "unposted": sum(1 for p in t["payments"].values() if p["bill_id"] is None),
                "amount": total("payments", "amount"),
                "net_amount": sum((self.net_paid(p) for p in t["payments"].values()), ZERO),
                "bounced": sum(
                    1 for p in t["payments"].values() if p["bounced"] and not p["original_payment_id"]
                ),
                "refunds": sum(1 for p in t["payments"].values() if p["refund_flag"]),
                "by_method": _count_by(t["payments"].values(), "method"),
            },
        }


def _count_by(records: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        k = str(r.get(key))
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items()))
