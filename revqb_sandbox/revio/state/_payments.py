"""Payments: on account or against a bill, bounces (NSF/returns) and refunds."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio import catalog
from revqb_sandbox.revio.catalog import q2
from revqb_sandbox.revio.state._balances import Balances
from revqb_sandbox.revio.state._dates import fmt
from revqb_sandbox.revio.state._store import ZERO, SandboxError


class Payments(Balances):
    """Payment rows; bounces and refunds are shaped by :attr:`bounce_mode` and :attr:`refund_mode`."""

    def post_payment(
        self,
        customer_id: int,
        at: datetime,
        *,
        amount: Decimal,
        method: str = "CHECK",
        bill_id: int | None = None,
        received: datetime | None = None,
        reference_number: str | None = None,
        source: str = "API",
        authorization_code: str | None = None,
        emit: bool = True,
        **extra: Any,
    ) -> dict[str, Any]:
        """Record a payment (on account unless ``bill_id``)."""
        self.get("customers", customer_id)
        method = method.upper()
        if method not in catalog.METHOD_IDS:
            raise SandboxError(f"unknown payment method {method!r}; use one of {sorted(catalog.METHOD_IDS)}")
        if bill_id is not None:
            bill = self.get("bills", bill_id)
            if bill["customer_id"] != customer_id:
                raise SandboxError(f"bill {bill_id} belongs to another customer")
        rec = {
            "payment_id": None,
            "customer_id": customer_id,
            "bill_id": bill_id,
            "agent_id": None,
            "reference_number": reference_number,
            "created_by": 1,
            "created_date": fmt(at),
            "received_date": fmt(received or at),
            "source": source,
            "balance": ZERO,
            "payment_account_id": None,
            "ebilling_profile_id": None,
            "method": method,
            "amount": q2(amount),
            "refund_flag": False,
            "payment_type_id": catalog.METHOD_IDS[method],
            "bounced": False,
            "authorization_code": authorization_code,
            "original_payment_id": None,
            **extra,
        }
        if bill_id is not None and rec["amount"] > 0:
            rec["balance"] = max(ZERO, rec["amount"] - self.bill_open_amount(bill_id))
        rec = self.insert("payments", rec)
        self.refresh_finance(customer_id, at)
        if emit:
            self.emit("payment_created", rec["payment_id"])
        return rec

    def bounce_payment(self, payment_id: int, at: datetime) -> list[dict[str, Any]]:
        """Bounce (NSF/return) a payment; returns the changed/added rows."""
        orig = self.get("payments", payment_id)
        if orig["refund_flag"] or orig["original_payment_id"] is not None or orig["amount"] <= 0:
            raise SandboxError("only an original, positive payment can bounce")
        if orig["bounced"] or any(
            p["original_payment_id"] == payment_id and not p["refund_flag"]
            for p in self.owned("payments", orig["customer_id"])
        ):
            raise SandboxError(f"payment {payment_id} already bounced")
        out: list[dict[str, Any]] = []
        if self.bounce_mode in ("flag_and_reversal", "flag_only"):
            orig["bounced"] = True
            out.append(orig)
        if self.bounce_mode in ("flag_and_reversal", "reversal_only"):
            rev = self.post_payment(
                orig["customer_id"],
                at,
                amount=-orig["amount"],
                method=orig["method"],
                bill_id=orig["bill_id"],
                reference_number=f"BOUNCE-{orig['reference_number'] or payment_id}",
                source="RETURN",
                emit=False,
                bounced=True,
                original_payment_id=payment_id,
            )
            out.append(rev)
        self.refresh_finance(orig["customer_id"], at)
        for row in out:
            self.emit("payment_updated" if row is orig else "payment_created", row["payment_id"])
        return out

    def refund_payment(self, payment_id: int, at: datetime, amount: Decimal | None = None) -> dict[str, Any]:
        """Refund (part of) a payment as a new ``refund_flag`` row."""
        orig = self.get("payments", payment_id)
        if orig["refund_flag"] or orig["original_payment_id"] is not None or orig["amount"] <= 0:
            raise SandboxError("only an original, positive payment can be refunded")
        if orig["bounced"]:
            raise SandboxError(f"payment {payment_id} bounced; nothing to refund")
        refunded = sum(
            (
                abs(p["amount"])
                for p in self.owned("payments", orig["customer_id"])
                if p["original_payment_id"] == payment_id
            ),
            ZERO,
        )
        left = orig["amount"] - refunded
        amt = left if amount is None else q2(amount)
        if amt <= 0 or amt > left:
            raise SandboxError(f"refund amount must be in (0, {left}]")
        rec = self.post_payment(
            orig["customer_id"],
            at,
            amount=-amt if self.refund_mode == "negative_row" else amt,
            method=orig["method"],
            bill_id=orig["bill_id"],
            reference_number=f"REFUND-{orig['reference_number'] or payment_id}",
            source="REFUND",
            emit=False,
            refund_flag=True,
            original_payment_id=payment_id,
        )
        self.refresh_finance(orig["customer_id"], at)
        self.emit("payment_created", rec["payment_id"])
        return rec
