"""An independent oracle of revenue recognition: walk the service period one day at a time."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import timedelta
from fractions import Fraction

from revqb_pipeline.entities.journals.revenue import Month, RevenueCharge


def _round_half_away(x: Fraction) -> int:
    return int(math.copysign(math.floor(abs(x) + Fraction(1, 2)), x)) if x else 0


def day_by_day(charge: RevenueCharge, deferred: bool) -> dict[Month, int]:
    """Walk the service period one day at a time; at each month end, round the cumulative earned amount."""
    bill_key = (charge.bill_date.year, charge.bill_date.month)
    if not deferred or charge.start_date is None or charge.end_date is None:
        return {Month(*bill_key): charge.amount_cents}
    days = (charge.end_date - charge.start_date).days + 1
    per_day = Fraction(charge.amount_cents, days)
    out: dict[tuple[int, int], int] = defaultdict(int)
    exact = Fraction(0)
    booked = 0
    day = charge.start_date
    while day <= charge.end_date:
        exact += per_day
        tomorrow = day + timedelta(days=1)
        if tomorrow.month != day.month or day == charge.end_date:
            cumulative = _round_half_away(exact)
            key = max((day.year, day.month), bill_key)
            out[key] += cumulative - booked
            booked = cumulative
        day = tomorrow
    return {Month(*k): v for k, v in out.items()}
