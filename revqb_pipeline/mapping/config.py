"""The mapping file a finance person edits: which QBO accounts/items Rev.io products, taxes, credits and
payments post to. YAML, validated by pydantic; ``load_mapping`` is the only function here that reads a file.

Error messages name the bad key as a dotted path (``taxes.rules[2].level: ...``) so the file can be fixed
without reading code. Unknown keys are rejected (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from revqb_pipeline.mapping.errors import MappingMissing, RecordError

ChargeKind = Literal["recurring", "usage", "one_time"]
CreditKind = Literal["service_credit", "dispute", "promotion", "bad_debt", "adjustment"]
TaxLevel = Literal["federal", "state", "local"]
AccountType = Literal[
    "Bank",
    "Accounts Receivable",
    "Other Current Asset",
    "Fixed Asset",
    "Other Asset",
    "Accounts Payable",
    "Credit Card",
    "Other Current Liability",
    "Long Term Liability",
    "Equity",
    "Income",
    "Cost of Goods Sold",
    "Expense",
    "Other Income",
    "Other Expense",
]
LIABILITY_TYPES = frozenset(
    {"Other Current Liability", "Long Term Liability", "Accounts Payable", "Credit Card"}
)
CHARGE_KINDS: tuple[str, ...] = ("recurring", "usage", "one_time")
CREDIT_KINDS: tuple[str, ...] = ("service_credit", "dispute", "promotion", "bad_debt", "adjustment")

# US state FIPS code -> USPS abbreviation (50 states, DC and the inhabited territories).
STATE_FIPS: dict[str, str] = {
    "01": "AL", "02": "AK", "04": "AZ", "05": "AR", "06": "CA", "08": "CO", "09": "CT", "10": "DE",
    "11": "DC", "12": "FL", "13": "GA", "15": "HI", "16": "ID", "17": "IL", "18": "IN", "19": "IA",
    "20": "KS", "21": "KY", "22": "LA", "23": "ME", "24": "MD", "25": "MA", "26": "MI", "27": "MN",
    "28": "MS", "29": "MO", "30": "MT", "31": "NE", "32": "NV", "33": "NH", "34": "NJ", "35": "NM",
    "36": "NY", "37": "NC", "38": "ND", "39": "OH", "40": "OK", "41": "OR", "42": "PA", "44": "RI",
    "45": "SC", "46": "SD", "47": "TN", "48": "TX", "49": "UT", "50": "VT", "51": "VA", "53": "WA",
    "54": "WV", "55": "WI", "56": "WY", "60": "AS", "66": "GU", "69": "MP", "72": "PR", "78": "VI",
}  # fmt: skip
STATE_CODES = frozenset(STATE_FIPS.values())
_GEOCODE = re.compile(r"^US(\d{2})(\d{3})(\d{4})$")


def jurisdiction_of(geocode: str | None) -> str:
    """The 2-letter state of a Rev.io geocode.

    Format (the sandbox's tax engine): ``US`` + 2-digit state FIPS + 3-digit county FIPS + ``0000``,
    e.g. ``US130890000`` -> ``GA`` (13 = Georgia, 089 = DeKalb County). Raises ``RecordError`` for a
    missing or malformed geocode or an unknown state code.
    """
    text = (geocode or "").strip().upper()
    if not text:
        raise RecordError("the charge has no geocode, so its tax jurisdiction (state) is unknown")
    m = _GEOCODE.match(text)
    if not m:
        raise RecordError(
            f"geocode {geocode!r} is not in the expected form US + 2-digit state + 3-digit county + 0000"
        )
    state = STATE_FIPS.get(m.group(1))
    if state is None:
        raise RecordError(f"geocode {geocode!r} has unknown state code {m.group(1)}")
    return state


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class AccountSpec(_Cfg):
    """A QBO account the pipeline may create when missing (``existing``: it must already exist)."""

    type: AccountType
    subtype: str | None = None
    number: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=100)
    existing: bool = False

    @field_validator("number")
    @classmethod
    def _no_colon(cls, v: str | None) -> str | None:
        if v is not None and ":" in v:
            raise ValueError("account numbers cannot contain ':'")
        return v


class ItemSpec(_Cfg):
    """A QBO Service item and the account its sales post to."""

    income_account: str
    type: Literal["Service"] = "Service"
    description: str | None = Field(default=None, max_length=4000)
    class_: str | None = Field(default=None, alias="class")
    department: str | None = None


class ItemRule(_Cfg):
    """One ``products.rules`` entry: exactly one match key -> item (and optional class).

    Precedence when several rules match a charge: product_id, product_type_id, product_type_code,
    charge_kind, then ``products.default_item``.
    """

    product_id: int | None = None
    product_type_id: int | None = None
    product_type_code: str | None = None
    charge_kind: ChargeKind | None = None
    item: str
    class_: str | None = Field(default=None, alias="class")

    @property
    def matched_on(self) -> str:
        """Which key this rule matches on (``default`` for the default item)."""
        for key in ("product_id", "product_type_id", "product_type_code", "charge_kind"):
            if getattr(self, key) is not None:
                return key
        return "default"


_MATCH_KEYS = ("product_id", "product_type_id", "product_type_code", "charge_kind")


class ProductsConfig(_Cfg):
    default_item: str | None = None
    rules: list[ItemRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_key_per_rule(self) -> ProductsConfig:
        seen: dict[tuple[str, Any], int] = {}
        for i, rule in enumerate(self.rules):
            keys = [k for k in _MATCH_KEYS if getattr(rule, k) is not None]
            if len(keys) != 1:
                raise ValueError(
                    f"rules[{i}]: give exactly one of {', '.join(_MATCH_KEYS)} (found {len(keys)})"
                )
            value = getattr(rule, keys[0])
            if keys[0] == "product_type_code":
                value = value.strip().upper()
            if (keys[0], value) in seen:
                raise ValueError(
                    f"rules[{i}]: {keys[0]} {value} is already mapped by rules[{seen[(keys[0], value)]}]"
                )
            seen[(keys[0], value)] = i
        return self


class TaxRule(_Cfg):
    """How one Rev.io tax class (optionally in one state) is posted."""

    tax_class_id: int
    jurisdiction: str = "*"
    item: str
    liability_account: str
    level: TaxLevel
    name: str = Field(max_length=4000)

    @field_validator("jurisdiction")
    @classmethod
    def _state(cls, v: str) -> str:
        v = v.strip().upper()
        if v != "*" and v not in STATE_CODES:
            raise ValueError(f'jurisdiction must be a 2-letter US state code or "*", not {v!r}')
        return v


class TaxesConfig(_Cfg):
    """``lines``: every tax is its own non-taxable invoice line (tax item -> liability account).
    ``total_tax_override``: the invoice carries ``TxnTaxDetail.TotalTax`` instead of tax lines."""

    mode: Literal["lines", "total_tax_override"] = "lines"
    rules: list[TaxRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> TaxesConfig:
        seen: dict[tuple[int, str], int] = {}
        for i, rule in enumerate(self.rules):
            key = (rule.tax_class_id, rule.jurisdiction)
            if key in seen:
                raise ValueError(
                    f"rules[{i}]: tax class {rule.tax_class_id} / jurisdiction {rule.jurisdiction} "
                    f"is already mapped by rules[{seen[key]}]"
                )
            seen[key] = i
        return self


class PaymentMethodRule(_Cfg):
    qbo_payment_method: str = Field(max_length=31)
    deposit_account: str = "Undeposited Funds"


class CreditsConfig(_Cfg):
    """Credit kinds and their items.

    ASSUMPTION (Rev.io does not document credit types): ``atype`` FCC/MRC/NRC are service credits, OCC a
    promotion, ADJ an adjustment; ``is_bad_debt: true`` wins over everything and means ``bad_debt_kind``;
    a description containing one of ``dispute_keywords`` (case-insensitive) means ``dispute``.
    """

    items: dict[CreditKind, str]
    atype_kinds: dict[str, CreditKind] = Field(default_factory=dict)
    bad_debt_kind: CreditKind = "bad_debt"
    dispute_keywords: list[str] = Field(default_factory=list)
    default_kind: CreditKind | None = None

    @field_validator("atype_kinds")
    @classmethod
    def _upper(cls, v: dict[str, CreditKind]) -> dict[str, CreditKind]:
        return {str(k).strip().upper(): kind for k, kind in v.items()}


class RevenueKind(_Cfg):
    account: str
    deferred: bool = False
    deferred_account: str | None = None

    @model_validator(mode="after")
    def _deferred_needs_account(self) -> RevenueKind:
        if self.deferred and not self.deferred_account:
            raise ValueError("deferred_account: required when deferred is true")
        return self


class RevenueConfig(_Cfg):
    """Month-end revenue journals: where each charge kind's revenue lives, and whether it is deferred."""

    receivable_account: str = "Accounts Receivable (A/R)"
    journal_class: str | None = None
    journal_doc_number_prefix: str = Field(default="REVREC-", max_length=13)
    by_charge_kind: dict[ChargeKind, RevenueKind]


class InvoiceConfig(_Cfg):
    doc_number_prefix: str = Field(default="RV-", max_length=20)
    credit_doc_number_prefix: str = Field(default="RVC-", max_length=20)
    terms: str | None = Field(default=None, max_length=31)
    customer_notes_marker: str = "revio:account:"
    bill_note_marker: str = "revio:bill:"
    credit_note_marker: str = "revio:credit:"
    payment_note_marker: str = "revio:payment:"
    customer_memo: str | None = Field(default=None, max_length=1000)


class CustomersConfig(_Cfg):
    """Rev.io address country codes -> QBO country; which fallbacks may link an existing QBO customer."""

    country_codes: dict[str, str] = Field(default_factory=lambda: {"235": "US", "840": "US", "USA": "US"})
    match_by_email: bool = True
    match_by_display_name: bool = True

    @field_validator("country_codes", mode="before")
    @classmethod
    def _keys_as_text(cls, v: Any) -> Any:
        return {str(k).strip().upper(): val for k, val in v.items()} if isinstance(v, Mapping) else v


class DunningConfig(_Cfg):
    status_line_prefix: str = "revio:status:"
    inactive_statuses: list[str] = Field(default_factory=list)
    # collection state (see entities/dunning/mapping.py): the Rev.io custom field holding the dunning step,
    # the step names meaning "in collections", and optionally: suspended for N days or more -> collections.
    collection_step_field: str = "Collection Step"
    collections_steps: list[str] = Field(
        default_factory=lambda: ["Collections Agency", "Collections", "Written Off"]
    )
    collections_after_suspended_days: int | None = Field(default=None, ge=0)
    # collection states (CURRENT, DUNNING, SUSPENDED, COLLECTIONS, CLOSED) that make the QBO customer inactive
    inactive_states: list[str] = Field(default_factory=list)
    clear_line_on_recovery: bool = True

    @field_validator("inactive_statuses", "inactive_states")
    @classmethod
    def _upper(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v]


DriftPolicy = Literal["report", "restore"]
DriftEntity = Literal["Customer", "Invoice", "Payment", "CreditMemo", "JournalEntry"]


class DriftConfig(_Cfg):
    """What revqb does when someone changes, voids or deletes in QBO a document it posted (issue 14):
    ``report`` (record and alert) or ``restore`` (also re-post it from Rev.io through the ledger), per QBO
    entity; entities not listed use ``default``. Optional: no ``drift:`` section means report only."""

    default: DriftPolicy = "report"
    entities: dict[DriftEntity, DriftPolicy] = Field(default_factory=dict)

    def policy_for(self, entity: str) -> DriftPolicy:
        return self.entities.get(entity, self.default)  # type: ignore[call-overload]


class MappingConfig(_Cfg):
    """The whole mapping file. See ``revqb_pipeline/mapping/default.yaml`` for a commented example."""

    version: Literal[1] = 1
    accounts: dict[str, AccountSpec]
    items: dict[str, ItemSpec]
    product_type_codes: dict[str, ChargeKind] = Field(default_factory=dict)
    products: ProductsConfig
    taxes: TaxesConfig
    payment_methods: dict[str, PaymentMethodRule]
    credits: CreditsConfig
    revenue: RevenueConfig
    invoice: InvoiceConfig = Field(default_factory=InvoiceConfig)
    customers: CustomersConfig = Field(default_factory=CustomersConfig)
    dunning: DunningConfig = Field(default_factory=DunningConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)

    @field_validator("product_type_codes", "payment_methods", mode="before")
    @classmethod
    def _upper_keys(cls, v: Any) -> Any:
        return {str(k).strip().upper(): val for k, val in v.items()} if isinstance(v, Mapping) else v

    @model_validator(mode="after")
    def _cross_references(self) -> MappingConfig:
        problems: list[str] = []

        def need_account(where: str, name: str | None) -> None:
            if name is not None and name not in self.accounts:
                problems.append(f"{where}: account {name!r} is not listed under accounts")

        def need_item(where: str, name: str | None) -> None:
            if name is not None and name not in self.items:
                problems.append(f"{where}: item {name!r} is not listed under items")

        for name, item in self.items.items():
            need_account(f"items.{name}.income_account", item.income_account)
            if len(name) > 100 or ":" in name:
                problems.append(f"items.{name}: item names must be at most 100 characters and contain no ':'")
        for name in self.accounts:
            if len(name) > 100 or ":" in name or '"' in name:
                problems.append(
                    f"accounts.{name}: account names must be <= 100 characters, without ':' or '\"'"
                )
        need_item("products.default_item", self.products.default_item)
        for i, rule in enumerate(self.products.rules):
            need_item(f"products.rules[{i}].item", rule.item)
        for i, rule in enumerate(self.taxes.rules):
            where = f"taxes.rules[{i}]"
            need_item(f"{where}.item", rule.item)
            need_account(f"{where}.liability_account", rule.liability_account)
            acct = self.accounts.get(rule.liability_account)
            if acct is not None and acct.type not in LIABILITY_TYPES:
                problems.append(
                    f"{where}.liability_account: {rule.liability_account!r} is an account of type "
                    f"{acct.type}, not a liability account"
                )
            item = self.items.get(rule.item)
            if item is not None and item.income_account != rule.liability_account:
                problems.append(
                    f"{where}: tax item {rule.item!r} posts to {item.income_account!r} but liability_account "
                    f"is {rule.liability_account!r}; they must be the same account"
                )
        for method, pm in self.payment_methods.items():
            need_account(f"payment_methods.{method}.deposit_account", pm.deposit_account)
        for kind, item_name in self.credits.items.items():
            need_item(f"credits.items.{kind}", item_name)
        missing_kinds = [k for k in CREDIT_KINDS if k not in self.credits.items]
        if missing_kinds:
            problems.append(f"credits.items: no item for credit kind(s) {', '.join(missing_kinds)}")
        need_account("revenue.receivable_account", self.revenue.receivable_account)
        for kind, rk in self.revenue.by_charge_kind.items():
            need_account(f"revenue.by_charge_kind.{kind}.account", rk.account)
            need_account(f"revenue.by_charge_kind.{kind}.deferred_account", rk.deferred_account)
        if len(self.invoice.doc_number_prefix) > 20:
            problems.append("invoice.doc_number_prefix: must be shorter than 21 characters")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    # ----- lookups used by the payload builders -------------------------------------------------

    def charge_kind_for_type(self, product_type_code: str | None, one_time_flag: bool | None) -> ChargeKind:
        """``product_type_codes`` table first; otherwise ``one_time`` if the type's one-time flag is set,
        else ``recurring``."""
        code = (product_type_code or "").strip().upper()
        if code in self.product_type_codes:
            return self.product_type_codes[code]
        return "one_time" if one_time_flag else "recurring"

    def item_for_charge(
        self,
        charge_row: Mapping[str, Any],
        product_types: Mapping[int, Mapping[str, Any]] | None = None,
        products: Mapping[int, Mapping[str, Any]] | None = None,
    ) -> ItemRule:
        """The item rule for a ``stg_charges`` (or ``stg_credits``) row; most specific rule wins.

        The product type code comes from ``charge_row['product_type_code']`` when present, else from
        ``product_types[product_type_id]``. Raises ``MappingMissing`` naming the product when nothing matches
        and there is no ``products.default_item``.
        """
        pid = charge_row.get("product_id")
        ptid = charge_row.get("product_type_id")
        ptype = (product_types or {}).get(ptid) if ptid is not None else None
        code = charge_row.get("product_type_code") or (ptype or {}).get("product_type_code")
        code = str(code).strip().upper() if code else None
        kind = charge_row.get("charge_kind") or (ptype or {}).get("charge_kind")
        candidates = (
            ("product_id", pid),
            ("product_type_id", ptid),
            ("product_type_code", code),
            ("charge_kind", kind),
        )
        for key, value in candidates:
            if value is None:
                continue
            for rule in self.products.rules:
                rv = getattr(rule, key)
                if key == "product_type_code" and rv is not None:
                    rv = rv.strip().upper()
                if rv is not None and rv == value:
                    return rule
        if self.products.default_item:
            return ItemRule(item=self.products.default_item)
        product = (products or {}).get(pid) if pid is not None else None
        desc = (product or {}).get("description") or charge_row.get("description") or ""
        type_text = " ".join(str(x) for x in (ptid, code) if x is not None) or "unknown"
        what = f"product {pid}" if pid is not None else "charge with no product"
        raise MappingMissing(
            "product",
            pid if pid is not None else ptid,
            f"no mapping for {what} {desc!r} (product type {type_text}); add a products.rules entry "
            "or set products.default_item",
        )

    def tax_rule_for(self, tax_class_id: int | None, geocode: str | None) -> TaxRule:
        """The tax rule for a tax class; a rule for the geocode's state beats a ``"*"`` rule.

        The geocode is only read when the class has state-specific rules. Raises ``MappingMissing`` when no
        rule applies, ``RecordError`` for a bad geocode.
        """
        if tax_class_id is None:
            raise MappingMissing(
                "tax", None, "the charge has tax but no tax class, so the tax cannot be mapped"
            )
        rules = [r for r in self.taxes.rules if r.tax_class_id == tax_class_id]
        if not rules:
            raise MappingMissing(
                "tax", tax_class_id, f"no mapping for tax class {tax_class_id}; add it under taxes.rules"
            )
        wildcard = next((r for r in rules if r.jurisdiction == "*"), None)
        specific = [r for r in rules if r.jurisdiction != "*"]
        if not specific:
            assert wildcard is not None
            return wildcard
        if not (geocode or "").strip() and wildcard is not None:
            return wildcard
        state = jurisdiction_of(geocode)
        for rule in specific:
            if rule.jurisdiction == state:
                return rule
        if wildcard is not None:
            return wildcard
        raise MappingMissing(
            "tax",
            (tax_class_id, state),
            f"no mapping for tax class {tax_class_id} in {state}; add a taxes.rules entry for it "
            'or one with jurisdiction "*"',
        )

    def tax_item_names(self) -> list[str]:
        """Names of every item used for tax lines."""
        return sorted({r.item for r in self.taxes.rules})

    def credit_kind_for(
        self, atype: str | None, is_bad_debt: bool | None, description: str | None
    ) -> CreditKind:
        """Bad-debt flag, then dispute keywords in the description, ``atype_kinds``, ``default_kind``."""
        if is_bad_debt:
            return self.credits.bad_debt_kind
        text = (description or "").casefold()
        if any(k.casefold() in text for k in self.credits.dispute_keywords if k.strip()):
            return "dispute"
        code = (atype or "").strip().upper()
        if code in self.credits.atype_kinds:
            return self.credits.atype_kinds[code]
        if self.credits.default_kind is not None:
            return self.credits.default_kind
        shown = f"credit type {atype!r}" if code else "a credit with no credit type (atype)"
        raise MappingMissing("credit_type", atype, f"{shown} has no entry under credits.atype_kinds")

    def credit_item_for(self, credit_kind: str) -> str:
        """The item name for a credit kind."""
        try:
            return self.credits.items[credit_kind]  # type: ignore[index]
        except KeyError:
            raise MappingMissing(
                "credit_kind", credit_kind, f"no item for credit kind {credit_kind!r} under credits.items"
            ) from None

    def payment_method_for(self, method: str | None) -> PaymentMethodRule:
        """The QBO payment method and deposit account for a Rev.io payment method string."""
        key = (method or "").strip().upper()
        if key in self.payment_methods:
            return self.payment_methods[key]
        if "OTHER" in self.payment_methods and not key:
            return self.payment_methods["OTHER"]
        raise MappingMissing(
            "payment_method",
            method,
            f"no mapping for payment method {method!r}; add it under payment_methods",
        )


class MappingConfigError(ValueError):
    """The mapping file cannot be used; the message names the file and every bad key.

    ``issues`` holds one ``(where, message)`` per problem, ``where`` being ``file`` or ``file:line`` (the YAML
    line of the bad key, when the file was read from disk), so each can be shown on one line.
    """

    def __init__(self, message: str, issues: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        where, _, text = message.partition(": ")
        self.issues: list[tuple[str, str]] = issues or [(where, text or message)]


_PATH_PREFIX = re.compile(r"^[A-Za-z_][\w.\[\]]*: ")


def _loc_text(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        where = _loc_text(tuple(p for p in err["loc"] if not str(p).startswith("function-")))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the mapping file format; check the spelling)"
        elif err["type"] == "missing":
            msg = "required key is missing"
        msg = msg.removeprefix("Value error, ")
        if where and _PATH_PREFIX.match(msg):
            lines.append(f"{where}.{msg}")  # a nested validator that already names its own sub-key
        else:
            lines.append(f"{where}: {msg}" if where else msg)
    return lines


def parse_mapping(data: Any, source: str = "<mapping>", text: str | None = None) -> MappingConfig:
    """Validate already-parsed YAML data (``text``: the YAML it came from, to name lines); raises
    ``MappingConfigError``."""
    if not isinstance(data, Mapping):
        raise MappingConfigError(f"{source}: the mapping file must be a YAML mapping of sections")
    try:
        return MappingConfig.model_validate(data)
    except ValidationError as exc:
        problems = [p for line in _describe(exc) for p in line.split("\n  ")]
        lines = _key_lines(text) if text is not None else {}
        issues = []
        for problem in problems:
            line = _line_of(problem.split(":", 1)[0], lines)
            issues.append((f"{source}:{line}" if line else source, problem))
        details = "\n  ".join(f"line {ln.rsplit(':', 1)[1]}: {p}" if ln != source else p for ln, p in issues)
        raise MappingConfigError(f"{source}: invalid mapping file:\n  {details}", issues) from None


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _key_lines(text: str) -> dict[str, int]:
    """``dotted.path[i]`` (case-folded: some sections upper-case their keys) -> 1-based line of that key
    (or list item) in the YAML text."""
    out: dict[str, int] = {}

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = f"{path}.{key.value}" if path else str(key.value)
                out.setdefault(sub.casefold(), key.start_mark.line + 1)
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = f"{path}[{i}]"
                out.setdefault(sub.casefold(), item.start_mark.line + 1)
                walk(item, sub)

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out
    if root is not None:
        walk(root, "")
    return out


def _line_of(path: str, lines: dict[str, int]) -> int | None:
    """The line of ``path`` or of its nearest ancestor present in the file."""
    parts = [m.group(0) for m in _PATH_PART.finditer(path)]
    while parts:
        key = "".join(p if p.startswith("[") or i == 0 else f".{p}" for i, p in enumerate(parts))
        if key.casefold() in lines:
            return lines[key.casefold()]
        parts.pop()
    return None


#: Validated mappings by (source, sha256 of the text): every step of a run asks for the mapping; reading
#: the file is cheap, parsing and validating it is not. The models are frozen, so one instance is shared.
_LOADED: dict[tuple[str, str], MappingConfig] = {}
_LOADED_LOCK = threading.Lock()


def load_mapping(path: str | Path | None = None) -> MappingConfig:
    """Read and validate a mapping file; ``None`` reads the packaged ``mapping/default.yaml``.

    The file is read every time; the same text is parsed and validated once per process.
    """
    if path is None:
        source = "revqb_pipeline/mapping/default.yaml"
        text = resources.files("revqb_pipeline.mapping").joinpath("default.yaml").read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise MappingConfigError(
                f"{source}: cannot read the mapping file: {exc.strerror or exc}"
            ) from None
    key = (source, hashlib.sha256(text.encode()).hexdigest())
    with _LOADED_LOCK:
        hit = _LOADED.get(key)
    if hit is None:
        hit = _parse_text(text, source)
        with _LOADED_LOCK:
            _LOADED[key] = hit
    return hit


def clear_mapping_cache() -> None:
    """Forget every parsed mapping (the next ``load_mapping`` parses its file again)."""
    with _LOADED_LOCK:
        _LOADED.clear()


def _parse_text(text: str, source: str) -> MappingConfig:
    """Parse and validate mapping YAML ``text`` read from ``source``; raises ``MappingConfigError``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        at = f"{source}:{mark.line + 1}" if mark is not None else source
        raise MappingConfigError(
            f"{source}: not valid YAML{where}: {problem}", [(at, f"not valid YAML: {problem}")]
        ) from None
    return parse_mapping(data, source, text)
