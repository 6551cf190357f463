"""Rev.io date-time text and the calendar arithmetic of billing periods."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal


def fmt(moment: datetime | date) -> str:
    """Rev.io date-time text."""
    if isinstance(moment, datetime):
        return moment.replace(microsecond=0).isoformat()
    return f"{moment.isoformat()}T00:00:00"


def to_date(text: str | None) -> date | None:
    """The date of Rev.io date-time text (None for empty)."""
    return None if not text else date.fromisoformat(text[:10])


def add_months(d: date, n: int) -> date:
    """Same day ``n`` months later (clamped to the month's last day)."""
    m = d.month - 1 + n
    y, m = d.year + m // 12, m % 12 + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


def period_fraction(start: date, end: date, anchor: date) -> Decimal:
    """Fraction of service months covered by ``[start, end]`` for monthly periods anchored at ``anchor``."""
    # find the period containing start
    p_start = anchor
    while p_start > start:
        p_start = add_months(p_start, -1)
    while add_months(p_start, 1) <= start:
        p_start = add_months(p_start, 1)
    total = Decimal(0)
    cur = start
    while cur <= end:
        p_end = add_months(p_start, 1) - timedelta(days=1)
        seg_end = min(end, p_end)
        total += Decimal((seg_end - cur).days + 1) / Decimal((p_end - p_start).days + 1)
        p_start = add_months(p_start, 1)
        cur = seg_end + timedelta(days=1)
    return total


def dt_text(value: date | datetime | str) -> str:
    """Rev.io date-time text of a date, a date-time or ISO text (date-only text -> midnight)."""
    if isinstance(value, str):
        return fmt(datetime.fromisoformat(value)) if "T" in value else f"{value[:10]}T00:00:00"
    return fmt(value)
