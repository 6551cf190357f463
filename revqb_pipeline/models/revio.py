"""pydantic models of Rev.io REST records (the objects inside ``records[]``).

Every field is optional, as in the tap-rev-io schemas; unknown fields are ignored (the raw record is kept
separately as ``raw_json``). Amounts are ``Decimal`` (read without float drift), ids are ``int``,
``geocode`` is a string even when Rev.io sends a number, and ``fields`` (custom fields) is a list of
``{field_id, label, value}`` even when sent as a single object. Empty strings read as null.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from revqb_pipeline.money import MAX_AMOUNT, MAX_PLACES, MoneyError, to_decimal

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_ID = 2**63 - 1  # ids and counts: what a BIGINT column holds


def parse_revio_datetime(value: Any) -> datetime | None:
    """Read a Rev.io date-time (ISO 8601, with or without time / zone); ``None`` or ``""`` -> ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    try:
        if _DATE_ONLY.match(text):
            return datetime.fromisoformat(text + "T00:00:00")
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date") from None


def _money(value: Any) -> Decimal | None:
    if type(value) is Decimal and value.is_finite():  # the common case, a JSON number: to_decimal's checks
        if value.as_tuple().exponent >= -MAX_PLACES and abs(value) < MAX_AMOUNT:  # type: ignore[operator]
            return value
    return _money_general(value)


def _money_general(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return to_decimal(value)
    except MoneyError as exc:
        raise ValueError(f"{value!r:.60} {exc.problem}") from None


def parse_revio_id(value: Any) -> int | None:
    """A Rev.io id or count: a whole, non-negative number fitting a BIGINT; ``None``/``""`` -> ``None``."""
    if type(value) is int and 0 <= value <= MAX_ID:  # the common case, a JSON integer
        return value
    return _id_general(value)


def _id_general(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        d = Decimal(value)
    else:
        try:
            d = to_decimal(value)
        except MoneyError:
            raise ValueError(f"{value!r:.60} is not a whole number") from None
    if d != d.to_integral_value():
        raise ValueError(f"{value!r:.60} is not a whole number")
    if d < 0:
        raise ValueError(f"{value!r:.60} is negative")
    if d > MAX_ID:
        raise ValueError(f"{value!r:.60} is too large")
    return int(d)


def _text(value: Any) -> str | None:
    if type(value) is str and "\x00" not in value:  # the common case
        return value
    return _text_general(value)


def _text_general(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise ValueError(f"{value!r:.60} is not text")
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(f"{value!r:.60} contains a NUL character")
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return str(int(value))
    return str(value)


def _boolish(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "1", "yes", "y"):
            return True
        if low in ("false", "0", "no", "n"):
            return False
        raise ValueError(f"{value!r:.60} is not true/false")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{value!r:.60} is not true/false")


def _fields_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return value


Money = Annotated[Decimal | None, BeforeValidator(_money)]
Id = Annotated[int | None, BeforeValidator(parse_revio_id)]
DateTime = Annotated[datetime | None, BeforeValidator(parse_revio_datetime)]
Text = Annotated[str | None, BeforeValidator(_text)]
Flag = Annotated[bool | None, BeforeValidator(_boolish)]


class RevioModel(BaseModel):
    """Base: tolerant of extra fields, every field optional."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class RevioCustomField(RevioModel):
    field_id: Id = None
    label: Text = None
    value: Text = None


CustomFields = Annotated[list[RevioCustomField], BeforeValidator(_fields_list)]


class RevioAddress(RevioModel):
    address_id: Id = None
    customer_id: Id = None
    first_name: Text = None
    middle_initial: Text = None
    last_name: Text = None
    company_name: Text = None
    line_1: Text = None
    line_2: Text = None
    city: Text = None
    state_or_province: Text = None
    postal_code: Text = None
    postal_code_extension: Text = None
    country_code: Text = None  # str in the tap schema, int (e.g. 235) in Rev.io's doc example
    created_date: DateTime = None
    modified_date: DateTime = None


class RevioFinance(RevioModel):
    amount_due: Money = None
    amount_overdue: Money = None
    bill_profile_id: Id = None
    billing_method: Text = None
    balance: Money = None
    balance_limit: Money = None
    balance_limit_enabled: Flag = None
    due_date: DateTime = None
    collection_template_id: Id = None
    contract_end_date: DateTime = None
    contract_start_date: DateTime = None
    cycle_date: DateTime = None
    late_fees_enabled: Flag = None
    payment_terms_days: Id = None
    tax_exempt_enabled: Flag = None
    tax_exempt_types: Text = None
    usage_file_enabled: Flag = None
    usage_file_format: Text = None
    payment_fees_enabled: Flag = None


class RevioAutoDebit(RevioModel):
    enabled: Flag = None
    day: Money = None
    payment_account_id: Id = None


class RevioProfile(RevioModel):
    class_: Text = Field(default=None, alias="class")
    date_of_birth: Text = None
    language: Text = None
    tax_id: Text = None


class RevioCustomer(RevioModel):
    customer_id: Id = None
    parent_customer_id: Id = None
    account_number: Text = None
    activated_date: DateTime = None
    agent_id: Id = None
    secondary_agent_id: Id = None
    close_date: DateTime = None
    created_by: Id = None
    created_date: DateTime = None
    updated_date: DateTime = None
    email: Text = None
    phone: Text = None  # not in the tap schema; read when a tenant/sandbox sends it
    is_parent: Flag = None
    registration_code: Text = None
    security_pin: Text = None
    sold_by: Id = None
    source: Text = None
    status: Text = None
    suspended: Flag = None
    suspended_date: DateTime = None
    billing_address: RevioAddress | None = None
    service_address: RevioAddress | None = None
    listing_address: RevioAddress | None = None
    auto_debit: RevioAutoDebit | None = None
    finance: RevioFinance | None = None
    profile: RevioProfile | None = None
    fields: CustomFields = Field(default_factory=list)

    def _addresses(self) -> list[RevioAddress]:
        return [a for a in (self.billing_address, self.service_address, self.listing_address) if a]

    def display_name(self) -> str:
        """Customer name (Rev.io has no name field): the first non-empty ``company_name`` of the billing,
        service, then listing address; else first + last name from the same addresses; else
        ``"Rev.io customer <id>"``."""
        for addr in self._addresses():
            if addr.company_name and addr.company_name.strip():
                return addr.company_name.strip()
        for addr in self._addresses():
            parts = [p.strip() for p in (addr.first_name, addr.last_name) if p and p.strip()]
            if parts:
                return " ".join(parts)
        return f"Rev.io customer {self.customer_id}"

    def person_name(self) -> tuple[str | None, str | None]:
        """(first, last) from the first address that has either."""
        for addr in self._addresses():
            first = (addr.first_name or "").strip() or None
            last = (addr.last_name or "").strip() or None
            if first or last:
                return first, last
        return None, None


class RevioBill(RevioModel):
    bill_id: Id = None
    parent_bill_id: Id = None
    bill_type: Text = None
    print_batch_id: Id = None
    customer_id: Id = None
    due_date: DateTime = None
    created_date: DateTime = None
    amount_due: Money = None
    invoice_amount: Money = None
    credit_memo_amount: Money = None
    print_queue_flag: Flag = None
    printed_date: DateTime = None
    late_fee_applied_flag: Flag = None
    first_month_flag: Flag = None
    is_final_bill: Flag = None
    note: Text = None
    isLive: Flag = None  # Rev.io's own (camelCase) spelling
    cycle_date: DateTime = None
    pdf_file_id: Id = None
    is_reversed: Flag = None  # not in the tap schema; read when sent


class RevioCharge(RevioModel):
    charge_id: Id = None
    product_id: Id = None
    product_type_id: Id = None
    customer_id: Id = None
    bill_id: Id = None
    service_id: Id = None
    service_product_id: Id = None
    is_tax_included: Flag = None
    tax_class_id: Id = None
    description: Text = None
    amount: Money = None
    cost: Money = None
    product_amount: Money = None
    is_commission_exempted: Flag = None
    tax_amount: Money = None
    geocode: Text = None
    proration: Money = None
    created_date: DateTime = None
    created_by: Id = None
    quantity: Money = None
    rate: Money = None
    is_prorated: Flag = None
    start_date: DateTime = None
    end_date: DateTime = None


class RevioCredit(RevioModel):
    credit_memo_id: Id = None
    description: Text = None
    product_type_id: Id = None
    product_id: Id = None
    service_product_id: Id = None
    balance: Money = None
    closed_date: DateTime = None
    buy_rate: Money = None
    atype: Text = None
    created_date: DateTime = None
    created_by: Id = None
    tax_class_id: Id = None
    customer_id: Id = None
    bill_id: Id = None
    service_id: Id = None
    amount: Money = None
    product_amount: Money = None
    tax_amount: Money = None
    geocode: Text = None
    proration: Money = None
    is_tax_included: Flag = None
    cost: Money = None
    is_bad_debt: Flag = None
    quantity: Money = None
    rate: Money = None
    is_prorated: Flag = None
    start_date: DateTime = None
    end_date: DateTime = None


class RevioPayment(RevioModel):
    payment_id: Id = None
    customer_id: Id = None
    bill_id: Id = None
    agent_id: Id = None
    reference_number: Text = None
    created_by: Id = None
    created_date: DateTime = None
    received_date: DateTime = None
    source: Text = None
    balance: Money = None
    payment_account_id: Id = None
    ebilling_profile_id: Id = None
    method: Text = None
    amount: Money = None
    refund_flag: Flag = None
    payment_type_id: Id = None
    bounced: Flag = None
    authorization_code: Text = None
    original_payment_id: Id = None  # not in the tap schema; set when a row reverses another payment


class RevioProduct(RevioModel):
    product_id: Id = None
    product_type_id: Id = None
    description: Text = None
    code_1: Text = None
    code_2: Text = None
    rate: Money = None
    cost: Money = None
    buy_rate: Money = None
    created_date: DateTime = None
    created_by: Id = None
    active: Flag = None
    provider_id: Id = None
    bills_in_arrears: Flag = None
    prorates: Flag = None
    customer_class: Text = None
    long_description: Text = None
    ledger_code: Text = None
    tax_class_id: Id = None
    category_id: Id = None
    currency_code: Text = None
    is_credit_account_type: Flag = None
    fields: CustomFields = Field(default_factory=list)


class RevioProductType(RevioModel):
    product_type_id: Id = None
    product_type_code: Text = None
    description: Text = None
    tax_class_id: Id = None
    active: Flag = None
    one_time_flag: Flag = None


class RevioPaymentMethod(RevioModel):
    payment_method_id: Id = None
    description: Text = None
    order_index: Id = None
    cc_enabled: Flag = None
    ach_enabled: Flag = None
    erate_enabled: Flag = None
    fee_description: Text = None
    fee_amount: Money = None
    fee_type: Text = None
    fee_applied_to_auto_debit: Flag = None
    shows_in_customer_portal: Flag = None
    shows_in_agent_portal: Flag = None
