"""QuickBooks drift, pure: what a person changed in a document revqb posted (no I/O).

``compare(entity, posted, current, ids)`` sets the staged payload revqb posted (symbolic references such as
``revio-customer:12`` resolved through ``ids``) beside the QBO document as it is now and lists the fields
revqb maps that differ, each with what revqb posted and what QBO holds. Money compares exactly as Decimal
(``100`` == ``100.00``). Fields revqb does not map (Notes, Balance, MetaData, line ids, ...) and references
to reference data (items, accounts, payment methods: their symbols are not in ``ids``) are not compared.

Kinds: ``deleted`` (CDC's ``status: Deleted`` stub, or no document), ``voided`` (QBO prefixes "Voided" to
the PrivateNote and zeroes the amounts), else ``changed``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from revqb_pipeline.money import MoneyError, to_decimal

DriftKind = Literal["changed", "voided", "deleted"]
#: The QBO entities whose drift revqb detects (the documents it posts).
DRIFT_ENTITIES: tuple[str, ...] = ("Customer", "Invoice", "Payment", "CreditMemo", "JournalEntry")
#: Line detail types QBO computes itself (never posted by revqb).
_SERVER_LINES = frozenset({"SubTotalLineDetail"})


@dataclass(frozen=True)
class FieldChange:
    """One mapped field: what revqb posted (``posted``) and what QBO holds now (``current``)."""

    field: str
    posted: str | None
    current: str | None


@dataclass(frozen=True)
class DriftFinding:
    """A document that no longer matches what revqb posted."""

    kind: DriftKind
    changes: tuple[FieldChange, ...]

    def fingerprint(self, qbo_entity: str, qbo_id: str) -> str:
        """Stable id of this exact drift (same document, kind and changes): the same drift seen twice, by a
        webhook and by CDC, is recorded once."""
        raw = json.dumps(
            [qbo_entity, qbo_id, self.kind, [[c.field, c.posted, c.current] for c in self.changes]],
            separators=(",", ":"),
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def summary(self) -> str:
        """``TotalAmt 120.00 -> 0.00; PrivateNote ...`` (or the kind alone)."""
        parts = [f"{c.field} {_show(c.posted)} -> {_show(c.current)}" for c in self.changes]
        return "; ".join(parts) if parts else self.kind


def _show(value: str | None) -> str:
    return "(none)" if value is None else repr(value) if not _is_number(value) else value


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


# ----- value readers -------------------------------------------------------------------------------------


def money_text(value: Any) -> str | None:
    """An amount as exact text with at least two places (``5`` -> ``5.00``); None when absent."""
    if value is None or value == "":
        return None
    try:
        d = to_decimal(value)
    except MoneyError:
        return str(value)
    places = max(2, -int(d.as_tuple().exponent))
    return f"{d:.{places}f}"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _ref(value: Any, ids: Mapping[str, str]) -> tuple[str | None, bool]:
    """(QBO id, comparable) of a reference ``{"value": ...}`` or a bare id; a symbol not in ``ids``
    (reference data, or a record not synced) is not comparable."""
    raw = value.get("value") if isinstance(value, Mapping) else value
    if raw is None:
        return None, True
    text = str(raw)
    if ":" in text and not text.isdigit():
        return ids.get(text), text in ids
    return text, True


def is_deleted(current: Mapping[str, Any] | None) -> bool:
    """CDC's ``{"status": "Deleted"}`` stub, or no document at all."""
    return current is None or str(current.get("status", "")).lower() == "deleted"


def is_voided(current: Mapping[str, Any]) -> bool:
    """QBO's mark of a voided transaction: "Voided" at the start of its PrivateNote."""
    return str(current.get("PrivateNote") or "").startswith("Voided")


def posted_total(payload: Mapping[str, Any]) -> Decimal | None:
    """The document total revqb posted: ``TotalAmt``; else its lines plus ``TxnTaxDetail.TotalTax``; a
    journal entry: its debits."""
    try:
        if payload.get("TotalAmt") is not None:
            return to_decimal(payload["TotalAmt"])
        lines = [ln for ln in payload.get("Line") or [] if ln.get("DetailType") not in _SERVER_LINES]
        debits = [
            ln for ln in lines if (ln.get("JournalEntryLineDetail") or {}).get("PostingType") == "Debit"
        ]
        total = sum((to_decimal(ln.get("Amount") or 0) for ln in debits or lines), Decimal(0))
        tax = (payload.get("TxnTaxDetail") or {}).get("TotalTax")
        return total + (to_decimal(tax) if tax is not None and not debits else 0)
    except MoneyError:
        return None


def _same_money(a: Any, b: Any) -> bool:
    try:
        return to_decimal(a if a not in (None, "") else 0) == to_decimal(b if b not in (None, "") else 0)
    except MoneyError:
        return str(a) == str(b)


# ----- per entity -----------------------------------------------------------------------------------------


def _header(
    out: list[FieldChange], posted: Mapping[str, Any], current: Mapping[str, Any], keys: tuple[str, ...]
) -> None:
    for key in keys:
        if key in posted and _text(posted[key]) != _text(current.get(key)):
            out.append(FieldChange(key, _text(posted[key]), _text(current.get(key))))


def _refs(
    out: list[FieldChange],
    posted: Mapping[str, Any],
    current: Mapping[str, Any],
    keys: tuple[str, ...],
    ids: Mapping[str, str],
) -> None:
    for key in keys:
        if key not in posted:
            continue
        want, comparable = _ref(posted[key], ids)
        have, _ = _ref(current.get(key), {})
        if comparable and want != have:
            out.append(FieldChange(key, want, have))


def _total(out: list[FieldChange], posted: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    want = posted_total(posted)
    have = current.get("TotalAmt")
    if want is not None and not _same_money(want, have):
        out.append(FieldChange("TotalAmt", money_text(want), money_text(have)))


def _doc_lines(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [ln for ln in doc.get("Line") or [] if ln.get("DetailType") not in _SERVER_LINES]


def _line_amounts(
    out: list[FieldChange], posted: Mapping[str, Any], current: Mapping[str, Any], ids: Mapping[str, str]
) -> None:
    """Line amounts in order (and a line's item / posting type where it can be compared)."""
    want, have = _doc_lines(posted), _doc_lines(current)
    if len(want) != len(have):
        out.append(FieldChange("Line (count)", str(len(want)), str(len(have))))
    for n in range(max(len(want), len(have))):
        a = want[n] if n < len(want) else {}
        b = have[n] if n < len(have) else {}
        if not _same_money(a.get("Amount"), b.get("Amount")):
            out.append(
                FieldChange(f"Line[{n + 1}].Amount", money_text(a.get("Amount")), money_text(b.get("Amount")))
            )
        for detail_key, ref_key in (
            ("SalesItemLineDetail", "ItemRef"),
            ("JournalEntryLineDetail", "AccountRef"),
        ):
            da, db = a.get(detail_key) or {}, b.get(detail_key) or {}
            if ref_key in da:
                wanted, comparable = _ref(da[ref_key], ids)
                got, _ = _ref(db.get(ref_key), {})
                if comparable and wanted != got:
                    out.append(FieldChange(f"Line[{n + 1}].{ref_key}", wanted, got))
        pa = (a.get("JournalEntryLineDetail") or {}).get("PostingType")
        pb = (b.get("JournalEntryLineDetail") or {}).get("PostingType")
        if pa and pa != pb:
            out.append(FieldChange(f"Line[{n + 1}].PostingType", pa, pb))


def _links(doc: Mapping[str, Any], ids: Mapping[str, str] | None) -> list[str] | None:
    """A payment's applications as sorted ``Invoice 12: 50.00`` texts; None when one cannot be resolved."""
    out: list[str] = []
    for line in doc.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            txn_id, comparable = _ref(link.get("TxnId"), ids or {})
            if not comparable:
                return None
            out.append(f"{link.get('TxnType')} {txn_id}: {money_text(line.get('Amount'))}")
    return sorted(out)


def _applied(
    out: list[FieldChange], posted: Mapping[str, Any], current: Mapping[str, Any], ids: Mapping[str, str]
) -> None:
    want, have = _links(posted, ids), _links(current, None)
    if want is not None and want != have:
        out.append(FieldChange("LinkedTxn", ", ".join(want) or None, ", ".join(have or []) or None))


def _customer(out: list[FieldChange], posted: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    name = _text(posted.get("DisplayName"))
    have = _text(current.get("DisplayName"))
    # a 6240 collision made revqb post "<name> (Rev.io <id>)": that is still revqb's name
    if name != have and not (name and have and have.startswith(f"{name} (Rev.io ")):
        out.append(FieldChange("DisplayName", name, have))
    _header(out, posted, current, ("CompanyName", "GivenName", "FamilyName"))
    for key, inner in (("PrimaryEmailAddr", "Address"), ("PrimaryPhone", "FreeFormNumber")):
        if key in posted:
            want = _text((posted.get(key) or {}).get(inner))
            got = _text((current.get(key) or {}).get(inner))
            if want != got:
                out.append(FieldChange(f"{key}.{inner}", want, got))
    if "BillAddr" in posted:
        want_addr, got_addr = posted.get("BillAddr") or {}, current.get("BillAddr") or {}
        for inner in ("Line1", "Line2", "City", "CountrySubDivisionCode", "PostalCode", "Country"):
            if _text(want_addr.get(inner)) != _text(got_addr.get(inner)):
                out.append(
                    FieldChange(f"BillAddr.{inner}", _text(want_addr.get(inner)), _text(got_addr.get(inner)))
                )


def changed_fields(
    entity: str, posted: Mapping[str, Any], current: Mapping[str, Any], ids: Mapping[str, str]
) -> list[FieldChange]:
    """The mapped fields of ``entity`` whose value in ``current`` differs from ``posted``."""
    out: list[FieldChange] = []
    if entity == "Customer":
        _customer(out, posted, current)
        return out
    _header(out, posted, current, ("DocNumber", "TxnDate", "DueDate"))
    _refs(out, posted, current, ("CustomerRef",), ids)
    if entity == "Payment":
        _total(out, posted, current)
        _applied(out, posted, current, ids)
        return out
    if entity != "JournalEntry":
        _total(out, posted, current)
        if "TxnTaxDetail" in posted:
            want = (posted.get("TxnTaxDetail") or {}).get("TotalTax")
            have = (current.get("TxnTaxDetail") or {}).get("TotalTax")
            if not _same_money(want, have):
                out.append(FieldChange("TxnTaxDetail.TotalTax", money_text(want), money_text(have)))
    _line_amounts(out, posted, current, ids)
    return out


def compare(
    entity: str,
    posted: Mapping[str, Any],
    current: Mapping[str, Any] | None,
    ids: Mapping[str, str],
) -> DriftFinding | None:
    """The drift of one document revqb posted, or None when QBO still holds what revqb posted.

    ``posted``: the staged payload (a QBO body, symbolic references allowed); ``current``: the document
    now (None or a ``Deleted`` stub when it is gone); ``ids``: symbol -> QBO id of the ledger-backed
    references (``revio-customer:<id>``, ``revio-bill:<id>``, ``revio-credit:<id>``).
    """
    if is_deleted(current):
        total = posted_total(posted)
        changes = (FieldChange("Id", "present", None),)
        if total is not None and entity != "Customer":
            changes += (FieldChange("TotalAmt", money_text(total), None),)
        return DriftFinding("deleted", changes)
    assert current is not None
    changes = changed_fields(entity, posted, current, ids)
    if entity != "Customer" and is_voided(current):
        return DriftFinding("voided", (FieldChange("PrivateNote", _text(posted.get("PrivateNote")),
                                                   _text(current.get("PrivateNote"))), *changes))  # fmt: skip
    return DriftFinding("changed", tuple(changes)) if changes else None


def symbols_in(payload: Mapping[str, Any]) -> list[str]:
    """The ledger-backed symbolic references of a staged payload (``revio-...:<id>``), to resolve."""
    out: list[str] = []

    def add(value: Any) -> None:
        raw = value.get("value") if isinstance(value, Mapping) else value
        if isinstance(raw, str) and raw.startswith("revio-"):
            out.append(raw)

    add(payload.get("CustomerRef"))
    for line in payload.get("Line") or []:
        for link in line.get("LinkedTxn") or []:
            add(link.get("TxnId"))
    return out


def posted_body(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The QBO body of a staged payload: payments and credits stage ``{"decision", "body", ...}``; a
    decision without a body (void, fold, wait, reject) posted nothing of its own."""
    if "decision" in payload and "body" in payload:
        body = payload.get("body")
        return body if isinstance(body, Mapping) and body else None
    return payload
