"""Billing: services, bills (creation, reversal) and billing cycles (recurring and usage charges)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio.state._charges import Charges
from revqb_sandbox.revio.state._dates import add_months, fmt, period_fraction, to_date
from revqb_sandbox.revio.state._store import QTY, ZERO, SandboxError


class Billing(Charges):
    """Services on a customer's account and the bills that collect their charges."""

    def add_service_product(
        self,
        customer_id: int,
        product_id: int,
        quantity: Decimal | int,
        activated: date,
        at: datetime,
        *,
        billed_through: date | None = None,
        canceled: date | None = None,
    ) -> dict[str, Any]:
        """Add a service (an active product on the customer's account) billed by the cycles."""
        prod = self.get("products", product_id)
        rec = {
            "service_product_id": None,
            "customer_id": customer_id,
            "product_id": product_id,
            "package_id": None,
            "service_id": None,
            "description": prod["description"],
            "code_1": prod["code_1"],
            "code_2": None,
            "rate": prod["rate"],
            "billed_through_date": fmt(billed_through) if billed_through else None,
            "canceled_date": fmt(canceled) if canceled else None,
            "status": "ACTIVE",
            "status_date": fmt(at),
            "status_user_id": 1,
            "activated_date": fmt(activated),
            "cost": prod["cost"],
            "quantity": Decimal(quantity),
            "created_date": fmt(at),
            "tax_included": bool(prod.get("is_tax_included")),
            "group_on_bill": False,
            "itemized": True,
            "fields": [],
        }
        rec = self.insert("service_products", rec)
        rec["service_id"] = 60000 + rec["service_product_id"] % 20000
        return rec

    def cancel_service(self, sp_id: int, canceled: date, at: datetime) -> None:
        """Disconnect a service as of ``canceled`` (it is billed through that day)."""
        sp = self.get("service_products", sp_id)
        sp["canceled_date"] = fmt(canceled)
        sp["status"] = "DISCONNECTED"
        sp["status_date"] = fmt(at)

    def create_bill(
        self,
        customer_id: int,
        at: datetime,
        *,
        cycle_date: date | None = None,
        due_date: date | None = None,
        is_final_bill: bool = False,
        emit: bool = True,
    ) -> dict[str, Any] | None:
        """Post every unposted charge/credit/payment of the customer on a new bill (None if nothing)."""
        cust = self.get("customers", customer_id)
        charges = self.unposted("charges", customer_id)
        credits = self.unposted("credits", customer_id)
        payments = self.unposted("payments", customer_id)
        if not (charges or credits or payments):
            return None
        cycle = cycle_date or at.date()
        terms = cust["finance"].get("payment_terms_days") or 30
        invoice = sum((c["amount"] for c in charges), ZERO)
        credit = sum((c["amount"] for c in credits), ZERO)
        first = not self.owned("bills", customer_id)
        bill = self.insert(
            "bills",
            {
                "bill_id": None,
                "parent_bill_id": None,
                "bill_type": "NORMAL",
                "print_batch_id": None,
                "customer_id": customer_id,
                "due_date": fmt(due_date or cycle + timedelta(days=terms)),
                "created_date": fmt(at),
                "amount_due": invoice - credit,
                "invoice_amount": invoice,
                "credit_memo_amount": credit,
                "print_queue_flag": False,
                "printed_date": None,
                "generate_downloads": True,
                "late_fee_applied_flag": False,
                "first_month_flag": first,
                "ebpp_queue_flag": False,
                "ebpp_sent_date": None,
                "itemize_local": False,
                "is_final_bill": is_final_bill,
                "note": None,
                "bill_print_type_id": 1,
                "isLive": True,
                "cycle_date": fmt(cycle),
                "pdf_only_flag": False,
                "print_profile_id": 1,
                "ready_for_pdf_flag": True,
                "bill_create_batch_id": int(cycle.strftime("%Y%m%d")),
                "pdf_file_id": None,
                "is_reversed": False,
                "reversed_date": None,
                "fields": [{"field_id": 201, "label": "QBO Invoice Id", "value": ""}],
            },
        )
        bill["pdf_file_id"] = 900000 + bill["bill_id"] % 100000
        for rec in [*charges, *credits, *payments]:
            rec["bill_id"] = bill["bill_id"]
        self.refresh_finance(customer_id, at)
        if emit:
            self.emit("bill_created", bill["bill_id"])
        return bill

    def reverse_bill(self, bill_id: int, at: datetime) -> dict[str, Any]:
        """Reverse a bill: un-post its transactions, then flag+zero or delete it."""
        bill = self.get("bills", bill_id)
        if bill.get("is_reversed"):
            raise SandboxError(f"bill {bill_id} is already reversed")
        for table in ("charges", "credits", "payments"):
            for rec in self.children(table, bill_id):
                rec["bill_id"] = None
        if self.bill_reversal_mode == "delete":
            del self.tables["bills"][bill_id]
        else:
            bill.update(
                is_reversed=True,
                reversed_date=fmt(at),
                invoice_amount=ZERO,
                credit_memo_amount=ZERO,
                amount_due=ZERO,
            )
        self.refresh_finance(bill["customer_id"], at)
        return bill

    def run_billing_cycle(
        self,
        cycle_date: date,
        at: datetime,
        rng: random.Random,
        customer_ids: Iterable[int] | None = None,
    ) -> list[int]:
        """Bill every eligible customer for the cycle; returns new bill ids."""
        ids = sorted(customer_ids) if customer_ids is not None else sorted(self.tables["customers"])
        out: list[int] = []
        for cid in ids:
            cust = self.get("customers", cid)
            if cust["status"] == "PROSPECT":
                continue
            final = self._bill_services(cid, cycle_date, at, rng)
            bill = self.create_bill(cid, at, cycle_date=cycle_date, is_final_bill=final)
            if bill is not None:
                out.append(bill["bill_id"])
            if final and cust["status"] != "CLOSED":
                cust.update(status="CLOSED", close_date=fmt(at), updated_date=fmt(at))
                self.emit("customer_updated", cid)
        return out

    def _bill_services(self, customer_id: int, cycle: date, at: datetime, rng: random.Random) -> bool:
        """Create the recurring (advance) and usage (arrears) charges; True if this is the final bill."""
        p_end = add_months(cycle, 1) - timedelta(days=1)
        prev_start = add_months(cycle, -1)
        sps = self.owned("service_products", customer_id)
        if not sps:
            return False
        for sp in sps:
            code = self.product_type_code(self.get("products", sp["product_id"])["product_type_id"])
            activated = to_date(sp["activated_date"])
            canceled = to_date(sp["canceled_date"])
            assert activated is not None
            if code == "USAGE":
                billed = to_date(sp["billed_through_date"])
                u_start = max(activated, prev_start, billed + timedelta(days=1) if billed else activated)
                u_end = min(canceled or cycle, cycle - timedelta(days=1))
                if u_end >= u_start:
                    self._bill_usage(sp, u_start, u_end, at, rng)
                    sp["billed_through_date"] = fmt(u_end)
                continue
            billed = to_date(sp["billed_through_date"])
            nxt = billed + timedelta(days=1) if billed else activated
            last = min(p_end, canceled) if canceled else p_end
            if nxt > last or activated > cycle:
                continue
            segments = []
            if nxt < cycle:
                segments.append((nxt, min(cycle - timedelta(days=1), last)))
            if last >= cycle:
                segments.append((max(nxt, cycle), last))
            for s, e in segments:
                frac = period_fraction(s, e, cycle)
                full = frac == 1
                qty = sp["quantity"] if full else (sp["quantity"] * frac).quantize(QTY)
                self.post_charge(
                    customer_id,
                    at,
                    description=sp["description"] + ("" if full else f" (prorated {s} - {e})"),
                    quantity=qty,
                    rate=sp["rate"],
                    start=s,
                    end=e,
                    product_id=sp["product_id"],
                    is_prorated=not full,
                    service_product_id=sp["service_product_id"],
                    service_id=sp["service_id"],
                )
            sp["billed_through_date"] = fmt(last)
        return all(sp["canceled_date"] and to_date(sp["canceled_date"]) < cycle for sp in sps)

    def _bill_usage(
        self, sp: dict[str, Any], start: date, end: date, at: datetime, rng: random.Random
    ) -> None:
        """One usage charge for ``[start, end]`` (seeded minutes around the service's monthly volume)."""
        days = (end - start).days + 1
        volume = int(sp["quantity"])
        minutes = int(volume * days / 30 * rng.uniform(0.55, 1.45))
        if minutes <= 0:
            return
        self.post_charge(
            sp["customer_id"],
            at,
            description=f"{sp['description']} {start} - {end}",
            quantity=Decimal(minutes),
            rate=sp["rate"],
            start=start,
            end=end,
            product_id=sp["product_id"],
            service_product_id=sp["service_product_id"],
            service_id=sp["service_id"],
        )
