"""Reading one bill-date window from Rev.io: records created that day, and the children of the day's bills.

Rev.io only offers ``created_date`` windows on transactions, and a charge, credit or payment gets its
``bill_id`` after it was created, so child records are read over a look-back window and checked against
the bill totals; any bill whose children do not add up is re-read by ``bill_id``.

Every read here is total: ids and amounts are read with the models' own rules
(``mapping.normalize.record_key`` / ``record_cents``), and a record whose id, bill id or amount is
malformed is passed on unchanged, so that staging quarantines it with the reason. Nothing here raises on
malformed Rev.io data.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from revqb_pipeline.clients.errors import RevioError
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.mapping.normalize import record_cents, record_key, record_token

DEFAULT_LOOKBACK_DAYS = 62
# Up to this many bills whose children do not add up are re-read one by one; more cost one forward read.
PER_BILL_READS_MAX = 3


def window_end_inclusive(end: datetime) -> datetime:
    """Rev.io ``_end`` filters are inclusive: the last second before ``end``."""
    return end - timedelta(seconds=1)


def fetch_created(revio: RevioClient, resource: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Records of ``resource`` created in ``[start, end)``."""
    fetch = getattr(revio, resource.lower())
    return list(fetch(created_start=start, created_end=window_end_inclusive(end)))


def ties(bill: dict[str, Any], children: dict[Any, dict[str, Any]], total_field: str) -> bool:
    """Whether ``children``'s amounts are all readable and sum to the bill's ``total_field``."""
    amounts = [record_cents(r, "amount") for r in children.values()]
    total = record_cents(bill, total_field)
    return total is not None and None not in amounts and sum(a or 0 for a in amounts) == total


def fetch_children_for_bills(
    revio: RevioClient,
    resource: str,
    bills: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    *,
    primary_key: str,
    total_field: str | None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> list[dict[str, Any]]:
    """Charges / credits / payments belonging to ``bills``.

    Reads ``created_date`` in ``[start - lookback, end]`` once, then re-reads by ``bill_id`` every bill
    whose children do not sum to the bill's ``total_field`` (or, with ``total_field=None``, none), or
    whose total or a child's amount is unreadable. When more than ``PER_BILL_READS_MAX`` bills fall short,
    one read of ``[end, end + lookback]`` comes first and only the bills still short are read one by one.
    Records created in ``[start, end)`` whose ``bill_id`` is present but unreadable are returned too
    (staging quarantines them, naming the value).
    """
    if not bills:
        return []
    by_id = {bid: b for b in bills if (bid := record_key(b, "bill_id"))}
    bill_ids = set(by_id)
    fetch = getattr(revio, resource)
    window = fetch(created_start=start - timedelta(days=lookback_days), created_end=window_end_inclusive(end))
    by_bill: dict[int, dict[tuple[int, str], dict[str, Any]]] = defaultdict(dict)
    pk = primary_key
    day = (start.isoformat()[:19], end.isoformat()[:19])
    unreadable: dict[tuple[int, str], dict[str, Any]] = {}
    for rec in window:
        bid = record_key(rec, "bill_id")
        if bid in bill_ids:
            by_bill[bid][record_token(rec, pk)] = rec
        elif bid is None and rec.get("bill_id") not in (None, "", 0, "0"):
            if day[0] <= str(rec.get("created_date") or "")[:19] < day[1]:
                unreadable[record_token(rec, pk)] = rec
    if total_field is not None:
        short = [bid for bid, bill in sorted(by_id.items()) if not ties(bill, by_bill[bid], total_field)]
        if len(short) > PER_BILL_READS_MAX:
            # Children posted on these bills after the day (a credit issued later against an old bill):
            # one forward window read instead of one read per bill.
            wanted = set(short)
            later = fetch(created_start=end, created_end=end + timedelta(days=lookback_days))
            for rec in later:
                if (bid := record_key(rec, "bill_id")) in wanted:
                    by_bill[bid][record_token(rec, pk)] = rec
            short = [bid for bid in short if not ties(by_id[bid], by_bill[bid], total_field)]
        for bid in short:
            by_bill[bid] = {record_token(r, pk): r for r in fetch(bill_id=bid)}
    out = [rec for bid in sorted(by_bill) for _, rec in sorted(by_bill[bid].items())]
    return out + [rec for _, rec in sorted(unreadable.items())]


def day_records(
    revio: RevioClient,
    resource: str,
    bills: list[dict[str, Any]],
    start: datetime,
    end: datetime,
    *,
    primary_key: str,
    total_field: str | None,
    originals_field: str | None = None,
) -> list[dict[str, Any]]:
    """Records of ``resource`` created in ``[start, end)`` plus those posted on ``bills``; with
    ``originals_field``, also the originals those records point at (a reversal or refund row needs its
    original, whose flags may have changed)."""
    pk = primary_key
    out = {record_token(r, pk): r for r in fetch_created(revio, resource, start, end)}
    for rec in fetch_children_for_bills(
        revio, resource.lower(), bills, start, end, primary_key=pk, total_field=total_field
    ):
        out[record_token(rec, pk)] = rec
    if originals_field:
        for orig in sorted({o for r in out.values() if (o := record_key(r, originals_field))}):
            if record_token({pk: orig}, pk) not in out and (rec := get_or_none(revio, resource, orig)):
                out[record_token(rec, pk)] = rec
    return [out[k] for k in sorted(out)]


def get_or_none(revio: RevioClient, resource: str, rid: int) -> dict[str, Any] | None:
    """One record by id; ``None`` when Rev.io has no such record (a dangling reference in another
    record, which staging or the payment plan then reports)."""
    try:
        return revio.get(resource, rid)
    except RevioError as exc:
        if exc.status == 404:
            return None
        raise
