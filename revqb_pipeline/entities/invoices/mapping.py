"""QBO Invoice payloads from a Rev.io bill and its charges (pure, exact to the cent).

One invoice per bill: DocNumber = ``invoice.doc_number_prefix`` + bill_id, one non-taxable line per charge
(tax-excluded product amount), and the bill's taxes either as one non-taxable line per tax rule
(``taxes.mode: lines``) or as ``TxnTaxDetail.TotalTax`` (``total_tax_override``). The builder refuses to
produce an invoice whose total differs from Rev.io's bill total.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from revqb_pipeline.mapping.config import MappingConfig, TaxRule
from revqb_pipeline.mapping.errors import MappingMissing, RecordError
from revqb_pipeline.money import CENT, MoneyError, exact_qty_price, from_cents, to_decimal

DOC_NUMBER_MAX = 21
DESCRIPTION_MAX = 4000
PRIVATE_NOTE_MAX = 4000
NON_TAXABLE = {"value": "NON"}


def _plain(d: Decimal) -> Decimal:
    """``d`` without exponent notation or trailing zeros (``4.000`` -> ``4``, ``1E+2`` -> ``100``)."""
    if d == d.to_integral_value():
        return d.quantize(Decimal(1))
    return d.normalize()


def _price(d: Decimal) -> Decimal:
    """A UnitPrice: 2 places when it is whole cents, else up to 5 places without trailing zeros."""
    if d == d.quantize(CENT):
        return d.quantize(CENT)
    return _plain(d)


def line_qty_price(quantity: Any, rate: Any, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(Qty, UnitPrice) with ``Qty * UnitPrice == amount`` exactly (QBO error 6070 otherwise).

    1. Rev.io's quantity and rate when ``quantity * rate == amount`` and the rate has <= 5 decimals;
    2. else the quantity with ``UnitPrice = amount / quantity`` when that is exact at <= 5 decimals
       (451.50 / 48 = 9.40625);
    3. else ``Qty = 1, UnitPrice = amount``.
    """
    qty, unit = exact_qty_price(quantity, rate, amount)
    return _plain(qty), _price(unit)


def _money(cents: int) -> Decimal:
    return from_cents(cents)


def _sales_line(
    amount: Decimal,
    description: str,
    item_ref: str,
    item_name: str,
    qty: Decimal,
    unit_price: Decimal,
    service_date: str | None = None,
    class_ref: str | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "ItemRef": {"value": item_ref, "name": item_name},
        "Qty": qty,
        "UnitPrice": unit_price,
        "TaxCodeRef": dict(NON_TAXABLE),
    }
    if service_date:
        detail["ServiceDate"] = service_date
    if class_ref:
        detail["ClassRef"] = {"value": class_ref}
    return {
        "DetailType": "SalesItemLineDetail",
        "Amount": amount,
        "Description": description[:DESCRIPTION_MAX],
        "SalesItemLineDetail": detail,
    }


def _ref(refs: Mapping[str, str], name: str, kind: str, what: str) -> str:
    ref = refs.get(name)
    if not ref:
        raise MappingMissing(
            kind, name, f"{what} {name!r} is not in QuickBooks yet (no QuickBooks id for it)"
        )
    return str(ref)


def invoice_doc_number(bill_id: int, cfg: MappingConfig) -> str:
    """``invoice.doc_number_prefix`` + bill_id; ``RecordError`` when longer than QBO's 21 characters."""
    doc = f"{cfg.invoice.doc_number_prefix}{bill_id}"
    if len(doc) > DOC_NUMBER_MAX:
        raise RecordError(
            f"bill {bill_id}: invoice number {doc!r} has {len(doc)} characters but QuickBooks allows "
            f"{DOC_NUMBER_MAX}; shorten invoice.doc_number_prefix"
        )
    return doc


def invoice_payload(
    bill: Mapping[str, Any],
    charges: Sequence[Mapping[str, Any]],
    *,
    customer_ref: str,
    item_refs: Mapping[str, str],
    cfg: MappingConfig,
    tax_item_refs: Mapping[str, str] | None = None,
    product_types: Mapping[int, Mapping[str, Any]] | None = None,
    products: Mapping[int, Mapping[str, Any]] | None = None,
    class_refs: Mapping[str, str] | None = None,
    term_ref: str | None = None,
) -> dict[str, Any]:
    """A QBO Invoice create body for one ``stg_bills`` row and its ``stg_charges`` rows.

    ``item_refs`` / ``tax_item_refs`` map item names to QBO ids (tax items fall back to ``item_refs``);
    ``product_types`` / ``products`` let product-type-code rules and error messages work;
    ``class_refs`` maps class names to QBO ids (needed only when the mapping uses classes);
    ``term_ref`` is the QBO id of ``invoice.terms``.

    Raises ``RecordError`` for negative charges, charges of another bill/customer, a bill without charges,
    an over-long DocNumber, or lines that do not add up to the bill's ``invoice_amount``;
    ``MappingMissing`` for unmapped products/taxes or items not yet in QBO.
    """
    bill_id = bill["bill_id"]
    label = f"bill {bill_id}"
    doc_number = invoice_doc_number(bill_id, cfg)
    if not charges:
        raise RecordError(f"{label} has no charges, so there is nothing to invoice")
    tax_refs = tax_item_refs if tax_item_refs is not None else item_refs
    lines: list[dict[str, Any]] = []
    line_cents = 0
    tax_by_rule: dict[int, int] = {}
    rules: list[TaxRule] = list(cfg.taxes.rules)
    total_tax_cents = 0
    for ch in sorted(charges, key=lambda c: c["charge_id"]):
        cid = ch["charge_id"]
        if ch.get("bill_id") != bill_id:
            raise RecordError(f"{label}: charge {cid} belongs to bill {ch.get('bill_id')}, not to this bill")
        if ch.get("customer_id") != bill.get("customer_id"):
            raise RecordError(
                f"{label}: charge {cid} is for customer {ch.get('customer_id')} but the bill is for "
                f"customer {bill.get('customer_id')}"
            )
        product_c = int(ch["product_amount_cents"])
        tax_c = int(ch.get("tax_amount_cents") or 0)
        if product_c < 0 or tax_c < 0:
            raise RecordError(
                f"{label}: charge {cid} is negative ({_money(product_c + tax_c)}); "
                "negative charges belong on a credit memo, not an invoice"
            )
        rule = cfg.item_for_charge(ch, product_types, products)
        item_ref = _ref(item_refs, rule.item, "qbo_item", "item")
        class_name = rule.class_ or cfg.items[rule.item].class_
        class_ref = _ref(class_refs or {}, class_name, "qbo_class", "class") if class_name else None
        amount = _money(product_c)
        qty, unit_price = line_qty_price(ch.get("quantity"), ch.get("rate"), amount)
        lines.append(
            _sales_line(
                amount,
                (ch.get("description") or rule.item),
                item_ref,
                rule.item,
                qty,
                unit_price,
                ch.get("end_date") or ch.get("start_date"),
                class_ref,
            )
        )
        line_cents += product_c
        total_tax_cents += tax_c
        if tax_c and cfg.taxes.mode == "lines":
            tax_rule = cfg.tax_rule_for(ch.get("tax_class_id"), ch.get("geocode"))
            idx = rules.index(tax_rule)
            tax_by_rule[idx] = tax_by_rule.get(idx, 0) + tax_c
    payload: dict[str, Any] = {
        "DocNumber": doc_number,
        "TxnDate": bill["bill_date"],
        "CustomerRef": {"value": str(customer_ref)},
    }
    if bill.get("due_date"):
        payload["DueDate"] = bill["due_date"]
    if term_ref:
        payload["SalesTermRef"] = {"value": str(term_ref)}
    if cfg.taxes.mode == "lines":
        for idx in sorted(tax_by_rule):
            rule_t, cents = rules[idx], tax_by_rule[idx]
            amount = _money(cents)
            ref = _ref(tax_refs, rule_t.item, "qbo_item", "tax item")
            lines.append(_sales_line(amount, rule_t.name, ref, rule_t.item, Decimal(1), _price(amount)))
            line_cents += cents
        total = line_cents
    else:
        payload["TxnTaxDetail"] = {"TotalTax": _money(total_tax_cents)}
        total = line_cents + total_tax_cents
    expected = int(bill["invoice_amount_cents"])
    if total != expected:
        raise RecordError(
            f"{label}: invoice lines total {_money(total)} but Rev.io bill total is {_money(expected)}"
        )
    payload["Line"] = lines
    payload["PrivateNote"] = f"{cfg.invoice.bill_note_marker}{bill_id}"[:PRIVATE_NOTE_MAX]
    if cfg.invoice.customer_memo:
        payload["CustomerMemo"] = {"value": cfg.invoice.customer_memo}
    return payload


# ----- updates --------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return to_decimal(value)
    except MoneyError:
        return None


def _ref_value(obj: Any) -> str | None:
    if isinstance(obj, Mapping):
        value = obj.get("value")
        return None if value is None else str(value)
    return None


def _line_signature(line: Mapping[str, Any]) -> tuple[Any, ...]:
    detail = line.get("SalesItemLineDetail") or {}
    return (
        line.get("DetailType"),
        _dec(line.get("Amount")),
        (line.get("Description") or "").strip(),
        _ref_value(detail.get("ItemRef")),
        _dec(detail.get("Qty")),
        _dec(detail.get("UnitPrice")),
        detail.get("ServiceDate") or None,
        _ref_value(detail.get("TaxCodeRef")),
        _ref_value(detail.get("ClassRef")),
    )


_SERVER_LINE_TYPES = frozenset({"SubTotalLineDetail"})


def _lines_of(invoice: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [
        _line_signature(ln)
        for ln in invoice.get("Line") or []
        if ln.get("DetailType") not in _SERVER_LINE_TYPES
    ]


def invoice_update_payload(
    existing_qbo: Mapping[str, Any], desired: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A sparse update (Id, SyncToken, ``sparse: true`` + changed header fields; ``Line`` replaced wholesale
    when any line differs) or ``None`` when ``existing_qbo`` already matches ``desired``.

    Server-computed data (line Ids/LineNum, ref names, subtotal lines, TotalAmt, Balance, MetaData ...) is
    ignored; numbers compare as decimals (``100`` == ``100.00``).
    """
    changes: dict[str, Any] = {}
    for key in ("DocNumber", "TxnDate", "DueDate", "PrivateNote"):
        if key in desired and (desired[key] or None) != (existing_qbo.get(key) or None):
            changes[key] = desired[key]
    for key in ("CustomerRef", "SalesTermRef", "CustomerMemo", "ClassRef", "DepartmentRef"):
        if key in desired and _ref_value(desired[key]) != _ref_value(existing_qbo.get(key)):
            changes[key] = desired[key]
    if "TxnTaxDetail" in desired:
        want = _dec((desired["TxnTaxDetail"] or {}).get("TotalTax"))
        have = _dec((existing_qbo.get("TxnTaxDetail") or {}).get("TotalTax"))
        if want != have:
            changes["TxnTaxDetail"] = desired["TxnTaxDetail"]
    if _lines_of(desired) != _lines_of(existing_qbo):
        changes["Line"] = desired["Line"]
    if not changes:
        return None
    return {
        "Id": str(existing_qbo["Id"]),
        "SyncToken": str(existing_qbo.get("SyncToken", "0")),
        "sparse": True,
        **changes,
    }
