"""Reading one bill-date window from Rev.io: bills, their charges, credits and payments, and their customers.

Rev.io only offers ``created_date`` windows on transactions, and a charge, credit or payment gets its
``bill_id`` after it was created, so child records are read over a look-back window and checked against
the bill totals; any bill whose children do not add up is re-read by ``bill_id``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.money import to_cents

DEFAULT_LOOKBACK_DAYS = 62


def window_end_inclusive(end: datetime) -> datetime:
    """Rev.io ``_end`` filters are inclusive: the last second before ``end``."""
    return end - timedelta(seconds=1)


def fetch_bills(revio: RevioClient, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Bills created in ``[start, end)``."""
    return list(revio.bills(created_start=start, created_end=window_end_inclusive(end)))


def _cents(value: Any) -> int:
    return to_cents(value) if value is not None else 0


def fetch_children_for_bills(
    revio: RevioClient,
    resource: str,
    bills: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    *,
    total_field: str | None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[dict[str, Any]]:
    """Charges / credits / payments belonging to ``bills``.

    Reads ``created_date`` in ``[start - lookback, end]`` once, then re-reads by ``bill_id`` every bill
    whose children do not sum to the bill's ``total_field`` (or, with ``total_field=None``, none).
    """
    if not bills:
        return []
    bill_ids = {int(b["bill_id"]) for b in bills}
    fetch = getattr(revio, resource)
    window = fetch(created_start=start - timedelta(days=lookback_days), created_end=window_end_inclusive(end))
    by_bill: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
    pk = {"charges": "charge_id", "credits": "credit_memo_id", "payments": "payment_id"}[resource]
    for rec in window:
        bid = rec.get("bill_id")
        if bid and int(bid) in bill_ids:
            by_bill[int(bid)][int(rec[pk])] = rec
    if total_field is not None:
        for bill in bills:
            bid = int(bill["bill_id"])
            have = sum(_cents(r.get("amount")) for r in by_bill[bid].values())
            if have != _cents(bill.get(total_field)):
                by_bill[bid] = {int(r[pk]): r for r in fetch(bill_id=bid)}
    return [rec for bid in sorted(by_bill) for _, rec in sorted(by_bill[bid].items())]


def fetch_customers(
    revio: RevioClient,
    customer_ids: Iterable[int],
    updated_start: datetime | None = None,
    updated_end: datetime | None = None,
) -> list[dict[str, Any]]:
    """Customers referenced by ``customer_ids`` plus those updated in the window (one paged read)."""
    wanted = {int(c) for c in customer_ids}
    out: dict[int, dict[str, Any]] = {}
    for rec in revio.customers():
        cid = int(rec["customer_id"])
        updated = str(rec.get("updated_date") or "")
        in_window = (
            updated_start is not None
            and updated_end is not None
            and updated_start.isoformat()[:19] <= updated[:19] < updated_end.isoformat()[:19]
        )
        if cid in wanted or in_window:
            out[cid] = rec
    return [out[k] for k in sorted(out)]
