"""Validated creates from request bodies (``POST /v1/...`` and ``/_admin/...``) on a RevioState."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from revqb_sandbox.revio import catalog
from revqb_sandbox.revio.catalog import q2
from revqb_sandbox.revio.state import RevioState, SandboxError, fmt

MAX_NUMBER = Decimal(10) ** 12


def need(body: dict[str, Any], key: str) -> Any:
    if body.get(key) is None:
        raise SandboxError(f"{key} is required")
    return body[key]


def as_int(value: Any, key: str) -> int:
    if isinstance(value, bool):
        raise SandboxError(f"{key} must be an integer")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise SandboxError(f"{key} must be an integer") from None
    if d != d.to_integral_value():
        raise SandboxError(f"{key} must be an integer")
    return int(d)


def opt_int(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    return None if value is None or (value == 0 and key == "bill_id") else as_int(value, key)


def as_dec(value: Any, key: str) -> Decimal:
    if isinstance(value, bool):
        raise SandboxError(f"{key} must be a number")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise SandboxError(f"{key} must be a number") from None
    if not d.is_finite() or abs(d) >= MAX_NUMBER:
        raise SandboxError(f"{key} must be a finite number below {MAX_NUMBER}")
    return d


def as_date(value: Any, key: str) -> date:
    try:
        return datetime.fromisoformat(str(value)).date()
    except ValueError:
        raise SandboxError(f"{key} must be a date (YYYY-MM-DD)") from None


def as_datetime(value: Any, key: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    except ValueError:
        raise SandboxError(f"{key} must be a date-time (YYYY-MM-DDTHH:MM:SS)") from None


def create_customer(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    billing = body.get("billing_address") or {}
    if not isinstance(billing, dict):
        raise SandboxError("billing_address must be an object")
    if not any(billing.get(k) for k in ("company_name", "first_name", "last_name")):
        raise SandboxError("billing_address needs company_name or first_name/last_name")
    state = billing.get("state_or_province") or "GA"
    addr = {
        "address_id": None,
        "customer_id": None,
        "first_name": billing.get("first_name"),
        "middle_initial": None,
        "last_name": billing.get("last_name"),
        "company_name": billing.get("company_name"),
        "line_1": billing.get("line_1"),
        "line_2": billing.get("line_2"),
        "city": billing.get("city"),
        "state_or_province": state,
        "postal_code": billing.get("postal_code"),
        "postal_code_extension": None,
        "country_code": billing.get("country_code", 235),
        "created_date": fmt(at),
        "modified_date": fmt(at),
    }
    fin = body.get("finance") or {}
    profile_id = as_int(fin.get("bill_profile_id", 1), "finance.bill_profile_id")
    rec = st.insert(
        "customers",
        {
            "customer_id": None,
            "parent_customer_id": None,
            "account_number": body.get("account_number"),
            "activated_date": fmt(at),
            "agent_id": None,
            "secondary_agent_id": None,
            "close_date": None,
            "created_by": 1,
            "created_date": fmt(at),
            "updated_date": fmt(at),
            "email": body.get("email"),
            "phone": body.get("phone"),
            "is_parent": False,
            "registration_code": None,
            "security_pin": None,
            "sold_by": None,
            "source": body.get("source", "API"),
            "status": str(body.get("status") or "OPEN").upper(),
            "suspended": False,
            "suspended_date": None,
            "billing_address": addr,
            "service_address": dict(addr),
            "listing_address": None,
            "auto_debit": {"enabled": False, "day": None, "payment_account_id": None},
            "finance": {
                "amount_due": Decimal("0.00"),
                "amount_overdue": Decimal("0.00"),
                "bill_profile_id": profile_id,
                "billing_method": fin.get("billing_method", "EMAIL_ONLY"),
                "balance": Decimal("0.00"),
                "balance_limit": None,
                "balance_limit_enabled": False,
                "due_date": None,
                "collection_template_id": 1,
                "contract_end_date": None,
                "contract_start_date": None,
                "cycle_date": None,
                "late_fees_enabled": False,
                "payment_terms_days": as_int(fin.get("payment_terms_days", 30), "finance.payment_terms_days"),
                "tax_exempt_enabled": False,
                "tax_exempt_types": None,
                "usage_file_enabled": False,
                "usage_file_format": None,
                "payment_fees_enabled": False,
            },
            "profile": {"class": "Business", "date_of_birth": None, "language": "en", "tax_id": None},
            "fields": [
                {"field_id": 101, "label": "QBO Customer Id", "value": ""},
                {"field_id": 102, "label": "Collection Step", "value": ""},
            ],
        },
    )
    for i, key in enumerate(("billing_address", "service_address")):
        rec[key]["customer_id"] = rec["customer_id"]
        rec[key]["address_id"] = rec["customer_id"] * 10 + i + 1
    return rec


def create_charge(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    cid = as_int(need(body, "customer_id"), "customer_id")
    product_id = opt_int(body, "product_id")
    prod = st.product(product_id) if product_id is not None else None
    description = body.get("description") or (prod["description"] if prod else None)
    if not description:
        raise SandboxError("description is required")
    quantity = as_dec(body.get("quantity", 1), "quantity")
    rate = as_dec(body["rate"], "rate") if body.get("rate") is not None else (prod["rate"] if prod else None)
    if rate is None:
        raise SandboxError("rate is required")
    start = as_date(body.get("start_date") or at.date().isoformat(), "start_date")
    end = as_date(body.get("end_date") or start.isoformat(), "end_date")
    if end < start:
        raise SandboxError("end_date is before start_date")
    tax_class: int | str | None = "product"
    if "tax_class_id" in body:
        tax_class = opt_int(body, "tax_class_id")
    return st.post_charge(
        cid,
        at,
        description=str(description),
        quantity=quantity,
        rate=rate,
        start=start,
        end=end,
        product_id=product_id,
        product_type_id=opt_int(body, "product_type_id"),
        tax_class_id=tax_class,
        is_tax_included=body.get("is_tax_included"),
        is_prorated=bool(body.get("is_prorated", False)),
        tax_amount=as_dec(body["tax_amount"], "tax_amount") if body.get("tax_amount") is not None else None,
        bill_id=opt_int(body, "bill_id"),
        cost=as_dec(body["cost"], "cost") if body.get("cost") is not None else None,
    )


def create_credit(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    cid = as_int(need(body, "customer_id"), "customer_id")
    if body.get("amount") is not None:
        amount = as_dec(body["amount"], "amount")
    elif body.get("rate") is not None:
        amount = q2(as_dec(body["rate"], "rate") * as_dec(body.get("quantity", 1), "quantity"))
    else:
        raise SandboxError("amount (or rate and quantity) is required")
    kind = body.get("kind")
    atype = body.get("atype")
    if kind is None and atype is None:
        kind = "adjustment"
    return st.post_credit(
        cid,
        at,
        amount=amount,
        kind=kind,
        atype=atype,
        is_bad_debt=body.get("is_bad_debt"),
        description=body.get("description"),
        product_id=opt_int(body, "product_id"),
        with_tax=body.get("with_tax"),
        bill_id=opt_int(body, "bill_id"),
        start=as_date(body["start_date"], "start_date") if body.get("start_date") else None,
        end=as_date(body["end_date"], "end_date") if body.get("end_date") else None,
    )


def create_payment(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    cid = as_int(need(body, "customer_id"), "customer_id")
    amount = as_dec(need(body, "amount"), "amount")
    if amount <= 0:
        raise SandboxError("amount must be positive")
    method = body.get("method")
    if method is None and body.get("payment_method_id") is not None:
        pmid = as_int(body["payment_method_id"], "payment_method_id")
        by_id = {pid: code for pid, code, *_ in catalog.PAYMENT_METHODS}
        if pmid not in by_id:
            raise SandboxError(f"unknown payment_method_id {pmid}")
        method = by_id[pmid]
    return st.post_payment(
        cid,
        at,
        amount=amount,
        method=str(method or "CHECK"),
        bill_id=opt_int(body, "bill_id"),
        received=as_datetime(body["received_date"], "received_date") if body.get("received_date") else None,
        reference_number=body.get("reference_number"),
        source=str(body.get("source") or "API"),
    )


def create_bill(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    cid = as_int(need(body, "customer_id"), "customer_id")
    bill_type = str(body.get("bill_type") or "NORMAL").upper()
    if bill_type not in ("NORMAL", "PARENT", "CHILD"):
        raise SandboxError("bill_type must be NORMAL, PARENT or CHILD")
    bill = st.create_bill(
        cid,
        at,
        due_date=as_date(body["due_date"], "due_date") if body.get("due_date") else None,
        is_final_bill=bool(body.get("is_final_bill", False)),
    )
    if bill is None:
        raise SandboxError(f"customer {cid} has no unposted charges, credits or payments to bill")
    return bill


def create_product(st: RevioState, body: dict[str, Any], at: datetime) -> dict[str, Any]:
    ptid = as_int(need(body, "product_type_id"), "product_type_id")
    st.get("product_types", ptid)
    tax_class = opt_int(body, "tax_class_id")
    if tax_class is not None and tax_class not in catalog.TAX_CLASSES:
        raise SandboxError(f"unknown tax_class_id {tax_class}")
    rec = catalog.product_record(
        st.next_id["products"],
        ptid,
        str(need(body, "description")),
        as_dec(need(body, "rate"), "rate"),
        as_dec(body.get("cost", 0), "cost"),
        tax_class,
        str(body.get("ledger_code") or ""),
        as_int(body.get("category_id", 0), "category_id"),
        created_date=fmt(at),
    )
    rec["is_tax_included"] = bool(body.get("is_tax_included", False))
    return st.insert("products", rec)
