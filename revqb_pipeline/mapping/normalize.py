"""Pure normalizers: raw Rev.io record dicts -> rows of the normalized staging tables (docs/architecture.md).

Conventions of every row:

- money in integer cents (``*_cents``); a value with a fraction of a cent is an error, never rounded;
- quantities and rates as exact decimal strings (``"4"``, ``"0.0125"``);
- calendar dates (``bill_date``, ``due_date``, ``start_date``, ``end_date``, ``received_date``) as
  ``YYYY-MM-DD``; timestamps (``created_date``, ``updated_date``, ``suspended_date``) as ISO 8601 strings
  exactly as Rev.io sent them (no time-zone conversion);
- ``bill_id``/``parent_bill_id`` of 0 (Rev.io's "not on a bill yet") become ``None``;
- ``partition_key`` (the bill-date day or ``None``), ``record_hash`` (sha256 of the canonical raw JSON)
  and ``raw_json`` (that canonical JSON).

Malformed input raises ``RecordError`` with a reason a finance person can act on; the caller quarantines
that one record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.mapping.hashing import canonical_json, plain_canonical_json, sha256_text
from revqb_pipeline.models.revio import (
    RevioBill,
    RevioCharge,
    RevioCredit,
    RevioCustomer,
    RevioPayment,
    RevioProduct,
    RevioProductType,
    parse_revio_datetime,
    parse_revio_id,
)
from revqb_pipeline.money import MoneyError, to_cents

M = TypeVar("M", bound=BaseModel)


# ----- helpers --------------------------------------------------------------------------------------


def _label(entity: str, raw: Mapping[str, Any], id_key: str) -> str:
    value = raw.get(id_key) if isinstance(raw, Mapping) else None
    if value in (None, ""):
        return f"{entity} (no id)"
    plain = isinstance(value, int | str) and str(value).isprintable() and len(str(value)) <= 40
    return f"{entity} {value}" if plain else f"{entity} {value!r:.40}"


def _parse(model: type[M], raw: Any, entity: str, id_key: str) -> M:
    if not isinstance(raw, Mapping):
        raise RecordError(f"{entity} record is not a JSON object: {raw!r:.80}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] != "value_error":  # pydantic's own message does not show the value
                msg = f"{err.get('input')!r:.60} is not valid ({msg})"
            problems.append(f"{where}: {msg}" if where else msg)
        raise RecordError(f"{_label(entity, raw, id_key)}: " + "; ".join(problems)) from None


def record_key(raw: Any, key: str) -> int | None:
    """``raw[key]`` read as an id (the models' own rules), or ``None`` when it is missing or malformed.

    For the extract layer, which must group and look up records before they are normalized: a record
    whose key is unreadable is passed on as is and quarantined (with the reason) when it is staged."""
    if not isinstance(raw, Mapping):
        return None
    try:
        return parse_revio_id(raw.get(key)) or None
    except ValueError:
        return None


def record_token(raw: Any, key: str) -> tuple[int, str]:
    """A sort/dedup key for a record whose ``key`` may be malformed: ``(0, "<id>")`` for a readable id
    (zero-padded so ids sort as numbers), ``(1, "<raw value>")`` otherwise."""
    rid = record_key(raw, key)
    if rid is not None:
        return 0, f"{rid:020d}"
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return 1, json.dumps(value if value is not None else raw, sort_keys=True, default=str)


def record_cents(raw: Any, key: str) -> int | None:
    """``raw[key]`` as exact cents (missing = 0), or ``None`` when it is not a readable amount."""
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if value is None:
        return 0
    try:
        return to_cents(value)
    except MoneyError:
        return None


def _require(value: int | None, label: str, what: str) -> int:
    if not value:
        raise RecordError(f"{label} has no {what}")
    return value


def _cents(value: Decimal | None, label: str, field: str, *, default: int | None = None) -> int | None:
    if value is None:
        return default
    try:
        return to_cents(value)
    except MoneyError:
        raise RecordError(
            f"{label}: {field} {value} has a fraction of a cent; Rev.io amounts must be whole cents"
        ) from None


def _dec_str(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value is not None else None


def _stamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _bill_ref(value: int | None) -> int | None:
    return value if value else None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _odd_number(value: Any, path: str) -> str | None:
    """The path of the first number in ``value`` that canonical JSON cannot hold (NaN, Infinity, an
    exponent beyond any real amount), for fields the models do not read."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    if isinstance(value, Decimal) and (not value.is_finite() or abs(value.adjusted()) > 40):
        return path
    if isinstance(value, Mapping):
        return next((p for k, v in value.items() if (p := _odd_number(v, f"{path}.{k}".lstrip(".")))), None)
    if isinstance(value, list):
        return next(
            (p for i, v in enumerate(value) if (p := _odd_number(v, f"{path}.{i}".lstrip(".")))), None
        )
    return None


def _base(raw: Mapping[str, Any], partition_key: str | None) -> dict[str, Any]:
    raw_json = plain_canonical_json(raw)  # C encoder; None also for every number _odd_number rejects
    if raw_json is None:
        if (path := _odd_number(raw, "")) is not None:
            raise RecordError(f"{path}: a value is not a finite number of sensible size")
        raw_json = canonical_json(raw)
    return {"partition_key": partition_key, "record_hash": sha256_text(raw_json), "raw_json": raw_json}


def _nonnegative_quantity(value: Decimal | None, label: str) -> Decimal | None:
    if value is not None and value < 0:
        raise RecordError(f"{label} has a negative quantity ({_dec_str(value)})")
    return value


# ----- dates ----------------------------------------------------------------------------------------


def bill_date_of(raw_bill: Mapping[str, Any]) -> date:
    """The bill date: the calendar date of the bill's ``created_date`` as Rev.io wrote it (tenant-local,
    no time-zone conversion). This is the daily partition key of the bill and of everything on it, and the
    QBO invoice ``TxnDate``."""
    label = _label("bill", raw_bill, "bill_id")
    value = raw_bill.get("created_date") if isinstance(raw_bill, Mapping) else None
    try:
        parsed = parse_revio_datetime(value)
    except ValueError:
        raise RecordError(f"{label}: created date {value!r} is not a date") from None
    if parsed is None:
        raise RecordError(f"{label} has no created date, so its bill date is unknown")
    return parsed.date()


# ----- normalizers ----------------------------------------------------------------------------------


def normalize_customer(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``stg_customers`` row. Name from the address objects (see ``RevioCustomer.display_name``);
    the bill-to address is the billing address, else the service address."""
    c = _parse(RevioCustomer, raw, "customer", "customer_id")
    label = _label("customer", raw, "customer_id")
    _require(c.customer_id, label, "customer id")
    first, last = c.person_name()
    company = next(
        (a.company_name.strip() for a in c._addresses() if a.company_name and a.company_name.strip()), None
    )
    addr = c.billing_address or c.service_address
    postal = _text(addr.postal_code) if addr else None
    if postal and addr and _text(addr.postal_code_extension):
        postal = f"{postal}-{_text(addr.postal_code_extension)}"
    fin = c.finance
    return {
        "customer_id": c.customer_id,
        "account_number": _text(c.account_number),
        "display_name": c.display_name(),
        "company_name": company,
        "first_name": first,
        "last_name": last,
        "email": _text(c.email),
        "phone": _text(c.phone),
        "bill_line1": _text(addr.line_1) if addr else None,
        "bill_line2": _text(addr.line_2) if addr else None,
        "bill_city": _text(addr.city) if addr else None,
        "bill_state": _text(addr.state_or_province) if addr else None,
        "bill_postal_code": postal,
        "bill_country": _text(addr.country_code) if addr else None,
        "status": (_text(c.status) or "").upper() or None,
        "suspended": bool(c.suspended),
        "suspended_date": _stamp(c.suspended_date),
        "amount_due_cents": _cents(fin.amount_due if fin else None, label, "amount due"),
        "amount_overdue_cents": _cents(fin.amount_overdue if fin else None, label, "amount overdue"),
        "balance_cents": _cents(fin.balance if fin else None, label, "balance"),
        "created_date": _stamp(c.created_date),
        "updated_date": _stamp(c.updated_date),
        **_base(raw, None),
    }


def normalize_product(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``stg_products`` row."""
    p = _parse(RevioProduct, raw, "product", "product_id")
    label = _label("product", raw, "product_id")
    _require(p.product_id, label, "product id")
    return {
        "product_id": p.product_id,
        "product_type_id": p.product_type_id,
        "description": _text(p.description),
        "rate": _dec_str(p.rate),
        "tax_class_id": p.tax_class_id,
        "ledger_code": _text(p.ledger_code),
        "category_id": p.category_id,
        "active": p.active is not False,
        **_base(raw, None),
    }


def normalize_product_type(raw: Mapping[str, Any], cfg: MappingConfig) -> dict[str, Any]:
    """``stg_product_types`` row; ``charge_kind`` from the mapping's ``product_type_codes``, else the
    one-time flag (one_time / recurring)."""
    t = _parse(RevioProductType, raw, "product type", "product_type_id")
    label = _label("product type", raw, "product_type_id")
    _require(t.product_type_id, label, "product type id")
    code = (_text(t.product_type_code) or "").upper() or None
    return {
        "product_type_id": t.product_type_id,
        "product_type_code": code,
        "description": _text(t.description),
        "tax_class_id": t.tax_class_id,
        "one_time_flag": bool(t.one_time_flag),
        "charge_kind": cfg.charge_kind_for_type(code, t.one_time_flag),
        **_base(raw, None),
    }


def normalize_bill(raw: Mapping[str, Any], partition_key: str | None = None) -> dict[str, Any]:
    """``stg_bills`` row; ``partition_key`` defaults to the bill date, ``credit_memo_amount`` to 0."""
    b = _parse(RevioBill, raw, "bill", "bill_id")
    label = _label("bill", raw, "bill_id")
    _require(b.bill_id, label, "bill id")
    if not b.customer_id:
        raise RecordError(f"{label} has no customer")
    bill_day = bill_date_of(raw)
    if b.invoice_amount is None:
        raise RecordError(f"{label} has no invoice amount")
    return {
        "bill_id": b.bill_id,
        "customer_id": b.customer_id,
        "bill_type": (_text(b.bill_type) or "NORMAL").upper(),
        "parent_bill_id": _bill_ref(b.parent_bill_id),
        "bill_date": bill_day.isoformat(),
        "due_date": _day(b.due_date),
        "invoice_amount_cents": _cents(b.invoice_amount, label, "invoice amount"),
        "credit_memo_amount_cents": _cents(b.credit_memo_amount, label, "credit memo amount", default=0),
        "amount_due_cents": _cents(b.amount_due, label, "amount due"),
        "is_reversed": bool(b.is_reversed),
        "created_date": _stamp(b.created_date),
        **_base(raw, partition_key if partition_key is not None else bill_day.isoformat()),
    }


def _split_amounts(
    amount: Decimal | None, product: Decimal | None, tax: Decimal | None, label: str
) -> tuple[int, int, int]:
    """(amount, product_amount, tax_amount) in cents; amount = product + tax is enforced.

    A missing tax is 0; a missing product amount is amount - tax; a missing total is product + tax."""
    if amount is None and product is None:
        raise RecordError(f"{label} has no amount")
    tax_c = _cents(tax, label, "tax amount", default=0)
    assert tax_c is not None
    amount_c = _cents(amount, label, "amount")
    product_c = _cents(product, label, "product amount")
    if product_c is None:
        assert amount_c is not None
        product_c = amount_c - tax_c
    if amount_c is None:
        amount_c = product_c + tax_c
    if amount_c != product_c + tax_c:
        raise RecordError(
            f"{label}: amount {amount} is not product amount {product} + tax {tax or 0} "
            f"(= {Decimal(product_c + tax_c) / 100:.2f})"
        )
    return amount_c, product_c, tax_c


def normalize_charge(
    raw: Mapping[str, Any],
    product_types: Mapping[int, Mapping[str, Any]],
    partition_key: str | None = None,
    *,
    products: Mapping[int, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``stg_charges`` row. ``product_types`` maps product_type_id -> ``stg_product_types`` row; a charge
    without its own product type takes its product's (``products``: product_id -> ``stg_products`` row).
    ``charge_kind`` is the product type's. Negative amounts are kept here (invoices reject them later)."""
    ch = _parse(RevioCharge, raw, "charge", "charge_id")
    label = _label("charge", raw, "charge_id")
    _require(ch.charge_id, label, "charge id")
    if not ch.customer_id:
        raise RecordError(f"{label} has no customer")
    amount_c, product_c, tax_c = _split_amounts(ch.amount, ch.product_amount, ch.tax_amount, label)
    if ch.quantity is None:
        raise RecordError(f"{label} has no quantity")
    _nonnegative_quantity(ch.quantity, label)
    pid = ch.product_id
    product = products.get(pid) if products is not None and pid is not None else None
    name = (product or {}).get("description") or _text(ch.description) or ""
    if products and pid is not None and product is None:
        raise MappingMissing(
            "product",
            pid,
            f"{label} uses product {pid} {name!r}, which is not among the Rev.io products (unknown product)",
        )
    ptid = ch.product_type_id
    if ptid is None and product is not None:
        ptid = product.get("product_type_id")
    what = f"product {pid} {name!r}" if pid is not None else "no product"
    if ptid is None:
        raise RecordError(
            f"{label} ({what}) has no product type, so it cannot be classified (recurring/usage/one-time)"
        )
    ptype = product_types.get(ptid)
    if ptype is None:
        raise MappingMissing(
            "product_type",
            ptid,
            f"{label} ({what}) uses product type {ptid}, which was not found among Rev.io product types",
        )
    return {
        "charge_id": ch.charge_id,
        "bill_id": _bill_ref(ch.bill_id),
        "customer_id": ch.customer_id,
        "product_id": ch.product_id,
        "product_type_id": ptid,
        "service_product_id": ch.service_product_id,
        "description": _text(ch.description),
        "quantity": _dec_str(ch.quantity),
        "rate": _dec_str(ch.rate),
        "product_amount_cents": product_c,
        "tax_amount_cents": tax_c,
        "amount_cents": amount_c,
        "tax_class_id": ch.tax_class_id,
        "geocode": _text(ch.geocode),
        "is_tax_included": bool(ch.is_tax_included),
        "is_prorated": bool(ch.is_prorated),
        "start_date": _day(ch.start_date),
        "end_date": _day(ch.end_date),
        "created_date": _stamp(ch.created_date),
        "charge_kind": ptype["charge_kind"],
        **_base(raw, partition_key),
    }


def normalize_credit(raw: Mapping[str, Any], partition_key: str | None, cfg: MappingConfig) -> dict[str, Any]:
    """``stg_credits`` row. Amounts are stored as positive magnitudes (Rev.io's sign convention for credits
    is undocumented: a credit sent with negative amounts is flipped). ``credit_kind`` per the mapping
    (``MappingConfig.credit_kind_for``)."""
    cr = _parse(RevioCredit, raw, "credit", "credit_memo_id")
    label = _label("credit", raw, "credit_memo_id")
    _require(cr.credit_memo_id, label, "credit id (credit_memo_id)")
    if not cr.customer_id:
        raise RecordError(f"{label} has no customer")
    amount_c, product_c, tax_c = _split_amounts(cr.amount, cr.product_amount, cr.tax_amount, label)
    quantity = cr.quantity
    if amount_c < 0:
        amount_c, product_c, tax_c = -amount_c, -product_c, -tax_c
        if quantity is not None and quantity < 0:
            quantity = -quantity
    if product_c < 0 or tax_c < 0:
        raise RecordError(
            f"{label}: product amount and tax amount must have the same sign as the credit amount"
        )
    _nonnegative_quantity(quantity, label)
    return {
        "credit_memo_id": cr.credit_memo_id,
        "customer_id": cr.customer_id,
        "bill_id": _bill_ref(cr.bill_id),
        "atype": (_text(cr.atype) or "").upper() or None,
        "is_bad_debt": bool(cr.is_bad_debt),
        "description": _text(cr.description),
        "product_id": cr.product_id,
        "product_type_id": cr.product_type_id,
        "quantity": _dec_str(quantity),
        "rate": _dec_str(abs(cr.rate) if cr.rate is not None else None),
        "amount_cents": amount_c,
        "product_amount_cents": product_c,
        "tax_amount_cents": tax_c,
        "tax_class_id": cr.tax_class_id,
        "geocode": _text(cr.geocode),
        "start_date": _day(cr.start_date),
        "end_date": _day(cr.end_date),
        "created_date": _stamp(cr.created_date),
        "credit_kind": cfg.credit_kind_for(cr.atype, cr.is_bad_debt, cr.description),
        **_base(raw, partition_key),
    }


def normalize_payment(raw: Mapping[str, Any], partition_key: str | None = None) -> dict[str, Any]:
    """``stg_payments`` row. ``received_date`` falls back to the created date; ``method`` is upper-cased;
    ``original_payment_id`` is read when Rev.io (or the sandbox) sends it, else ``None``."""
    p = _parse(RevioPayment, raw, "payment", "payment_id")
    label = _label("payment", raw, "payment_id")
    _require(p.payment_id, label, "payment id")
    if not p.customer_id:
        raise RecordError(f"{label} has no customer")
    if p.amount is None:
        raise RecordError(f"{label} has no amount")
    received = p.received_date or p.created_date
    if received is None:
        raise RecordError(f"{label} has neither a received date nor a created date")
    return {
        "payment_id": p.payment_id,
        "customer_id": p.customer_id,
        "bill_id": _bill_ref(p.bill_id),
        "method": (_text(p.method) or "").upper() or None,
        "payment_type_id": p.payment_type_id,
        "reference_number": _text(p.reference_number),
        "amount_cents": _cents(p.amount, label, "amount"),
        "received_date": _day(received),
        "created_date": _stamp(p.created_date),
        "refund_flag": bool(p.refund_flag),
        "bounced": bool(p.bounced),
        "original_payment_id": p.original_payment_id or None,
        **_base(raw, partition_key),
    }
