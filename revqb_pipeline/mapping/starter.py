"""The starter mapping file ``revqb mappings init`` writes, from what Rev.io holds (pure: no I/O).

:class:`RevioSnapshot` is the Rev.io catalog and recent records (read by the CLI); :func:`starter_yaml`
turns it into a commented mapping file that loads with ``load_mapping`` as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import yaml

Row = dict[str, Any]


@dataclass
class RevioSnapshot:
    """What the checks read from Rev.io: the catalog and the records created since ``since``."""

    products: list[Row] = field(default_factory=list)
    product_types: list[Row] = field(default_factory=list)
    payment_methods: list[Row] = field(default_factory=list)
    charges: list[Row] = field(default_factory=list)
    credits: list[Row] = field(default_factory=list)
    payments: list[Row] = field(default_factory=list)


_KIND_ACCOUNT = {"recurring": "Recurring Revenue", "usage": "Usage Revenue", "one_time": "One-time Revenue"}
_TAX_ACCOUNT = "Telecom Taxes Payable"
_CREDIT_ITEMS = {
    "service_credit": "Service Credits",
    "dispute": "Billing Dispute Credits",
    "promotion": "Promotional Credits",
    "bad_debt": "Bad Debt Write-off",
    "adjustment": "Account Adjustments",
}


def _flow(value: Mapping[str, Any]) -> str:
    """One YAML flow mapping on one line (``{a: 1, b: "x"}``), quoted where YAML needs it."""
    text = yaml.safe_dump(dict(value), default_flow_style=True, sort_keys=False, width=10_000)
    return text.strip()


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid double-quoted YAML scalar


def _qbo_name(text: str | None, fallback: str, limit: int = 100) -> str:
    name = re.sub(r'[:"]', "-", " ".join((text or "").split()))[:limit].strip()
    return name or fallback


def _kind_of(ptype: Mapping[str, Any]) -> str:
    code = str(ptype.get("product_type_code") or "").upper()
    text = f"{code} {ptype.get('description') or ''}".lower()
    if "usage" in text or code in ("USG", "USE"):
        return "usage"
    return "one_time" if ptype.get("one_time_flag") else "recurring"


def starter_yaml(snap: RevioSnapshot, today: date | None = None) -> str:
    """A commented starter mapping file for this tenant (see module doc); it loads with ``load_mapping``."""
    today = today or date.today()
    types = {int(t["product_type_id"]): t for t in snap.product_types if t.get("product_type_id") is not None}
    products = sorted(
        (p for p in snap.products if p.get("product_id") is not None and p.get("active", True) is not False),
        key=lambda p: int(p["product_id"]),
    )
    type_items: dict[int, str] = {}
    used_names: set[str] = set(_CREDIT_ITEMS.values())
    for tid, t in sorted(types.items()):
        name = _qbo_name(t.get("description"), f"Product type {tid}")
        if name.casefold() in {n.casefold() for n in used_names}:
            name = f"{name} ({tid})"
        type_items[tid] = name
        used_names.add(name)
    tax_classes = sorted(
        {
            int(x["tax_class_id"])
            for x in [*snap.products, *snap.product_types, *snap.charges, *snap.credits]
            if x.get("tax_class_id") not in (None, "")
        }
    )
    codes: dict[str, str] = {}
    for t in types.values():
        code = str(t.get("product_type_code") or "").strip().upper()
        if code and code not in codes:
            codes[code] = _kind_of(t)
    methods: dict[str, str] = {}
    for m in snap.payment_methods:
        code = str(m.get("code") or m.get("description") or "").strip().upper()
        if code:
            methods.setdefault(code, _qbo_name(m.get("description"), code.title(), 31))
    for p in snap.payments:
        code = str(p.get("method") or "").strip().upper()
        if code:
            methods.setdefault(code, _qbo_name(code.replace("_", " ").title(), code, 31))
    methods.setdefault("OTHER", "Other")

    out: list[str] = [
        f"# revqb mapping file: starter written by `revqb mappings init` on {today.isoformat()}",
        "# from the Rev.io catalog. Review every QuickBooks name (accounts, items, payment methods)",
        "# and every line marked CHECK, then run `revqb mappings check`. docs/mapping.md explains it all.",
        "",
        "version: 1",
        "",
        "# QuickBooks accounts revqb uses; missing ones are created (except `existing: true`).",
        "accounts:",
    ]
    for kind in ("recurring", "usage", "one_time"):
        out.append(f"  {_q(_KIND_ACCOUNT[kind])}: {{type: Income, subtype: ServiceFeeIncome}}")
    out += [
        f"  {_q(_TAX_ACCOUNT)}: {{type: Other Current Liability, subtype: SalesTaxPayable}}"
        "  # CHECK: one account per authority?",
        '  "Deferred Revenue": {type: Other Current Liability, subtype: OtherCurrentLiabilities}',
        '  "Service Credits Given": {type: Income, subtype: DiscountsRefundsGiven}   # contra-revenue',
        '  "Bad Debt": {type: Expense, subtype: BadDebts}',
        '  "Undeposited Funds": {type: Other Current Asset, subtype: UndepositedFunds, existing: true}',
        '  "Accounts Receivable (A/R)":'
        " {type: Accounts Receivable, subtype: AccountsReceivable, existing: true}",
        "",
        "# QuickBooks items: one per Rev.io product type, one per tax class, one per kind of credit.",
        "items:",
    ]
    for tid, name in type_items.items():
        kind = _kind_of(types[tid])
        spec = {
            "income_account": _KIND_ACCOUNT[kind],
            "description": str(types[tid].get("description") or ""),
        }
        out.append(f"  {_q(name)}: {_flow(spec)}   # Rev.io product type {tid}")
    tax_items = {tc: f"Tax class {tc}" for tc in tax_classes}
    for name in tax_items.values():
        out.append(f"  {_q(name)}: {{income_account: {_q(_TAX_ACCOUNT)}}}   # CHECK: name it after the tax")
    for kind, name in _CREDIT_ITEMS.items():
        account = "Bad Debt" if kind == "bad_debt" else "Service Credits Given"
        out.append(f"  {_q(name)}: {{income_account: {_q(account)}}}")
    out += [
        "",
        "# Rev.io product type code -> kind of charge (recurring, usage, one_time).",
        "product_type_codes:" + ("" if codes else " {}"),
    ]
    out += [f"  {_q(code)}: {kind}" for code, kind in sorted(codes.items())]
    out += [
        "",
        "# One rule per Rev.io product: a product added to Rev.io later is reported by",
        "# `revqb mappings check` and its bills are held back (quarantined, named) until a rule is added",
        "# here. To map whole product types instead, use the commented product_type_id rules below.",
        "products:",
        "  rules:" + ("" if products else " []"),
    ]
    for p in products:
        tid = int(p.get("product_type_id") or 0)
        item = type_items.get(tid)
        if item is None:
            out.append(f"    # product {p['product_id']}: product type {tid} is not in the Rev.io catalog")
            continue
        rule = _flow({"product_id": int(p["product_id"]), "item": item})
        out.append(f"    - {rule}   # {_qbo_name(p.get('description'), '')}")
    for tid, name in type_items.items():
        out.append(f"    # - {_flow({'product_type_id': tid, 'item': name})}")
    out += [
        "",
        "# Taxes: lines = one non-taxable line per tax on the tax's item (liability account);",
        "# total_tax_override = the bill's tax in QuickBooks' TxnTaxDetail.TotalTax. One rule per Rev.io tax",
        '# class; add rules with jurisdiction: "TX" (2-letter state) for state-specific items.',
        "taxes:",
        "  mode: lines",
        "  rules:" + ("" if tax_items else " []"),
    ]
    for tc, name in tax_items.items():
        rule = {
            "tax_class_id": tc,
            "jurisdiction": "*",
            "item": name,
            "liability_account": _TAX_ACCOUNT,
            "level": "state",
            "name": name,
        }
        out.append(f"    - {_flow(rule)}   # CHECK level: federal, state or local")
    out += [
        "",
        "# Rev.io payment method -> QuickBooks payment method and deposit account.",
        "payment_methods:",
    ]
    for code, name in sorted(methods.items()):
        out.append(
            f"  {_q(code)}: {_flow({'qbo_payment_method': name, 'deposit_account': 'Undeposited Funds'})}"
        )
    out += [
        "",
        "# Credits: item per kind; kind from is_bad_debt, dispute keywords, then the Rev.io credit type.",
        "credits:",
        "  items:",
    ]
    out += [f"    {kind}: {_q(name)}" for kind, name in _CREDIT_ITEMS.items()]
    out += [
        "  atype_kinds: {FCC: service_credit, MRC: service_credit, NRC: service_credit, OCC: promotion, "
        "ADJ: adjustment}   # CHECK against your Rev.io credit types",
        "  bad_debt_kind: bad_debt",
        '  dispute_keywords: ["dispute", "billing error", "billed in error"]',
        "",
        "# Month-end revenue journals: revenue account per kind of charge.",
        "revenue:",
        '  receivable_account: "Accounts Receivable (A/R)"',
        "  by_charge_kind:",
    ]
    out += [f"    {kind}: {{account: {_q(acct)}, deferred: false}}" for kind, acct in _KIND_ACCOUNT.items()]
    return "\n".join(out) + "\n"
