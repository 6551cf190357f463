"""What a customer owes and has paid: payment netting, a bill's open amount, the customer's finance."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio.state._dates import fmt
from revqb_sandbox.revio.state._store import ZERO, TenantStore


class Balances(TenantStore):
    """Amounts derived from the records (bounce and refund rows per :attr:`bounce_mode`)."""

    def net_paid(self, p: dict[str, Any]) -> Decimal:
        """What a payment row contributes to the customer's payments (refunds and bounces reduce it)."""
        if p["refund_flag"]:
            return -abs(p["amount"])
        if p["bounced"] and p["original_payment_id"] is None and self.bounce_mode == "flag_only":
            return ZERO
        return p["amount"]

    def bill_open_amount(self, bill_id: int) -> Decimal:
        """What is still unpaid on a bill (never negative)."""
        bill = self.get("bills", bill_id)
        paid = sum((self.net_paid(p) for p in self.children("payments", bill_id)), ZERO)
        return max(ZERO, bill["amount_due"] - paid)

    def refresh_finance(self, customer_id: int, at: datetime) -> None:
        """Recompute ``finance.amount_due/amount_overdue/balance/due_date`` from bills and transactions."""
        cust = self.get("customers", customer_id)
        fin = cust["finance"]
        bills = sorted(
            (b for b in self.owned("bills", customer_id) if not b.get("is_reversed")),
            key=lambda b: (b["due_date"], b["bill_id"]),
        )
        paid = sum((self.net_paid(p) for p in self.owned("payments", customer_id)), ZERO)
        unposted = sum((c["amount"] for c in self.unposted("charges", customer_id)), ZERO) - sum(
            (c["amount"] for c in self.unposted("credits", customer_id)), ZERO
        )
        billed = sum((b["amount_due"] for b in bills), ZERO)
        remaining, due, overdue = paid, ZERO, ZERO
        today = fmt(at.date())
        for b in bills:
            take = min(max(remaining, ZERO), max(b["amount_due"], ZERO))
            remaining -= take
            open_amt = max(b["amount_due"], ZERO) - take
            if b["due_date"] < today:
                overdue += open_amt
            else:
                due += open_amt
        fin.update(
            amount_due=due,
            amount_overdue=overdue,
            balance=billed + unposted - paid,
            due_date=bills[-1]["due_date"] if bills else fin.get("due_date"),
        )
