"""Customer payloads and matching Rev.io customers to existing QBO customers (pure)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from revqb_pipeline.mapping.config import MappingConfig

DISPLAY_NAME_MAX = 500
NAME_PART_MAX = 100
EMAIL_MAX = 100
PHONE_MAX = 30
NOTES_MAX = 2000
ADDR_LINE_MAX = 500
ADDR_FIELD_MAX = 255
POSTAL_MAX = 30

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"  # local part
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"  # first domain label
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"  # at least one more label
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")
_MARKER_PREFIX = "revio:"

MatchRule = Literal["marker", "email", "display_name"]


def _clean(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value))
    text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text[:limit].rstrip() or None


def clean_display_name(name: str | None, customer_id: int | str | None = None) -> str:
    """A QBO-safe DisplayName: NFC, control characters removed, whitespace collapsed, ``:`` (QBO's
    sub-customer separator) replaced by ``-``, at most 500 characters. Apostrophes, backslashes and
    accents are kept. Empty -> ``"Rev.io customer <id>"``."""
    text = _clean((name or "").replace(":", " - "), DISPLAY_NAME_MAX * 2) or ""
    text = _SPACES.sub(" ", text).strip()
    if not text:
        text = f"Rev.io customer {customer_id}"
    return text[:DISPLAY_NAME_MAX].rstrip()


def valid_email(value: str | None) -> str | None:
    """The trimmed address when it looks like an email QBO accepts (<= 100 chars), else ``None``."""
    text = (value or "").strip()
    if not text or len(text) > EMAIL_MAX or not _EMAIL.match(text):
        return None
    return text


def account_key(row: Mapping[str, Any]) -> str:
    """The Rev.io account key of a ``stg_customers`` row: account_number, else customer_id."""
    return (str(row.get("account_number") or "").strip()) or str(row.get("customer_id"))


def account_marker(row: Mapping[str, Any], cfg: MappingConfig | None = None) -> str:
    """The Notes marker line ``revio:account:<account_number or customer_id>``."""
    prefix = cfg.invoice.customer_notes_marker if cfg else "revio:account:"
    return f"{prefix}{account_key(row)}"


def customer_payload(row: Mapping[str, Any], cfg: MappingConfig) -> dict[str, Any]:
    """A QBO Customer create body from a ``stg_customers`` row.

    Only fields with a value are sent; an invalid email or an over-long phone number is left out (never
    truncated into something wrong). ``Notes`` holds the account marker line.
    """
    payload: dict[str, Any] = {
        "DisplayName": clean_display_name(row.get("display_name"), row.get("customer_id"))
    }
    company = _clean(row.get("company_name"), NAME_PART_MAX)
    if company:
        payload["CompanyName"] = company
    given = _clean(row.get("first_name"), NAME_PART_MAX)
    family = _clean(row.get("last_name"), NAME_PART_MAX)
    if given:
        payload["GivenName"] = given
    if family:
        payload["FamilyName"] = family
    email = valid_email(row.get("email"))
    if email:
        payload["PrimaryEmailAddr"] = {"Address": email}
    phone = _clean(row.get("phone"), PHONE_MAX + 1)
    if phone and len(phone) <= PHONE_MAX:
        payload["PrimaryPhone"] = {"FreeFormNumber": phone}
    addr: dict[str, str] = {}
    for key, col, limit in (
        ("Line1", "bill_line1", ADDR_LINE_MAX),
        ("Line2", "bill_line2", ADDR_LINE_MAX),
        ("City", "bill_city", ADDR_FIELD_MAX),
        ("CountrySubDivisionCode", "bill_state", ADDR_FIELD_MAX),
        ("PostalCode", "bill_postal_code", POSTAL_MAX),
    ):
        value = _clean(row.get(col), limit)
        if value:
            addr[key] = value
    country = _clean(row.get("bill_country"), ADDR_FIELD_MAX)
    if country:
        addr["Country"] = cfg.customers.country_codes.get(country.upper(), country)
    if addr:
        payload["BillAddr"] = addr
    payload["Notes"] = account_marker(row, cfg)
    return payload


# ----- matching -------------------------------------------------------------------------------------


def _markers_in(notes: str | None, prefix: str) -> list[str]:
    out = []
    for line in (notes or "").splitlines():
        line = line.strip()
        if line.startswith(prefix) and len(line) > len(prefix):
            out.append(line[len(prefix) :].strip())
    return out


def _sort_key(c: Mapping[str, Any]) -> tuple[int, int, str]:
    """Active before inactive, then lowest numeric Id: a stable choice when several customers qualify."""
    ident = str(c.get("Id", ""))
    return (0 if c.get("Active", True) is not False else 1, int(ident) if ident.isdigit() else 1 << 62, ident)


@dataclass
class CustomerIndex:
    """Existing QBO customers (active and inactive) indexed by account marker, email and DisplayName."""

    by_marker: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_email: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_name: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    marker_prefix: str = "revio:account:"

    @classmethod
    def from_qbo(
        cls, customers: Iterable[Mapping[str, Any]], marker_prefix: str = "revio:account:"
    ) -> CustomerIndex:
        index = cls(marker_prefix=marker_prefix)
        for cust in sorted((dict(c) for c in customers), key=_sort_key):
            for marker in _markers_in(cust.get("Notes"), marker_prefix):
                index.by_marker.setdefault(marker, []).append(cust)
            email = ((cust.get("PrimaryEmailAddr") or {}).get("Address") or "").strip().lower()
            if email:
                index.by_email.setdefault(email, []).append(cust)
            name = (cust.get("DisplayName") or "").strip().casefold()
            if name:
                index.by_name.setdefault(name, []).append(cust)
        return index

    def names(self) -> set[str]:
        """Every DisplayName in the index, case-folded (for collision checks)."""
        return set(self.by_name)


@dataclass(frozen=True)
class CustomerMatch:
    """An existing QBO customer and the rule that linked it."""

    rule: MatchRule
    qbo_id: str
    sync_token: str | None
    customer: dict[str, Any]


def match_customer(
    row: Mapping[str, Any], index: CustomerIndex, cfg: MappingConfig | None = None
) -> CustomerMatch | None:
    """Find the QBO customer for a ``stg_customers`` row: account marker in Notes, then email (only when
    exactly one QBO customer has it), then exact DisplayName ignoring case. ``cfg.customers`` can turn the
    email / name fallbacks off."""
    found = index.by_marker.get(account_key(row))
    if found:
        return _match("marker", found[0])
    if cfg is None or cfg.customers.match_by_email:
        email = valid_email(row.get("email"))
        hits = index.by_email.get(email.lower()) if email else None
        if hits and len(hits) == 1:
            return _match("email", hits[0])
    if cfg is None or cfg.customers.match_by_display_name:
        name = clean_display_name(row.get("display_name"), row.get("customer_id")).casefold()
        hits = index.by_name.get(name)
        if hits:
            return _match("display_name", hits[0])
    return None


def _match(rule: MatchRule, cust: dict[str, Any]) -> CustomerMatch:
    token = cust.get("SyncToken")
    return CustomerMatch(rule, str(cust.get("Id")), None if token is None else str(token), cust)


def resolve_display_name_collision(name: str, customer_id: int | str, taken: set[str]) -> str:
    """``name`` if no other QBO name list record uses it (case-insensitive), else a deterministic variant
    ``"<name> (Rev.io <customer_id>)"`` (then ``... (Rev.io <id>-2)`` ...), always <= 500 characters."""
    folded = {t.casefold() for t in taken}
    if name.casefold() not in folded:
        return name
    n = 1
    while True:
        suffix = f" (Rev.io {customer_id})" if n == 1 else f" (Rev.io {customer_id}-{n})"
        candidate = name[: DISPLAY_NAME_MAX - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in folded:
            return candidate
        n += 1


# ----- updates --------------------------------------------------------------------------------------


def _line_key(line: str) -> str | None:
    """The managed-line key of a ``revio:<kind>:<value>`` line (``revio:<kind>:``), else None."""
    if not line.startswith(_MARKER_PREFIX):
        return None
    head, sep, _ = line[len(_MARKER_PREFIX) :].partition(":")
    return f"{_MARKER_PREFIX}{head}:" if sep else None


def merge_notes(existing: str | None, desired: str | None) -> str:
    """Existing notes with each desired ``revio:<kind>:`` line put in place of the existing line of the same
    kind (others of that kind dropped); desired lines not yet present go first. Every other line is kept.
    Over 2000 characters, the non-``revio:`` lines are trimmed from the end."""
    managed = [ln.strip() for ln in (desired or "").splitlines() if ln.strip()]
    by_key = {(_line_key(ln) or ln): ln for ln in managed}
    placed: set[str] = set()
    lines: list[str] = []
    for ln in (existing or "").replace("\r\n", "\n").split("\n"):
        key = _line_key(ln.strip()) or ln.strip()
        if key in by_key:
            if key not in placed:
                lines.append(by_key[key])
                placed.add(key)
            continue
        lines.append(ln)
    lines = [by_key[k] for k in by_key if k not in placed] + lines
    while lines and not lines[-1].strip():
        lines.pop()
    text = "\n".join(lines)
    if len(text) > NOTES_MAX:
        keys = set(by_key)
        others = [ln for ln in lines if (_line_key(ln.strip()) or ln.strip()) not in keys]
        text = "\n".join([*managed, *others])[:NOTES_MAX].rstrip()
    return text


def _norm(value: Any) -> str:
    return "" if value is None else str(value).strip()


def customer_update_payload(
    existing_qbo: Mapping[str, Any], desired: Mapping[str, Any]
) -> dict[str, Any] | None:
    """A sparse update (Id, SyncToken, ``sparse: true`` + changed fields) bringing ``existing_qbo`` to
    ``desired`` (a ``customer_payload``), or ``None`` when nothing changed.

    Fields absent from ``desired`` are never cleared. Notes keep every non-``revio:`` line of the
    existing notes and always carry the account marker. Email compares case-insensitively; a changed
    BillAddr is sent whole.
    """
    changes: dict[str, Any] = {}
    for key in ("DisplayName", "CompanyName", "GivenName", "FamilyName"):
        if key in desired and _norm(desired[key]) != _norm(existing_qbo.get(key)):
            changes[key] = desired[key]
    if "PrimaryEmailAddr" in desired:
        want = _norm(desired["PrimaryEmailAddr"].get("Address")).lower()
        have = _norm((existing_qbo.get("PrimaryEmailAddr") or {}).get("Address")).lower()
        if want != have:
            changes["PrimaryEmailAddr"] = desired["PrimaryEmailAddr"]
    if "PrimaryPhone" in desired:
        want = _norm(desired["PrimaryPhone"].get("FreeFormNumber"))
        if want != _norm((existing_qbo.get("PrimaryPhone") or {}).get("FreeFormNumber")):
            changes["PrimaryPhone"] = desired["PrimaryPhone"]
    if "BillAddr" in desired:
        have_addr = existing_qbo.get("BillAddr") or {}
        if any(_norm(v) != _norm(have_addr.get(k)) for k, v in desired["BillAddr"].items()):
            changes["BillAddr"] = desired["BillAddr"]
    if "Notes" in desired:
        merged = merge_notes(existing_qbo.get("Notes"), desired["Notes"])
        if merged != (existing_qbo.get("Notes") or "").replace("\r\n", "\n"):
            changes["Notes"] = merged
    if "Active" in desired and bool(desired["Active"]) != bool(existing_qbo.get("Active", True)):
        changes["Active"] = desired["Active"]
    if not changes:
        return None
    return {
        "Id": str(existing_qbo["Id"]),
        "SyncToken": str(existing_qbo.get("SyncToken", "0")),
        "sparse": True,
        **changes,
    }
