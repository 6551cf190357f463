"""Revenue recognition per calendar month, in integer cents (pure: no I/O).

Rules (per charge, by ``cfg.revenue.by_charge_kind[charge.kind].deferred``):

- **Not deferred** kind: recognized in full in the month of the bill date, exactly as the invoice
  already booked it. It shows in the summary (billed = recognized) but never moves through Deferred Revenue.
- **Deferred** kind with a service period (``start_date``..``end_date``, both inclusive): recognized over
  the period, day-weighted. A one-time charge with ``start_date == end_date`` is thus recognized in the
  month of its service date. The amount earned through the end of month M is
  ``round_half_away_from_zero(amount * days_of_period_through_M / days_in_period)``; month M's piece is that
  cumulative figure minus the previous month's, so the pieces always sum exactly to the charge's amount
  (cumulative / largest-remainder rounding: no cent is lost or created).
- Nothing is recognized before the bill month: the part of a period that lies before the bill date
  (a catch-up proration, usage billed in arrears) is recognized in the bill month. So a month's figures
  depend only on charges billed by its last day, and a closed month stays stable when re-run.
- A deferred charge without a usable period (missing dates, end before start) is recognized in its bill month.

For a month and a category (charge kind): ``billed`` (charges whose bill date is in the month),
``recognized``, ``deferred_opening`` / ``deferred_closing`` (billed but not yet recognized) and
``deferred_change = closing - opening``. The invariant ``recognized + deferred_change == billed`` holds per
category and in total (see :meth:`CategoryRevenue.ties`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from revqb_pipeline.mapping.config import CHARGE_KINDS, RevenueConfig, RevenueKind

LOOKBACK_MONTHS = 12
"""Billings older than this many months before the month being closed are not read (13 months in all)."""


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, not {self.month}")

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, text: str) -> Month:
        """``YYYY-MM`` or a date/partition key ``YYYY-MM-DD``."""
        parts = text.strip().split("-")
        if len(parts) not in (2, 3):
            raise ValueError(f"not a month: {text!r}")
        return cls(int(parts[0]), int(parts[1]))

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.add(1).first_day - timedelta(days=1)

    def add(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class RevenueCharge:
    """One billed charge, as revenue recognition needs it (tax excluded)."""

    charge_id: int
    bill_id: int
    bill_date: date
    kind: str
    amount_cents: int
    start_date: date | None = None
    end_date: date | None = None

    @property
    def bill_month(self) -> Month:
        return Month.of(self.bill_date)

    @property
    def period(self) -> tuple[date, date] | None:
        """The inclusive service period, or None when it is missing or inverted."""
        if self.start_date is None or self.end_date is None or self.end_date < self.start_date:
            return None
        return self.start_date, self.end_date


def _day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def charge_from_rows(charge: Mapping[str, Any], bill: Mapping[str, Any]) -> RevenueCharge:
    """A :class:`RevenueCharge` from an ``stg_charges`` row and its ``stg_bills`` row."""
    bill_date = _day(bill.get("bill_date"))
    if bill_date is None:
        raise ValueError(f"bill {bill.get('bill_id')} has no bill_date")
    return RevenueCharge(
        charge_id=int(charge["charge_id"]),
        bill_id=int(bill["bill_id"]),
        bill_date=bill_date,
        kind=str(charge.get("charge_kind") or "recurring"),
        amount_cents=int(charge.get("product_amount_cents") or 0),
        start_date=_day(charge.get("start_date")),
        end_date=_day(charge.get("end_date")),
    )


def _round_ratio(amount: int, num: int, den: int) -> int:
    """``amount * num / den`` rounded half away from zero, in integers."""
    sign = -1 if amount < 0 else 1
    return sign * ((2 * abs(amount) * num + den) // (2 * den))


def recognition_schedule(charge: RevenueCharge, deferred: bool) -> dict[Month, int]:
    """Cents recognized per month (months with 0 omitted); the values sum to ``charge.amount_cents``."""
    bill_month = charge.bill_month
    period = charge.period
    if not deferred or period is None or charge.amount_cents == 0:
        return {bill_month: charge.amount_cents} if charge.amount_cents else {}
    start, end = period
    total_days = (end - start).days + 1
    out: dict[Month, int] = {}
    earned = 0
    month = Month.of(start)
    while month.first_day <= end:
        through = (min(end, month.last_day) - start).days + 1
        cumulative = _round_ratio(charge.amount_cents, through, total_days)
        target = max(month, bill_month)
        piece = cumulative - earned
        if piece:
            out[target] = out.get(target, 0) + piece
        earned = cumulative
        month = month.add(1)
    return {m: v for m, v in out.items() if v}


@dataclass(frozen=True)
class CategoryRevenue:
    """One category (charge kind) in one month, in cents."""

    category: str
    account: str
    deferred: bool
    deferred_account: str | None
    billed_cents: int = 0
    recognized_cents: int = 0
    deferred_opening_cents: int = 0
    deferred_closing_cents: int = 0
    deferred_from_billings_cents: int = 0
    """Part of this month's billings not earned this month (moved to deferred revenue)."""
    released_cents: int = 0
    """Part of earlier billings earned this month (released from deferred revenue)."""

    @property
    def deferred_change_cents(self) -> int:
        return self.deferred_closing_cents - self.deferred_opening_cents

    @property
    def ties(self) -> bool:
        """recognized + change in deferred == billed, and the gross movements agree with the balances."""
        return (
            self.recognized_cents + self.deferred_change_cents == self.billed_cents
            and self.deferred_from_billings_cents - self.released_cents == self.deferred_change_cents
        )


@dataclass(frozen=True)
class MonthRevenue:
    """Revenue of one month: one :class:`CategoryRevenue` per charge kind configured."""

    month: Month
    categories: tuple[CategoryRevenue, ...]
    charges_considered: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def category(self, name: str) -> CategoryRevenue:
        for c in self.categories:
            if c.category == name:
                return c
        raise KeyError(name)

    def total(self, attr: str) -> int:
        return sum(int(getattr(c, attr)) for c in self.categories)

    @property
    def ties(self) -> bool:
        return all(c.ties for c in self.categories) and (
            self.total("recognized_cents") + self.total("deferred_change_cents") == self.total("billed_cents")
        )

    @property
    def is_empty(self) -> bool:
        """Nothing to post: no category's deferred balance changes."""
        return all(c.deferred_change_cents == 0 for c in self.categories)

    def as_rows(self) -> list[dict[str, Any]]:
        """One plain dict per category (integer cents), for DataFrames and metadata."""
        return [
            {
                "month": self.month.key,
                "category": c.category,
                "account": c.account,
                "deferred": c.deferred,
                "deferred_account": c.deferred_account,
                "billed_cents": c.billed_cents,
                "recognized_cents": c.recognized_cents,
                "deferred_opening_cents": c.deferred_opening_cents,
                "deferred_closing_cents": c.deferred_closing_cents,
                "deferred_change_cents": c.deferred_change_cents,
                "deferred_from_billings_cents": c.deferred_from_billings_cents,
                "released_cents": c.released_cents,
            }
            for c in self.categories
        ]


def _kind_rule(kind: str, cfg: RevenueConfig) -> RevenueKind | None:
    return cfg.by_charge_kind.get(kind)  # type: ignore[call-overload]


def summarize_month(charges: Iterable[RevenueCharge], month: Month, cfg: RevenueConfig) -> MonthRevenue:
    """Billed / recognized / deferred per category for ``month`` from every charge billed up to its end.

    Charges billed after the month are ignored; charges billed before it only matter while part of them is
    still deferred at the start of the month.
    """
    acc: dict[str, dict[str, int]] = {
        k: dict.fromkeys(("billed", "recognized", "opening", "closing", "deferred", "released"), 0)
        for k in CHARGE_KINDS
    }
    warnings: list[str] = []
    considered = 0
    for ch in charges:
        bill_month = ch.bill_month
        if bill_month > month:
            continue
        rule = _kind_rule(ch.kind, cfg)
        if rule is None:
            warnings.append(f"charge {ch.charge_id}: kind {ch.kind!r} has no revenue mapping; ignored")
            continue
        considered += 1
        schedule = recognition_schedule(ch, rule.deferred)
        before = sum(v for m, v in schedule.items() if m < month)
        now = schedule.get(month, 0)
        a = acc[ch.kind]
        if bill_month == month:
            a["billed"] += ch.amount_cents
            a["deferred"] += ch.amount_cents - now
        else:
            a["opening"] += ch.amount_cents - before
            a["released"] += now
        a["recognized"] += now
        a["closing"] += ch.amount_cents - before - now
    categories = []
    for kind in CHARGE_KINDS:
        rule = _kind_rule(kind, cfg)
        if rule is None:
            continue
        a = acc[kind]
        categories.append(
            CategoryRevenue(
                category=kind,
                account=rule.account,
                deferred=rule.deferred,
                deferred_account=rule.deferred_account,
                billed_cents=a["billed"],
                recognized_cents=a["recognized"],
                deferred_opening_cents=a["opening"],
                deferred_closing_cents=a["closing"],
                deferred_from_billings_cents=a["deferred"],
                released_cents=a["released"],
            )
        )
    return MonthRevenue(month, tuple(categories), considered, tuple(warnings))


def lookback_start(month: Month) -> Month:
    """First month whose billings are read when closing ``month`` (``LOOKBACK_MONTHS`` before it)."""
    return month.add(-LOOKBACK_MONTHS)
