"""Charges and credits: the taxed transactions, with the catalog lookups their tax needs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio import catalog
from revqb_sandbox.revio.catalog import q2
from revqb_sandbox.revio.state._balances import Balances
from revqb_sandbox.revio.state._dates import dt_text, fmt
from revqb_sandbox.revio.state._store import ZERO, SandboxError


class Charges(Balances):
    """Post charges and credits (unposted, or straight onto a bill of the same customer)."""

    def customer_state(self, customer_id: int) -> str:
        """The state or province that taxes the customer (service address first; ``GA`` if none)."""
        cust = self.get("customers", customer_id)
        addr = cust.get("service_address") or cust.get("billing_address") or {}
        return addr.get("state_or_province") or "GA"

    def product(self, product_id: int | None) -> dict[str, Any] | None:
        """The catalog product (None for no id; 404 for an unknown one)."""
        return None if product_id is None else self.get("products", product_id)

    def product_type_code(self, product_type_id: int | None) -> str | None:
        """The product type's code (e.g. ``USAGE``), None if unknown."""
        pt = self.tables["product_types"].get(product_type_id or -1)
        return None if pt is None else pt["product_type_code"]

    def post_charge(
        self,
        customer_id: int,
        at: datetime,
        *,
        description: str,
        quantity: Decimal,
        rate: Decimal,
        start: date | datetime | str,
        end: date | datetime | str,
        product_id: int | None = None,
        product_type_id: int | None = None,
        tax_class_id: int | str | None = "product",
        is_tax_included: bool | None = None,
        is_prorated: bool = False,
        tax_amount: Decimal | None = None,
        service_product_id: int | None = None,
        service_id: int | None = None,
        bill_id: int | None = None,
        cost: Decimal | None = None,
    ) -> dict[str, Any]:
        """Create a charge (unposted unless ``bill_id``) with tax computed from its tax class."""
        self.get("customers", customer_id)
        prod = self.product(product_id)
        if prod is not None:
            product_type_id = prod["product_type_id"]
            if tax_class_id == "product":
                tax_class_id = prod["tax_class_id"]
            if is_tax_included is None:
                is_tax_included = bool(prod.get("is_tax_included"))
        if tax_class_id == "product":
            pt = self.tables["product_types"].get(product_type_id or -1)
            tax_class_id = pt["tax_class_id"] if pt else None
        assert not isinstance(tax_class_id, str)
        if tax_class_id is not None and tax_class_id not in catalog.TAX_CLASSES:
            raise SandboxError(f"unknown tax_class_id {tax_class_id}")
        quantity, rate = Decimal(quantity), Decimal(rate)
        state = self.customer_state(customer_id)
        gross = q2(rate * quantity)
        if is_tax_included:
            if tax_amount is None:
                product_amount, tax = catalog.split_tax_included(tax_class_id, state, gross, quantity)
            else:
                tax = q2(tax_amount)
                product_amount = gross - tax
        else:
            product_amount = gross
            tax = (
                catalog.compute_tax(tax_class_id, state, product_amount, quantity)
                if tax_amount is None
                else q2(tax_amount)
            )
        rec = {
            "charge_id": None,
            "product_id": product_id,
            "product_type_id": product_type_id,
            "customer_id": customer_id,
            "bill_id": None,
            "service_id": service_id,
            "service_product_id": service_product_id,
            "is_tax_included": bool(is_tax_included),
            "tax_class_id": tax_class_id,
            "description": description,
            "amount": product_amount + tax,
            "cost": q2(cost if cost is not None else (prod["cost"] * quantity if prod else 0)),
            "product_amount": product_amount,
            "is_commission_exempted": False,
            "tax_amount": tax,
            "geocode": catalog.geocode(state),
            "proration": None,
            "created_date": fmt(at),
            "created_by": 1,
            "quantity": quantity,
            "rate": rate,
            "is_prorated": is_prorated,
            "start_date": dt_text(start),
            "end_date": dt_text(end),
        }
        rec = self.insert("charges", rec)
        if bill_id is not None:
            self._attach_to_bill("charges", rec, bill_id)
        self.refresh_finance(customer_id, at)
        return rec

    def post_credit(
        self,
        customer_id: int,
        at: datetime,
        *,
        amount: Decimal,
        kind: str | None = None,
        atype: str | None = None,
        is_bad_debt: bool | None = None,
        description: str | None = None,
        product_id: int | None = None,
        with_tax: bool | None = None,
        bill_id: int | None = None,
        start: date | None = None,
        end: date | None = None,
        emit: bool = True,
    ) -> dict[str, Any]:
        """Issue a credit of pre-tax ``amount`` (tax added for service credits/promotions with a product)."""
        self.get("customers", customer_id)
        if kind is not None:
            if kind not in catalog.CREDIT_KINDS:
                raise SandboxError(f"unknown credit kind {kind!r}; use one of {sorted(catalog.CREDIT_KINDS)}")
            k_atype, k_bad = catalog.CREDIT_KINDS[kind]
            atype = atype or k_atype
            is_bad_debt = k_bad if is_bad_debt is None else is_bad_debt
        atype = (atype or "ADJ").upper()
        if atype not in catalog.ATYPES:
            raise SandboxError(f"unknown atype {atype!r}; use one of {sorted(catalog.ATYPES)}")
        product_amount = q2(amount)
        if product_amount <= 0:
            raise SandboxError("credit amount must be positive")
        prod = self.product(product_id)
        if with_tax is None:
            with_tax = prod is not None and atype in ("MRC", "NRC")
        state = self.customer_state(customer_id)
        tax_class_id = prod["tax_class_id"] if (prod is not None and with_tax) else None
        tax = catalog.compute_tax(tax_class_id, state, product_amount, Decimal(1)) if with_tax else ZERO
        day = at.date()
        rec = {
            "credit_memo_id": None,
            "description": description or f"{atype} credit",
            "product_type_id": prod["product_type_id"] if prod else None,
            "product_id": product_id,
            "service_product_id": None,
            "balance": None,
            "closed_date": None,
            "buy_rate": None,
            "atype": atype,
            "created_date": fmt(at),
            "created_by": 1,
            "tax_class_id": tax_class_id,
            "customer_id": customer_id,
            "bill_id": None,
            "service_id": None,
            "amount": product_amount + tax,
            "product_amount": product_amount,
            "tax_amount": tax,
            "geocode": catalog.geocode(state),
            "proration": None,
            "is_tax_included": False,
            "cost": ZERO,
            "is_bad_debt": bool(is_bad_debt),
            "quantity": Decimal(1),
            "rate": product_amount,
            "is_prorated": False,
            "start_date": fmt(start or day),
            "end_date": fmt(end or start or day),
        }
        rec = self.insert("credits", rec)
        if bill_id is not None:
            self._attach_to_bill("credits", rec, bill_id)
        self.refresh_finance(customer_id, at)
        rec["balance"] = self.get("customers", customer_id)["finance"]["balance"]
        if emit:
            self.emit("credit_created", rec["credit_memo_id"])
        return rec

    def _attach_to_bill(self, table: str, rec: dict[str, Any], bill_id: int) -> None:
        """Post a charge or credit on a bill of its customer and update the bill's amounts."""
        bill = self.get("bills", bill_id)
        if bill["customer_id"] != rec["customer_id"]:
            raise SandboxError(f"bill {bill_id} belongs to another customer")
        if bill.get("is_reversed"):
            raise SandboxError(f"bill {bill_id} is reversed")
        rec["bill_id"] = bill_id
        if table == "charges":
            bill["invoice_amount"] += rec["amount"]
        elif table == "credits":
            bill["credit_memo_amount"] += rec["amount"]
        bill["amount_due"] = bill["invoice_amount"] - bill["credit_memo_amount"]
