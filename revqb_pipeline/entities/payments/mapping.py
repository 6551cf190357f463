"""Rev.io payments -> QBO Payments (pure: decisions, allocation and payload bodies; no I/O).

Every Rev.io payment row gets exactly one :class:`PaymentDecision`:

- ``post``: an original payment (positive amount, no ``original_payment_id``) becomes one QBO Payment for
  its customer, ``TotalAmt`` = the amount net of its refunds, applied (``Line`` / ``LinkedTxn``) to the QBO
  invoice of its bill with the amount the bill still owes (see :func:`allocate_bill`); the rest stays
  unapplied credit on the customer. A payment without a bill is entirely unapplied.
- ``void``: a bounced original (``bounced`` flag or a reversing row pointing at it), or one refunded in
  full: its QBO Payment, if any, is voided (amounts zeroed, kept for the audit trail).
- ``fold``: a row that reverses another payment (bounce reversal or refund) has no QBO entity of its own;
  it is represented on the original (voided, or netted down).
- ``reject``: rows revqb cannot represent (a negative or zero payment that reverses nothing).

Refunds (docs/assumptions.md): Rev.io reopens the receivable when a payment is refunded (the refund row
keeps the bill id and reduces what was paid). A QBO RefundReceipt posts to income, not to A/R, so it
would leave the invoice paid; revqb instead reduces the original QBO Payment to the net amount, which
moves both cash (deposit account) and A/R exactly like Rev.io. The refund is named in the PrivateNote.

Allocation (per bill, deterministic, from Rev.io data only): the invoice total is consumed first by the
bill's credits (credit id order), then by its payments (payment id order), each taking at most what is
left; so a partial payment leaves the right balance and an overpayment's excess stays unapplied.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from revqb_pipeline.mapping.config import MappingConfig
from revqb_pipeline.mapping.symbols import (
    ACCOUNT_PREFIX,
    BILL_PREFIX,
    CREDIT_PREFIX,
    CUSTOMER_PREFIX,
    PAYMENT_METHOD_PREFIX,
)
from revqb_pipeline.money import from_cents

PRIVATE_NOTE_MAX = 4000
PAYMENT_REF_MAX = 21
CREDIT_APPLY_MARKER = "revio:credit-apply:"

Action = Literal["post", "void", "fold", "reject"]


@dataclass(frozen=True)
class PaymentDecision:
    """What happens to one Rev.io payment row, with a reason a finance person can read."""

    payment_id: int
    action: Action
    reason: str
    net_cents: int = 0
    original_payment_id: int | None = None
    refunded_cents: int = 0
    refund_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class BillAllocation:
    """How one invoice's total is consumed: cents applied per credit and per payment."""

    bill_id: int
    invoice_cents: int
    credits: dict[int, int] = field(default_factory=dict)
    payments: dict[int, int] = field(default_factory=dict)

    @property
    def open_cents(self) -> int:
        return self.invoice_cents - sum(self.credits.values()) - sum(self.payments.values())


def _money(cents: int) -> Decimal:
    return from_cents(cents)


def marker(payment_id: int | str, cfg: MappingConfig) -> str:
    """The PrivateNote marker that identifies a Rev.io payment's QBO Payment."""
    return f"{cfg.invoice.payment_note_marker}{payment_id}"


def credit_apply_marker(credit_memo_id: int | str) -> str:
    """The PrivateNote marker of the zero-total Payment applying a credit memo to its invoice."""
    return f"{CREDIT_APPLY_MARKER}{credit_memo_id}"


def markers_in(note: str | None, prefix: str) -> list[str]:
    """Source ids named by ``prefix<id>`` markers in a PrivateNote (a voided one reads "Voided - ...")."""
    if not note:
        return []
    return re.findall(rf"(?:^|[\s(-]){re.escape(prefix)}(\d+)(?=$|[\s),.;])", note)


def plan_payments(rows: Iterable[Mapping[str, Any]]) -> dict[int, PaymentDecision]:
    """A decision for every ``stg_payments`` row (originals, bounce reversals and refunds together).

    Rows reversing a payment that is not in ``rows`` are folded all the same (their original is
    decided whenever it is staged; the caller passes whole families).
    """
    by_id = {int(r["payment_id"]): r for r in rows}
    refunds: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    reversals: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    out: dict[int, PaymentDecision] = {}
    for r in by_id.values():
        orig = r.get("original_payment_id")
        if orig:
            (refunds if r.get("refund_flag") else reversals)[int(orig)].append(r)
    for pid, r in sorted(by_id.items()):
        amount = int(r["amount_cents"])
        orig = r.get("original_payment_id")
        if orig:
            kind = "refund" if r.get("refund_flag") else "bounce reversal"
            out[pid] = PaymentDecision(
                pid,
                "fold",
                f"{kind} of Rev.io payment {orig} ({_money(abs(amount))}); "
                "shown on that payment's QBO Payment",
                original_payment_id=int(orig),
            )
            continue
        if r.get("refund_flag"):
            out[pid] = PaymentDecision(
                pid,
                "reject",
                f"refund of {_money(abs(amount))} names no original payment; post it in QBO by hand "
                "(a refund must reduce a known payment to keep A/R and cash right)",
            )
            continue
        if amount <= 0:
            out[pid] = PaymentDecision(
                pid, "reject", f"payment amount {_money(amount)} is not positive and reverses no payment"
            )
            continue
        if r.get("bounced") or reversals.get(pid):
            out[pid] = PaymentDecision(pid, "void", f"payment of {_money(amount)} bounced in Rev.io")
            continue
        refunded = sum(abs(int(x["amount_cents"])) for x in refunds.get(pid, []))
        refund_ids = tuple(sorted(int(x["payment_id"]) for x in refunds.get(pid, [])))
        net = amount - refunded
        if net <= 0:
            out[pid] = PaymentDecision(
                pid,
                "void",
                f"payment of {_money(amount)} refunded in full in Rev.io",
                refunded_cents=refunded,
                refund_ids=refund_ids,
            )
            continue
        reason = f"payment of {_money(amount)}"
        if refunded:
            reason += f", {_money(refunded)} refunded (net {_money(net)})"
        out[pid] = PaymentDecision(
            pid, "post", reason, net_cents=net, refunded_cents=refunded, refund_ids=refund_ids
        )
    return out


def allocate_bill(
    bill_id: int,
    invoice_cents: int,
    credits: Sequence[tuple[int, int]],
    payments: Sequence[tuple[int, int]],
) -> BillAllocation:
    """Consume ``invoice_cents`` by credits (``(credit_memo_id, cents)``) then payments (``(payment_id,
    net cents)``), each in id order, each taking at most what is left."""
    left = max(int(invoice_cents), 0)
    alloc = BillAllocation(bill_id, int(invoice_cents))
    for cid, cents in sorted(credits):
        take = min(max(int(cents), 0), left)
        alloc.credits[int(cid)] = take
        left -= take
    for pid, cents in sorted(payments):
        take = min(max(int(cents), 0), left)
        alloc.payments[int(pid)] = take
        left -= take
    return alloc


def allocate(
    bills: Mapping[int, Mapping[str, Any]],
    credits: Iterable[Mapping[str, Any]],
    decisions: Mapping[int, PaymentDecision],
    payments: Iterable[Mapping[str, Any]],
) -> dict[int, BillAllocation]:
    """Allocations for every bill in ``bills`` (``stg_bills`` rows by id) that is not reversed.

    ``credits`` are ``stg_credits`` rows, ``payments`` ``stg_payments`` rows; only posted payments count.
    """
    creds: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for c in credits:
        if c.get("bill_id"):
            creds[int(c["bill_id"])].append((int(c["credit_memo_id"]), int(c["amount_cents"])))
    pays: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for p in payments:
        d = decisions.get(int(p["payment_id"]))
        if p.get("bill_id") and d is not None and d.action == "post":
            pays[int(p["bill_id"])].append((d.payment_id, d.net_cents))
    out: dict[int, BillAllocation] = {}
    for bid, bill in bills.items():
        if bill.get("is_reversed"):
            continue
        out[int(bid)] = allocate_bill(
            int(bid), int(bill["invoice_amount_cents"]), creds.get(int(bid), []), pays.get(int(bid), [])
        )
    return out


def payment_payload(
    payment: Mapping[str, Any],
    decision: PaymentDecision,
    applied_cents: int,
    cfg: MappingConfig,
) -> dict[str, Any]:
    """A QBO Payment create body (symbolic refs: ``revio-customer:``, ``revio-bill:``, ``payment-method:``,
    ``account:``) for a ``post`` decision; ``applied_cents`` goes to the bill's invoice, the rest is
    unapplied credit."""
    if decision.action != "post":
        raise ValueError(f"payment {decision.payment_id}: no payload for a {decision.action!r} decision")
    pid = decision.payment_id
    applied = max(0, min(int(applied_cents), decision.net_cents))
    rule = cfg.payment_method_for(payment.get("method"))
    note_lines = [marker(pid, cfg)]
    if decision.refunded_cents:
        ids = ", ".join(str(i) for i in decision.refund_ids)
        note_lines.append(
            f"Rev.io refund(s) {ids}: {_money(decision.refunded_cents)} refunded; "
            f"received {_money(decision.net_cents + decision.refunded_cents)}"
        )
    body: dict[str, Any] = {
        "CustomerRef": {"value": f"{CUSTOMER_PREFIX}{payment['customer_id']}"},
        "TotalAmt": _money(decision.net_cents),
        "TxnDate": str(payment["received_date"])[:10],
        "PaymentMethodRef": {"value": f"{PAYMENT_METHOD_PREFIX}{rule.qbo_payment_method}"},
        "DepositToAccountRef": {"value": f"{ACCOUNT_PREFIX}{rule.deposit_account}"},
        "PrivateNote": "\n".join(note_lines)[:PRIVATE_NOTE_MAX],
        "Line": [],
    }
    ref = (payment.get("reference_number") or "").strip()
    if ref:
        body["PaymentRefNum"] = ref[:PAYMENT_REF_MAX]
    if applied > 0 and payment.get("bill_id"):
        body["Line"] = [
            {
                "Amount": _money(applied),
                "LinkedTxn": [{"TxnId": f"{BILL_PREFIX}{payment['bill_id']}", "TxnType": "Invoice"}],
            }
        ]
    return body


def credit_application_payload(credit: Mapping[str, Any], applied_cents: int) -> dict[str, Any] | None:
    """The zero-total Payment linking a credit memo and its bill's invoice for ``applied_cents``, or None
    when nothing is to be applied (no bill, or the invoice is already covered)."""
    if not credit.get("bill_id") or applied_cents <= 0:
        return None
    amount = _money(applied_cents)
    cid = credit["credit_memo_id"]
    return {
        "CustomerRef": {"value": f"{CUSTOMER_PREFIX}{credit['customer_id']}"},
        "TotalAmt": _money(0),
        "TxnDate": str(credit.get("created_date") or credit.get("start_date"))[:10],
        "PrivateNote": credit_apply_marker(cid),
        "Line": [
            {
                "Amount": amount,
                "LinkedTxn": [{"TxnId": f"{BILL_PREFIX}{credit['bill_id']}", "TxnType": "Invoice"}],
            },
            {"Amount": amount, "LinkedTxn": [{"TxnId": f"{CREDIT_PREFIX}{cid}", "TxnType": "CreditMemo"}]},
        ],
    }


# ----- updates --------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    return Decimal(str(value))


def _ref(obj: Any) -> str | None:
    return str(obj.get("value")) if isinstance(obj, Mapping) and obj.get("value") is not None else None


def _lines(payment: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for line in payment.get("Line") or []:
        links = tuple((str(lt.get("TxnType")), str(lt.get("TxnId"))) for lt in line.get("LinkedTxn") or [])
        out.append((_dec(line.get("Amount")), links))
    return sorted(out, key=lambda t: (t[1], t[0] or 0))


def payment_update_payload(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any] | None:
    """A sparse update turning QBO Payment ``existing`` into ``desired`` (``Line`` sent whole when it
    differs, so removed links are removed), or None when they agree."""
    changes: dict[str, Any] = {}
    for key in ("TxnDate", "PrivateNote", "PaymentRefNum"):
        if key in desired and (desired[key] or None) != (existing.get(key) or None):
            changes[key] = desired[key]
    for key in ("CustomerRef", "PaymentMethodRef", "DepositToAccountRef"):
        if key in desired and _ref(desired[key]) != _ref(existing.get(key)):
            changes[key] = desired[key]
    if _dec(desired.get("TotalAmt")) != _dec(existing.get("TotalAmt")):
        changes["TotalAmt"] = desired["TotalAmt"]
    if _lines(desired) != _lines(existing):
        changes["Line"] = desired.get("Line") or []
    if not changes:
        return None
    if "Line" in changes or "TotalAmt" in changes:
        changes.setdefault("TotalAmt", desired["TotalAmt"])
        changes.setdefault("Line", desired.get("Line") or [])
    return {
        "Id": str(existing["Id"]),
        "SyncToken": str(existing.get("SyncToken", "0")),
        "sparse": True,
        **changes,
    }


def is_voided(entity: Mapping[str, Any]) -> bool:
    """True when a QBO transaction was voided (QBO prefixes "Voided" to its PrivateNote)."""
    return str(entity.get("PrivateNote") or "").startswith("Voided")


# ----- Rev.io's view of what is owed (for reconciliation) ---------------------------------------------


def revio_net_paid_cents(payment: Mapping[str, Any], reversed_ids: set[int]) -> int:
    """What one raw-or-staged payment row contributes to what was paid, in Rev.io's terms: a refund row
    reduces it, a reversal row cancels its original, a bounced original without a reversal row counts 0."""
    amount = int(payment["amount_cents"])
    if payment.get("refund_flag"):
        return -abs(amount)
    if payment.get("bounced") and not payment.get("original_payment_id"):
        return amount if int(payment["payment_id"]) in reversed_ids else 0
    return amount


def revio_outstanding(
    bills: Iterable[Mapping[str, Any]], payments: Iterable[Mapping[str, Any]]
) -> dict[int, int]:
    """Open cents per bill (``max(0, amount_due - net paid on it)``), reversed bills excluded.

    ``bills`` carry ``bill_id``, ``amount_due_cents`` and ``is_reversed``; ``payments`` are ``stg_payments``
    shaped rows."""
    rows = list(payments)
    reversed_ids = {
        int(p["original_payment_id"])
        for p in rows
        if p.get("original_payment_id") and not p.get("refund_flag")
    }
    paid: dict[int, int] = defaultdict(int)
    for p in rows:
        if p.get("bill_id"):
            paid[int(p["bill_id"])] += revio_net_paid_cents(p, reversed_ids)
    return {
        int(b["bill_id"]): max(0, int(b["amount_due_cents"]) - paid[int(b["bill_id"])])
        for b in bills
        if not b.get("is_reversed")
    }
