"""The month-end revenue-recognition JournalEntry (pure: no I/O).

Accounting. Every Rev.io invoice already credits the full (tax-excluded) charge to the kind's revenue
account on its bill date (Dr A/R, Cr revenue). For a kind configured ``deferred: true`` the month-end entry
then corrects revenue to what was *earned* in the month (see :mod:`revqb_pipeline.entities.journals.revenue`):

- the part of this month's billings earned in later months moves to the liability:
  ``Dr revenue / Cr deferred revenue``;
- the part of earlier billings earned this month is released: ``Dr deferred revenue / Cr revenue``.

Both movements of a category are netted per account, so each category contributes two lines of
``|change in deferred balance|``: ``Dr revenue / Cr deferred`` when the balance grew, ``Dr deferred /
Cr revenue`` when it shrank. After the entry, revenue for the month = recognized revenue and the deferred
account's balance = billed but not yet earned. A month in which no deferred balance changes has no entry
(:func:`journal_payload` returns None). Kinds that are not deferred never appear: their invoices are final.

Entry: ``DocNumber = cfg.revenue.journal_doc_number_prefix + "YYYY-MM"`` (the business key), ``TxnDate`` =
last day of the month, every ``Amount`` positive with ``PostingType`` Debit/Credit, optional ``ClassRef``
(``cfg.revenue.journal_class``) on every line. Account and class references are symbolic
(``account:<name>``, ``class:<name>``) until :func:`resolve_journal_refs` swaps in QBO ids.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from revqb_pipeline.entities.journals.revenue import Month, MonthRevenue
from revqb_pipeline.mapping.config import RevenueConfig
from revqb_pipeline.money import from_cents, to_cents

ENTITY = "JournalEntry"
SOURCE_TYPE = "journal"
ACCOUNT_PREFIX = "account:"
CLASS_PREFIX = "class:"
DOC_NUMBER_MAX = 21
LABELS = {"recurring": "Recurring (MRC)", "usage": "Usage", "one_time": "One-time (NRC)"}

PostingType = Literal["Debit", "Credit"]


@dataclass(frozen=True)
class JournalLine:
    """One line of the entry, before it becomes QBO JSON."""

    category: str
    account: str
    posting_type: PostingType
    amount_cents: int
    description: str


def doc_number(cfg: RevenueConfig, month: Month) -> str:
    """``REVREC-YYYY-MM`` (the configured prefix); at most 21 characters."""
    text = f"{cfg.journal_doc_number_prefix}{month.key}"
    if len(text) > DOC_NUMBER_MAX:
        raise ValueError(f"journal DocNumber {text!r} is longer than {DOC_NUMBER_MAX} characters")
    return text


def journal_lines(summary: MonthRevenue) -> list[JournalLine]:
    """Two lines per category whose deferred balance changed (netted per account), debit first."""
    lines: list[JournalLine] = []
    for c in summary.categories:
        change = c.deferred_change_cents
        if change == 0:
            continue
        if c.deferred_account is None:
            raise ValueError(f"{c.category}: deferred balance changed but no deferred_account is configured")
        label = LABELS.get(c.category, c.category)
        description = (
            f"{label} revenue recognition {summary.month.key}: deferred "
            f"{from_cents(c.deferred_from_billings_cents)} of this month's billings, released "
            f"{from_cents(c.released_cents)} of earlier billings"
        )
        debit, credit = (c.account, c.deferred_account) if change > 0 else (c.deferred_account, c.account)
        lines.append(JournalLine(c.category, debit, "Debit", abs(change), description))
        lines.append(JournalLine(c.category, credit, "Credit", abs(change), description))
    return lines


def journal_payload(summary: MonthRevenue, cfg: RevenueConfig) -> dict[str, Any] | None:
    """The JournalEntry body for the month (symbolic refs), or None when there is nothing to post."""
    lines = journal_lines(summary)
    if not lines:
        return None
    class_ref = {"value": f"{CLASS_PREFIX}{cfg.journal_class}"} if cfg.journal_class else None
    body_lines = []
    for line in lines:
        detail: dict[str, Any] = {
            "PostingType": line.posting_type,
            "AccountRef": {"value": f"{ACCOUNT_PREFIX}{line.account}"},
        }
        if class_ref is not None:
            detail["ClassRef"] = dict(class_ref)
        body_lines.append(
            {
                "DetailType": "JournalEntryLineDetail",
                "Amount": from_cents(line.amount_cents),
                "Description": line.description,
                "JournalEntryLineDetail": detail,
            }
        )
    return {
        "DocNumber": doc_number(cfg, summary.month),
        "TxnDate": summary.month.last_day.isoformat(),
        "PrivateNote": f"revqb: Rev.io revenue recognition for {summary.month.key} (deferred revenue)",
        "Line": body_lines,
    }


def resolve_journal_refs(
    payload: Mapping[str, Any], accounts: Mapping[str, str], classes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``payload`` with ``account:<name>`` / ``class:<name>`` swapped for QBO ids (KeyError if unknown)."""
    out = copy.deepcopy(dict(payload))
    for line in out.get("Line", []):
        detail = line.get("JournalEntryLineDetail") or {}
        for key, prefix, table, noun in (
            ("AccountRef", ACCOUNT_PREFIX, accounts, "account"),
            ("ClassRef", CLASS_PREFIX, classes or {}, "class"),
        ):
            ref = detail.get(key)
            value = str((ref or {}).get("value", ""))
            if value.startswith(prefix):
                name = value[len(prefix) :]
                if name not in table:
                    raise KeyError(f"QBO {noun} {name!r} is not known (is it in the mapping file?)")
                ref["value"] = table[name]
    return out


def _cents(value: Any) -> int:
    return to_cents(Decimal(str(value))) if value not in (None, "") else 0


def _ref(value: Any) -> str | None:
    return str(value.get("value")) if isinstance(value, Mapping) and value.get("value") is not None else None


def _lines_of(entity: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """Comparable lines: (description, cents, posting type, account id, class id); server fields ignored."""
    out = []
    for line in entity.get("Line") or []:
        if line.get("DetailType") != "JournalEntryLineDetail":
            continue
        detail = line.get("JournalEntryLineDetail") or {}
        out.append(
            (
                line.get("Description") or None,
                _cents(line.get("Amount")),
                detail.get("PostingType"),
                _ref(detail.get("AccountRef")),
                _ref(detail.get("ClassRef")),
            )
        )
    return out


def journal_update_payload(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """A sparse update (Id, SyncToken, ``sparse: true``, changed header fields, ``Line`` replaced wholesale
    when any line differs), or None when the entry in QBO already equals ``desired``."""
    changes: dict[str, Any] = {}
    for key in ("DocNumber", "TxnDate", "PrivateNote"):
        if key in desired and (desired[key] or None) != (existing.get(key) or None):
            changes[key] = desired[key]
    if _lines_of(desired) != _lines_of(existing):
        changes["Line"] = desired["Line"]
    if not changes:
        return None
    return {
        "Id": str(existing["Id"]),
        "SyncToken": str(existing.get("SyncToken", "0")),
        "sparse": True,
        **changes,
    }


def net_debits_by_account(entity: Mapping[str, Any]) -> dict[str, int]:
    """Debits minus credits per AccountRef value, in cents (zero nets omitted)."""
    nets: dict[str, int] = {}
    for _desc, cents, posting, account, _cls in _lines_of(entity):
        sign = 1 if posting == "Debit" else -1
        nets[str(account)] = nets.get(str(account), 0) + sign * cents
    return {k: v for k, v in nets.items() if v}


def debit_total_cents(entity: Mapping[str, Any]) -> int:
    """Σ of the entry's debit lines, in cents."""
    return sum(cents for _desc, cents, posting, _acct, _cls in _lines_of(entity) if posting == "Debit")


def expected_net_debits(
    summary: MonthRevenue, account_ref: Mapping[str, str] | None = None
) -> dict[str, int]:
    """What :func:`net_debits_by_account` must give for ``summary`` (keys: ``account:<name>`` or QBO ids)."""
    nets: dict[str, int] = {}

    def key(name: str) -> str:
        return account_ref[name] if account_ref is not None else f"{ACCOUNT_PREFIX}{name}"

    for c in summary.categories:
        change = c.deferred_change_cents
        if change == 0 or c.deferred_account is None:
            continue
        nets[key(c.account)] = nets.get(key(c.account), 0) + change
        nets[key(c.deferred_account)] = nets.get(key(c.deferred_account), 0) - change
    return {k: v for k, v in nets.items() if v}
