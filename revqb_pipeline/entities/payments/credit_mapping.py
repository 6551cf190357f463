"""Rev.io credits -> QBO CreditMemos (pure, exact to the cent).

One credit memo per Rev.io credit: DocNumber = ``invoice.credit_doc_number_prefix`` + credit_memo_id, one
non-taxable line with the credit kind's item (``credits.items``) for the pre-tax product amount, and the
credit's tax carried exactly like invoices carry tax (``taxes.mode``): a non-taxable line with the tax
rule's item (which reduces the tax liability) or ``TxnTaxDetail.TotalTax``. The memo's total equals the
Rev.io credit ``amount``; the builder refuses anything else. Applying the memo to its bill's invoice is a
zero-total Payment (:func:`revqb_pipeline.entities.payments.mapping.credit_application_payload`).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from revqb_pipeline.entities.invoices.mapping import _price, _sales_line, line_qty_price
from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.mapping.symbols import CUSTOMER_PREFIX, ITEM_PREFIX
from revqb_pipeline.money import from_cents

DOC_NUMBER_MAX = 21
PRIVATE_NOTE_MAX = 4000


def credit_doc_number(credit_memo_id: int, cfg: MappingConfig) -> str:
    """``invoice.credit_doc_number_prefix`` + id; ``RecordError`` when longer than QBO's 21 characters."""
    doc = f"{cfg.invoice.credit_doc_number_prefix}{credit_memo_id}"
    if len(doc) > DOC_NUMBER_MAX:
        raise RecordError(
            f"credit {credit_memo_id}: credit memo number {doc!r} has {len(doc)} characters but QuickBooks "
            f"allows {DOC_NUMBER_MAX}; shorten invoice.credit_doc_number_prefix"
        )
    return doc


def credit_memo_payload(credit: Mapping[str, Any], cfg: MappingConfig) -> dict[str, Any]:
    """A QBO CreditMemo create body for one ``stg_credits`` row (symbolic ``revio-customer:`` / ``item:``
    refs). Raises ``RecordError`` (``MappingMissing`` for an unmapped kind or tax class)."""
    cid = int(credit["credit_memo_id"])
    label = f"credit {cid}"
    doc = credit_doc_number(cid, cfg)
    product_c = int(credit["product_amount_cents"])
    tax_c = int(credit.get("tax_amount_cents") or 0)
    total_c = int(credit["amount_cents"])
    if product_c < 0 or tax_c < 0 or total_c <= 0:
        raise RecordError(f"{label}: amounts must be positive magnitudes (got {from_cents(total_c)})")
    if product_c + tax_c != total_c:
        raise RecordError(
            f"{label}: product {from_cents(product_c)} + tax {from_cents(tax_c)} is not the credit "
            f"amount {from_cents(total_c)}"
        )
    kind = str(credit.get("credit_kind") or "")
    item = cfg.credit_item_for(kind)
    lines: list[dict[str, Any]] = []
    amount = from_cents(product_c)
    if product_c:
        qty, unit = line_qty_price(credit.get("quantity"), credit.get("rate"), amount)
        lines.append(
            _sales_line(
                amount,
                credit.get("description") or item,
                f"{ITEM_PREFIX}{item}",
                item,
                qty,
                unit,
                credit.get("end_date") or credit.get("start_date"),
            )
        )
    payload: dict[str, Any] = {
        "DocNumber": doc,
        "TxnDate": str(credit.get("created_date") or credit.get("start_date"))[:10],
        "CustomerRef": {"value": f"{CUSTOMER_PREFIX}{credit['customer_id']}"},
    }
    if tax_c:
        if cfg.taxes.mode == "lines":
            rule = cfg.tax_rule_for(credit.get("tax_class_id"), credit.get("geocode"))
            tax = from_cents(tax_c)
            lines.append(
                _sales_line(tax, rule.name, f"{ITEM_PREFIX}{rule.item}", rule.item, Decimal(1), _price(tax))
            )
        else:
            payload["TxnTaxDetail"] = {"TotalTax": from_cents(tax_c)}
    elif cfg.taxes.mode != "lines":
        payload["TxnTaxDetail"] = {"TotalTax": from_cents(0)}
    if not lines:
        raise RecordError(f"{label} has neither a product amount nor a tax amount line")
    payload["Line"] = lines
    payload["PrivateNote"] = f"{cfg.invoice.credit_note_marker}{cid} ({kind})"[:PRIVATE_NOTE_MAX]
    return payload


def credit_memo_total_cents(payload: Mapping[str, Any]) -> int:
    """The total a credit memo payload will have in QBO (lines + TotalTax), in cents."""
    total = sum(Decimal(str(ln["Amount"])) for ln in payload.get("Line", []) if ln.get("Amount") is not None)
    tax = (payload.get("TxnTaxDetail") or {}).get("TotalTax")
    if tax is not None:
        total += Decimal(str(tax))
    return int(total * 100)
