"""In-memory Rev.io tenant and its billing engine (used by the generator and by the server).

Records are plain dicts shaped like Rev.io's REST records: money is ``Decimal`` (2 places),
date-times are naive ``YYYY-MM-DDTHH:MM:SS`` strings.

Sandbox representations (UNCONFIRMED in Rev.io's docs; chosen here, switchable by settings):

- Bill amounts: ``invoice_amount = Σ charge.amount``, ``credit_memo_amount = Σ credit.amount`` (positive
  magnitudes) of the records with that ``bill_id``; ``amount_due = invoice_amount - credit_memo_amount``.
  A credit later issued with an existing ``bill_id`` updates ``credit_memo_amount``/``amount_due``;
  payments never change a bill.
- Bills carry an extra ``fields`` array with one custom field ``{"field_id": 201, "label": "QBO Invoice Id"}``
  (Rev.io's Bill schema has no ``fields``); Customers carry ``QBO Customer Id`` (field_id 101, index 0)
  and ``Collection Step`` (field_id 102, index 1). Empty values are ``""``.
- Bounce (``bounce_mode``): ``flag_and_reversal`` (default) sets ``bounced=true`` on the original payment
  AND adds a payment row with ``amount = -original``, ``bounced=true``, ``refund_flag=false``,
  ``original_payment_id = <original>``, ``reference_number = "BOUNCE-<ref>"``, same ``bill_id``;
  ``flag_only`` only flips the flag; ``reversal_only`` only adds the row.
- Refund (``refund_mode``): a new payment row with ``refund_flag=true``, ``original_payment_id``, the same
  ``bill_id`` and ``amount = -refund`` (``negative_row``, default) or ``+refund`` (``positive_row``).
- Bill reversal (``bill_reversal_mode``): ``flag_and_zero`` (default) sets ``is_reversed=true`` and
  ``reversed_date``, zeroes ``invoice_amount``/``credit_memo_amount``/``amount_due``; ``delete`` removes the
  bill. Either way its charges, credits and payments become unposted again (``bill_id = null``) and go
  on the next bill.
- Prorated recurring charges: ``quantity = units * covered_days / period_days`` (4 places),
  ``rate`` = catalog rate, ``proration = null``, ``is_prorated = true``; so every non-tax-included charge
  satisfies ``product_amount == round(rate * quantity, 2)`` and every charge
  ``amount == product_amount + tax_amount``.
- Service periods follow the customer's cycle day (bill profile 1 = the 1st, 2 = the 15th): a cycle on
  date D bills recurring charges in advance for ``[D, D + 1 month - 1 day]`` (plus a prorated catch-up
  for services started before D), usage in arrears for ``[D - 1 month, D - 1 day]``.
"""

from __future__ import annotations

import bisect
import calendar
import copy
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio import catalog
from revqb_sandbox.revio.catalog import q2

PK: dict[str, str] = {
    "customers": "customer_id",
    "bills": "bill_id",
    "charges": "charge_id",
    "credits": "credit_memo_id",
    "payments": "payment_id",
    "products": "product_id",
    "product_types": "product_type_id",
    "payment_methods": "payment_method_id",
    "service_products": "service_product_id",
    "bill_profiles": "bill_profile_id",
}
FIRST_ID: dict[str, int] = {
    "customers": 1001,
    "bills": 50001,
    "charges": 700001,
    "credits": 30001,
    "payments": 80001,
    "products": 101,
    "product_types": 10,
    "payment_methods": 1,
    "service_products": 40001,
    "bill_profiles": 1,
}
OWNED: tuple[str, ...] = ("service_products", "bills", "charges", "credits", "payments")
"""Tables indexed by ``customer_id`` (see :meth:`RevioState.owned`)."""
ZERO = Decimal("0.00")
QTY = Decimal("0.0001")
_ATOMIC = (str, int, float, bool, Decimal, type(None))

EventSink = Callable[[str, int], None]


class SandboxError(ValueError):
    """A request the tenant refuses (-> HTTP 400 or 404)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def fmt(moment: datetime | date) -> str:
    """Rev.io date-time text."""
    if isinstance(moment, datetime):
        return moment.replace(microsecond=0).isoformat()
    return f"{moment.isoformat()}T00:00:00"


def to_date(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text[:10])


def add_months(d: date, n: int) -> date:
    """Same day ``n`` months later (clamped to the month's last day)."""
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def period_fraction(start: date, end: date, anchor: date) -> Decimal:
    """Fraction of service months covered by ``[start, end]`` for monthly periods anchored at ``anchor``."""
    # find the period containing start
    p_start = anchor
    while p_start > start:
        p_start = add_months(p_start, -1)
    while add_months(p_start, 1) <= start:
        p_start = add_months(p_start, 1)
    total = Decimal(0)
    cur = start
    while cur <= end:
        p_end = add_months(p_start, 1) - timedelta(days=1)
        seg_end = min(end, p_end)
        total += Decimal((seg_end - cur).days + 1) / Decimal((p_end - p_start).days + 1)
        p_start = add_months(p_start, 1)
        cur = seg_end + timedelta(days=1)
    return total


@dataclass
class RevioDataset:
    """A tenant's records, one list of record dicts per resource (ordered by primary key)."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    product_types: list[dict[str, Any]] = field(default_factory=list)
    payment_methods: list[dict[str, Any]] = field(default_factory=list)
    bill_profiles: list[dict[str, Any]] = field(default_factory=list)
    service_products: list[dict[str, Any]] = field(default_factory=list)
    bills: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    credits: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    clock: str = ""

    def to_json(self) -> str:
        """Canonical JSON text (byte-identical for the same seed)."""
        from revqb_sandbox.revio.jsonenc import dumps

        return dumps({name: getattr(self, name) for name in [*PK, "clock"] if hasattr(self, name)})


class RevioState:
    """The mutable tenant. Not thread-safe by itself: the server serializes calls with a lock.

    Per-customer work (billing, finance refresh) reads an index ``customer_id -> primary keys`` of the
    :data:`OWNED` tables, kept by :meth:`insert`; so a tenant is built in time linear in its size. Every
    lookup re-checks ``customer_id`` on the record, so a record whose ``customer_id`` was overwritten raw
    (``/_admin/records``) drops out of its old customer; it does not join the new one (call
    :meth:`reindex` after such an edit if billing must see it there).
    """

    def __init__(
        self,
        *,
        bounce_mode: str = "flag_and_reversal",
        refund_mode: str = "negative_row",
        bill_reversal_mode: str = "flag_and_zero",
        on_event: EventSink | None = None,
    ) -> None:
        self.tables: dict[str, dict[int, dict[str, Any]]] = {name: {} for name in PK}
        self.next_id: dict[str, int] = dict(FIRST_ID)
        self._owned: dict[str, dict[Any, list[int]]] = {name: {} for name in OWNED}
        self.bounce_mode = bounce_mode
        self.refund_mode = refund_mode
        self.bill_reversal_mode = bill_reversal_mode
        self.on_event = on_event

    # ------------------------------------------------------------------ basics
    @classmethod
    def from_dataset(cls, ds: RevioDataset, **kwargs: Any) -> RevioState:
        st = cls(**kwargs)
        for name in PK:
            for rec in getattr(ds, name):
                st.insert(name, _clone(rec))
        return st

    def to_dataset(self, clock: str = "", *, copy: bool = True) -> RevioDataset:
        """The records ordered by primary key; ``copy=False`` shares them (the state is then discarded)."""
        ds = RevioDataset(clock=clock)
        for name in PK:
            rows = [r for _, r in sorted(self.tables[name].items())]
            setattr(ds, name, [_clone(r) for r in rows] if copy else rows)
        return ds

    def insert(self, table: str, rec: dict[str, Any]) -> dict[str, Any]:
        pk = PK[table]
        if rec.get(pk) is None:
            rec[pk] = self.next_id[table]
        rid = rec[pk]
        self.tables[table][rid] = rec
        self.next_id[table] = max(self.next_id[table], rid + 1)
        if table in self._owned:
            self._index(table, rid, rec.get("customer_id"))
        return rec

    def _index(self, table: str, rid: int, customer_id: Any) -> None:
        try:
            ids = self._owned[table].setdefault(customer_id, [])
        except TypeError:  # an unhashable customer_id: found by the full scan in owned()
            return
        if not ids or ids[-1] < rid:
            ids.append(rid)
        else:
            at = bisect.bisect_left(ids, rid)
            if at == len(ids) or ids[at] != rid:
                ids.insert(at, rid)

    def reindex(self) -> None:
        """Rebuild the ``customer_id`` index from the records (after raw edits of ``customer_id``)."""
        self._owned = {name: {} for name in OWNED}
        for name in OWNED:
            for rid in sorted(self.tables[name]):
                self._index(name, rid, self.tables[name][rid].get("customer_id"))

    def owned(self, table: str, customer_id: Any) -> list[dict[str, Any]]:
        """The records of ``table`` (one of :data:`OWNED`) with this ``customer_id``, by primary key."""
        rows = self.tables[table]
        try:
            ids = self._owned[table].get(customer_id, ())
        except TypeError:
            return [r for _, r in sorted(rows.items()) if r.get("customer_id") == customer_id]
        out = []
        for rid in ids:
            r = rows.get(rid)
            if r is not None and r.get("customer_id") == customer_id:
                out.append(r)
        return out

    def get(self, table: str, rid: int) -> dict[str, Any]:
        rec = self.tables[table].get(rid)
        if rec is None:
            singular = table.rstrip("s").replace("_", " ")
            raise SandboxError(f"{singular} {rid} does not exist", 404)
        return rec

    def emit(self, kind: str, object_id: int) -> None:
        if self.on_event is not None:
            self.on_event(kind, object_id)

    def customer_state(self, customer_id: int) -> str:
        cust = self.get("customers", customer_id)
        addr = cust.get("service_address") or cust.get("billing_address") or {}
        return addr.get("state_or_province") or "GA"

    def product(self, product_id: int | None) -> dict[str, Any] | None:
        return None if product_id is None else self.get("products", product_id)

    def product_type_code(self, product_type_id: int | None) -> str | None:
        pt = self.tables["product_types"].get(product_type_id or -1)
        return None if pt is None else pt["product_type_code"]

    def unposted(self, table: str, customer_id: int) -> list[dict[str, Any]]:
        return [r for r in self.owned(table, customer_id) if r.get("bill_id") is None]

    def children(self, table: str, bill_id: int) -> list[dict[str, Any]]:
        """Records posted on a bill (bills only take records of their own customer)."""
        bill = self.tables["bills"].get(bill_id)
        if bill is None:
            return [r for _, r in sorted(self.tables[table].items()) if r.get("bill_id") == bill_id]
        return [r for r in self.owned(table, bill.get("customer_id")) if r.get("bill_id") == bill_id]

    # ------------------------------------------------------------------ catalog / customers
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
        sp = self.get("service_products", sp_id)
        sp["canceled_date"] = fmt(canceled)
        sp["status"] = "DISCONNECTED"
        sp["status_date"] = fmt(at)

    # ------------------------------------------------------------------ transactions
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
            "start_date": _dt_text(start),
            "end_date": _dt_text(end),
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

    def net_paid(self, p: dict[str, Any]) -> Decimal:
        """What a payment row contributes to the customer's payments (refunds and bounces reduce it)."""
        if p["refund_flag"]:
            return -abs(p["amount"])
        if p["bounced"] and p["original_payment_id"] is None and self.bounce_mode == "flag_only":
            return ZERO
        return p["amount"]

    def bill_open_amount(self, bill_id: int) -> Decimal:
        bill = self.get("bills", bill_id)
        paid = sum((self.net_paid(p) for p in self.children("payments", bill_id)), ZERO)
        return max(ZERO, bill["amount_due"] - paid)

    def _attach_to_bill(self, table: str, rec: dict[str, Any], bill_id: int) -> None:
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

    # ------------------------------------------------------------------ bills
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

    # ------------------------------------------------------------------ customers
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

    # ------------------------------------------------------------------ reconciliation
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


def _clone(obj: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, immutable scalars); anything else via ``copy.deepcopy``."""
    if isinstance(obj, dict):
        return {k: v if isinstance(v, _ATOMIC) else _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [v if isinstance(v, _ATOMIC) else _clone(v) for v in obj]
    if isinstance(obj, _ATOMIC):
        return obj
    return copy.deepcopy(obj)


def _dt_text(value: date | datetime | str) -> str:
    if isinstance(value, str):
        return fmt(datetime.fromisoformat(value)) if "T" in value else f"{value[:10]}T00:00:00"
    return fmt(value)
