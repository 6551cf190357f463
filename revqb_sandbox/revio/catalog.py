"""The sandbox tenant's fixed reference data: tax classes, geocodes, product types, products, payment methods.

Documented assumptions (Rev.io publishes none of these; all are sandbox choices):

Tax classes (``tax_class_id``; one per charge/credit, one ``tax_amount`` per record):

    ==== ============================ ==========================================
    id   name                         rate
    ==== ============================ ==========================================
    101  Federal USF                  8.50 % of product_amount
    102  Federal Excise               3.00 % of product_amount
    201  State Sales Tax              state rate (STATES table), of product_amount
    202  State Telecom Excise         state rate (STATES table), of product_amount
    301  Local Utility Users Tax      3.50 % of product_amount
    302  E911 Fee                     0.75 per unit (quantity), not a percentage
    null (tax exempt, e.g. internet access)  0.00
    ==== ============================ ==========================================

Geocode (string): ``"US" + 2-digit state FIPS + 3-digit county FIPS + "0000"``, e.g. ``US130890000``
(DeKalb County, GA), taken from the customer's service address state.

Product type codes (``product_type_code``): ``MRC`` = recurring (``one_time_flag`` false),
``USAGE`` = rated usage (``one_time_flag`` false), ``NRC`` = one-time (``one_time_flag`` true).

Credit kinds -> (``atype``, ``is_bad_debt``): service_credit -> MRC, dispute -> OCC, promotion -> NRC,
adjustment -> ADJ, bad_debt -> ADJ + ``is_bad_debt=true``. ``FCC`` is accepted on create but never generated.

Payment methods (``Payments.method`` / ``payment_type_id`` = ``PaymentMethods.payment_method_id``):
CHECK=1, CREDIT_CARD=2, ACH=3, CASH=4, WIRE=5.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
CATALOG_CREATED = "2024-01-02T09:00:00"


def q2(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class State:
    code: str
    fips: str
    county_fips: str
    city: str
    postal_prefix: str
    sales_rate: Decimal
    telecom_rate: Decimal


STATES: tuple[State, ...] = (
    State("GA", "13", "089", "Decatur", "300", Decimal("0.0400"), Decimal("0.0300")),
    State("TX", "48", "201", "Houston", "770", Decimal("0.0625"), Decimal("0.0500")),
    State("NY", "36", "061", "New York", "100", Decimal("0.0400"), Decimal("0.0250")),
    State("CA", "06", "037", "Los Angeles", "900", Decimal("0.0725"), Decimal("0.0000")),
    State("FL", "12", "086", "Miami", "331", Decimal("0.0600"), Decimal("0.0492")),
    State("IL", "17", "031", "Chicago", "606", Decimal("0.0625"), Decimal("0.0700")),
    State("WA", "53", "033", "Seattle", "981", Decimal("0.0650"), Decimal("0.0000")),
    State("CO", "08", "031", "Denver", "802", Decimal("0.0290"), Decimal("0.0000")),
    State("MA", "25", "025", "Boston", "021", Decimal("0.0625"), Decimal("0.0000")),
    State("NC", "37", "119", "Charlotte", "282", Decimal("0.0475"), Decimal("0.0700")),
)
STATE_BY_CODE = {s.code: s for s in STATES}

TAX_CLASSES: dict[int, str] = {
    101: "Federal USF",
    102: "Federal Excise",
    201: "State Sales Tax",
    202: "State Telecom Excise",
    301: "Local Utility Users Tax",
    302: "E911 Fee",
}
_FLAT_RATES = {101: Decimal("0.085"), 102: Decimal("0.03"), 301: Decimal("0.035")}
E911_PER_UNIT = Decimal("0.75")


def geocode(state_code: str) -> str:
    """``US`` + state FIPS + county FIPS + ``0000``."""
    s = STATE_BY_CODE.get(state_code, STATES[0])
    return f"US{s.fips}{s.county_fips}0000"


def tax_rate(tax_class_id: int | None, state_code: str) -> Decimal:
    """Percentage rate of a tax class (0 for exempt or per-unit classes)."""
    if tax_class_id is None or tax_class_id == 302:
        return Decimal(0)
    if tax_class_id in _FLAT_RATES:
        return _FLAT_RATES[tax_class_id]
    s = STATE_BY_CODE.get(state_code, STATES[0])
    if tax_class_id == 201:
        return s.sales_rate
    if tax_class_id == 202:
        return s.telecom_rate
    return Decimal(0)


def compute_tax(
    tax_class_id: int | None, state_code: str, product_amount: Decimal, quantity: Decimal
) -> Decimal:
    """Tax on a pre-tax amount (E911 is per unit)."""
    if tax_class_id == 302:
        return q2(E911_PER_UNIT * quantity)
    return q2(product_amount * tax_rate(tax_class_id, state_code))


def split_tax_included(
    tax_class_id: int | None, state_code: str, total: Decimal, quantity: Decimal
) -> tuple[Decimal, Decimal]:
    """Back the tax out of a tax-included total: (product_amount, tax_amount), summing to ``total``."""
    if tax_class_id == 302:
        tax = min(q2(E911_PER_UNIT * quantity), total)
        return total - tax, tax
    product = q2(total / (1 + tax_rate(tax_class_id, state_code)))
    return product, total - product


PRODUCT_TYPES: tuple[dict[str, Any], ...] = (
    {
        "product_type_id": 10,
        "product_type_code": "MRC",
        "description": "Recurring - Voice",
        "tax_class_id": 202,
    },
    {
        "product_type_id": 11,
        "product_type_code": "MRC",
        "description": "Recurring - Data",
        "tax_class_id": None,
    },
    {
        "product_type_id": 20,
        "product_type_code": "USAGE",
        "description": "Usage - Long Distance",
        "tax_class_id": 101,
    },
    {
        "product_type_id": 21,
        "product_type_code": "USAGE",
        "description": "Usage - International",
        "tax_class_id": 102,
    },
    {
        "product_type_id": 22,
        "product_type_code": "USAGE",
        "description": "Usage - Toll-Free",
        "tax_class_id": 101,
    },
    {
        "product_type_id": 30,
        "product_type_code": "NRC",
        "description": "One-time charges",
        "tax_class_id": 201,
    },
)
KIND_BY_CODE = {"MRC": "recurring", "USAGE": "usage", "NRC": "one_time"}

# (product_id, product_type_id, description, rate, cost, tax_class_id, ledger_code, category_id)
_PRODUCTS: tuple[tuple[int, int, str, str, str, int | None, str, int], ...] = (
    (101, 10, "Hosted PBX Seat", "24.95", "9.00", 302, "4000-VOICE", 4000),
    (102, 10, "SIP Trunk Channel", "18.50", "6.25", 202, "4000-VOICE", 4000),
    (103, 11, "Dedicated Internet Access 100 Mbps", "349.00", "180.00", None, "4100-DATA", 4100),
    (104, 10, "DID Block (20 numbers)", "20.00", "4.00", 301, "4000-VOICE", 4000),
    (105, 10, "Business Voice Bundle (taxes included)", "59.99", "20.00", 202, "4000-VOICE", 4000),
    (201, 20, "Long Distance Minutes", "0.035", "0.010", 101, "4200-USAGE", 4200),
    (202, 21, "International Minutes", "0.120", "0.060", 102, "4200-USAGE", 4200),
    (203, 22, "Toll-Free Minutes", "0.045", "0.015", 101, "4200-USAGE", 4200),
    (301, 30, "Installation", "250.00", "120.00", 201, "4300-NRC", 4300),
    (302, 30, "Activation Fee", "49.99", "0.00", 201, "4300-NRC", 4300),
)
TAX_INCLUDED_PRODUCTS = frozenset({105})

PAYMENT_METHODS: tuple[tuple[int, str, str, bool, bool], ...] = (
    (1, "CHECK", "Check", False, False),
    (2, "CREDIT_CARD", "Credit Card", True, False),
    (3, "ACH", "ACH / eCheck", False, True),
    (4, "CASH", "Cash", False, False),
    (5, "WIRE", "Wire Transfer", False, False),
)
METHOD_IDS = {code: pid for pid, code, _, _, _ in PAYMENT_METHODS}

CREDIT_KINDS: dict[str, tuple[str, bool]] = {
    "service_credit": ("MRC", False),
    "dispute": ("OCC", False),
    "promotion": ("NRC", False),
    "adjustment": ("ADJ", False),
    "bad_debt": ("ADJ", True),
}
ATYPES = frozenset({"FCC", "MRC", "NRC", "OCC", "ADJ"})


def product_type_records() -> list[dict[str, Any]]:
    """ProductTypes records."""
    return [{**pt, "active": True, "one_time_flag": pt["product_type_code"] == "NRC"} for pt in PRODUCT_TYPES]


def product_record(
    product_id: int,
    product_type_id: int,
    description: str,
    rate: Decimal,
    cost: Decimal,
    tax_class_id: int | None,
    ledger_code: str,
    category_id: int,
    created_date: str = CATALOG_CREATED,
) -> dict[str, Any]:
    """One Products record."""
    return {
        "product_id": product_id,
        "product_type_id": product_type_id,
        "description": description,
        "code_1": f"P{product_id}",
        "code_2": None,
        "rate": rate,
        "cost": cost,
        "buy_rate": cost,
        "created_date": created_date,
        "created_by": 1,
        "active": True,
        "creates_order": False,
        "provider_id": 1,
        "bills_in_arrears": product_type_id in (20, 21, 22),
        "prorates": product_type_id in (10, 11),
        "prorates_on_disconnect": product_type_id in (10, 11),
        "customer_class": "Business",
        "long_description": description,
        "ledger_code": ledger_code,
        "free_months": None,
        "automatic_expiration_months": None,
        "order_completion_billing": False,
        "tax_class_id": tax_class_id,
        "wholesale_description": None,
        "smart_pricing_id": None,
        "bill_profile_ids": [1, 2],
        "fields": [],
        "category_id": category_id,
        "is_credit_account_type": False,
        "currency_code": "USD",
        "is_tax_included": product_id in TAX_INCLUDED_PRODUCTS,
    }


def product_records() -> list[dict[str, Any]]:
    """Products records of the fixed catalog."""
    return [
        product_record(pid, ptid, desc, Decimal(rate), Decimal(cost), tc, ledger, cat)
        for pid, ptid, desc, rate, cost, tc, ledger, cat in _PRODUCTS
    ]


def payment_method_records() -> list[dict[str, Any]]:
    """PaymentMethods records."""
    return [
        {
            "payment_method_id": pid,
            "description": desc,
            "order_index": pid,
            "cc_enabled": cc,
            "ach_enabled": ach,
            "erate_enabled": False,
            "fee_description": None,
            "fee_amount": Decimal("0.00"),
            "fee_type": None,
            "fee_applied_to_auto_debit": False,
            "shows_in_customer_portal": cc or ach,
            "shows_in_agent_portal": True,
            "code": code,
        }
        for pid, code, desc, cc, ach in PAYMENT_METHODS
    ]
