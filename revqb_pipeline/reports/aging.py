"""AR aging: open receivables bucketed by days past due as of a date, per customer and side. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from revqb_pipeline.reports.model import BUCKETS, SIDES, AgingLine, OpenItem


def bucket_index(due_date: date | None, as_of: date) -> int:
    """Index in :data:`BUCKETS`: not yet due (or no due date) -> current; then 1-30, 31-60, 61-90, >90."""
    if due_date is None:
        return 0
    days = (as_of - due_date).days
    if days <= 0:
        return 0
    if days <= 30:
        return 1
    if days <= 60:
        return 2
    if days <= 90:
        return 3
    return 4


def age(items: Iterable[OpenItem], as_of: date) -> list[AgingLine]:
    """One line per (customer, side) with an open item, sorted by customer then side (Rev.io first)."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
    for item in items:
        sums[(item.customer, item.side)][bucket_index(item.due_date, as_of)] += item.cents
    order = {side: i for i, side in enumerate(SIDES)}
    return [
        AgingLine(customer, side, (b[0], b[1], b[2], b[3], b[4]))
        for (customer, side), b in sorted(sums.items(), key=lambda kv: (kv[0][0], order[kv[0][1]]))
    ]
