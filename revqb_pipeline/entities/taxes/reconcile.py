"""Tax reconciliation: per liability account and jurisdiction (state), QBO's invoice taxes equal Rev.io's.

Rev.io side (read through its API): Σ charge ``tax_amount`` of every staged, non-reversed bill, keyed by the
mapping's tax rule for the charge's tax class + state (``taxes.mode: lines`` -> the rule's liability account;
``total_tax_override`` -> ``TotalTax``), state from the charge's geocode.

QBO side: per invoice (DocNumber = prefix + bill id), the lines whose item posts to a liability account in
QBO (Item.IncomeAccountRef -> Account.AccountType), by account, plus ``TxnTaxDetail.TotalTax`` as
``TotalTax``. QBO lines carry no state, so a bill's QBO amount for an account takes Rev.io's state split
when the bill agrees for that account, the bill's only state otherwise, or ``mixed`` (a visible
difference). Every bill is compared per account first, so the jurisdiction totals agree only if every
bill does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE as BILL_SOURCE_TYPE
from revqb_pipeline.mapping.checks import jurisdiction_or_unknown
from revqb_pipeline.mapping.config import LIABILITY_TYPES, MappingConfig
from revqb_pipeline.mapping.errors import RecordError
from revqb_pipeline.money import from_cents, to_cents
from revqb_pipeline.sync.reconcile import AMOUNT, MISSING_IN_QBO, OTHER, Difference, EntityReconciliation
from revqb_pipeline.sync.runtime import Runtime

TOTAL_TAX = "TotalTax"
Bucket = tuple[str, str]  # (liability account or TotalTax, state)


def _cents(value: Any) -> int:
    return to_cents(value) if value not in (None, "") else 0


@dataclass
class TaxReconciliation(EntityReconciliation):
    """``EntityReconciliation`` plus the totals per (liability account, state) on both sides, in cents."""

    revio_buckets: dict[Bucket, int] = field(default_factory=dict)
    qbo_buckets: dict[Bucket, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out.pop("revio_buckets", None)
        out.pop("qbo_buckets", None)
        keys = sorted(set(self.revio_buckets) | set(self.qbo_buckets))
        out["by_account_and_state"] = [
            {
                "account": acct,
                "state": state,
                "revio": str(from_cents(self.revio_buckets.get((acct, state), 0))),
                "qbo": str(from_cents(self.qbo_buckets.get((acct, state), 0))),
            }
            for acct, state in keys
        ]
        return out


def revio_bill_taxes(
    charges: Iterable[Mapping[str, Any]], cfg: MappingConfig
) -> tuple[dict[int, Counter[Bucket]], list[str]]:
    """Per bill, Rev.io tax cents by (account, state) from raw Rev.io charges; plus unmappable charges."""
    out: dict[int, Counter[Bucket]] = defaultdict(Counter)
    problems: list[str] = []
    for ch in charges:
        tax = _cents(ch.get("tax_amount"))
        if not tax or ch.get("bill_id") in (None, 0):
            continue
        state = jurisdiction_or_unknown(ch.get("geocode"))
        account = TOTAL_TAX
        if cfg.taxes.mode == "lines":
            try:
                account = cfg.tax_rule_for(ch.get("tax_class_id"), ch.get("geocode")).liability_account
            except RecordError as exc:
                account = f"(unmapped tax class {ch.get('tax_class_id')})"
                problems.append(f"charge {ch.get('charge_id')} (bill {ch.get('bill_id')}): {exc.reason}")
        out[int(ch["bill_id"])][(account, state)] += tax
    return dict(out), problems


def qbo_invoice_taxes(
    invoice: Mapping[str, Any], item_accounts: Mapping[str, tuple[str, str]]
) -> Counter[str]:
    """Tax cents of one QBO invoice by liability account (lines whose item posts to a liability account) and
    ``TotalTax``. ``item_accounts``: QBO item id -> (income account name, account type)."""
    out: Counter[str] = Counter()
    for line in invoice.get("Line") or []:
        if line.get("DetailType") != "SalesItemLineDetail":
            continue
        ref = (line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}
        account, kind = item_accounts.get(str(ref.get("value")), ("", ""))
        if kind in LIABILITY_TYPES:
            out[account] += _cents(line.get("Amount"))
    total_tax = _cents((invoice.get("TxnTaxDetail") or {}).get("TotalTax"))
    if total_tax:
        out[TOTAL_TAX] += total_tax
    return out


def attribute_states(revio: Counter[Bucket], qbo: Counter[str]) -> Counter[Bucket]:
    """One bill's QBO amounts by (account, state), using the bill's Rev.io state split (see module doc)."""
    out: Counter[Bucket] = Counter()
    states = sorted({s for _, s in revio})
    for account, cents in qbo.items():
        mine = {s: c for (a, s), c in revio.items() if a == account}
        if sum(mine.values()) == cents:
            for state, c in mine.items():
                out[(account, state)] += c
        elif len(states) == 1:
            out[(account, states[0])] += cents
        else:
            out[(account, "mixed")] += cents
    return out


def compare_taxes(
    revio_by_bill: Mapping[int, Counter[Bucket]],
    qbo_by_bill: Mapping[int, Counter[str] | None],
    reasons: Mapping[int, str] | None = None,
) -> TaxReconciliation:
    """Per-bill and per-(account, state) comparison. ``qbo_by_bill[bill] is None``: no QBO invoice."""
    rec = TaxReconciliation("taxes")
    revio_total: Counter[Bucket] = Counter()
    qbo_total: Counter[Bucket] = Counter()
    for bill_id in sorted(set(revio_by_bill) | set(qbo_by_bill)):
        revio = revio_by_bill.get(bill_id, Counter())
        qbo = qbo_by_bill.get(bill_id)
        revio_total.update(revio)
        if sum(revio.values()):
            rec.revio_count += 1
        if qbo is None:
            if sum(revio.values()):
                why = (reasons or {}).get(bill_id, "never synced")
                rec.differ(
                    MISSING_IN_QBO,
                    f"bill {bill_id}",
                    f"bill {bill_id}: Rev.io tax {from_cents(sum(revio.values()))} "
                    f"but no QBO invoice ({why})",
                    revio_cents=sum(revio.values()),
                )
            continue
        if sum(qbo.values()):
            rec.qbo_count += 1
        qbo_total.update(attribute_states(revio, qbo))
        by_account: Counter[str] = Counter()
        for (account, _), cents in revio.items():
            by_account[account] += cents
        for account in sorted(set(by_account) | set(qbo)):
            if by_account.get(account, 0) != qbo.get(account, 0):
                rec.differ(
                    AMOUNT,
                    f"bill {bill_id}",
                    f"bill {bill_id}: {account}: Rev.io {from_cents(by_account.get(account, 0))} vs "
                    f"QBO {from_cents(qbo.get(account, 0))}",
                    revio_cents=by_account.get(account, 0),
                    qbo_cents=qbo.get(account, 0),
                    qbo_document=account,
                )
    for key in sorted(set(revio_total) | set(qbo_total)):
        r, q = revio_total.get(key, 0), qbo_total.get(key, 0)
        if r != q:
            rec.differ(
                AMOUNT,
                f"{key[0]} / {key[1]}",
                f"{key[0]} / {key[1]}: Rev.io {from_cents(r)} vs QBO {from_cents(q)}",
                revio_cents=r,
                qbo_cents=q,
            )
    rec.revio_buckets = {k: v for k, v in sorted(revio_total.items()) if v}
    rec.qbo_buckets = {k: v for k, v in sorted(qbo_total.items()) if v}
    rec.revio_total_cents = sum(revio_total.values())
    rec.qbo_total_cents = sum(qbo_total.values())
    return rec


def qbo_item_accounts(rt: Runtime) -> dict[str, tuple[str, str]]:
    """QBO item id -> (income account name, account type), inactive ones included."""
    accounts = {
        str(a["Id"]): (str(a.get("Name", "")), str(a.get("AccountType", "")))
        for a in rt.qbo.query_all("Account", where="Active IN (true, false)")
    }
    out: dict[str, tuple[str, str]] = {}
    for item in rt.qbo.query_all("Item", where="Active IN (true, false)"):
        ref = item.get("IncomeAccountRef") or {}
        out[str(item["Id"])] = accounts.get(str(ref.get("value")), ("", ""))
    return out


def reconcile_taxes(rt: Runtime) -> TaxReconciliation:
    """Rev.io charge taxes vs QBO invoice taxes, per bill and per (liability account, state), to the cent."""
    cfg = rt.mapping
    prefix = cfg.invoice.doc_number_prefix
    staged = {int(b["bill_id"]): b for b in rt.store.rows("stg_bills") if not b.get("is_reversed")}
    charges = [c for c in rt.revio.iter_records("Charges") if c.get("bill_id") in staged]
    revio_by_bill, problems = revio_bill_taxes(charges, cfg)
    invoices: dict[int, dict[str, Any]] = {}
    for inv in rt.qbo.query_all("Invoice", where=f"DocNumber LIKE '{prefix}%'"):
        tail = str(inv.get("DocNumber", ""))[len(prefix) :]
        if tail.isdigit() and int(tail) in staged:
            invoices[int(tail)] = inv
    item_accounts = qbo_item_accounts(rt)
    qbo_by_bill: dict[int, Counter[str] | None] = {
        bid: (qbo_invoice_taxes(invoices[bid], item_accounts) if bid in invoices else None) for bid in staged
    }
    reasons = {}
    for bid in staged:
        row = rt.ledger.get(BILL_SOURCE_TYPE, str(bid))
        if bid not in invoices and row is not None:
            reasons[bid] = f"{row.status}: {row.last_error}" if row.last_error else str(row.status)
    rec = compare_taxes(revio_by_bill, qbo_by_bill, reasons)
    rec.differences[:0] = problems
    rec.details[:0] = [Difference("taxes", OTHER, "mapping", line) for line in problems]
    return rec
