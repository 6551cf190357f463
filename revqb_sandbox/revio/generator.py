"""Seeded telecom tenant generator: same seed -> byte-identical :class:`RevioDataset`.

A small discrete-event simulation over ``months`` of billing (``start`` = first day simulated):

- business customers (apostrophes, a backslash, accents, the near-duplicates "Acme Telecom LLC" /
  "ACME Telecom, LLC", missing emails, two customers sharing an email, some without account number;
  names unique case-insensitively, also past the 3,060 basic names for large tenants),
  on bill profile 1 (cycle day 1) or 2 (cycle day 15), in ten US states;
- recurring MRC services (hosted PBX seats, SIP trunks, internet, DID blocks, a tax-included bundle),
  usage (long-distance, international, toll-free minutes, billed in arrears) and one-time NRCs
  (installation, activation) - see :mod:`revqb_sandbox.revio.catalog` for codes and tax classes;
- mid-month starts (prorated first charge), add-on services, cancellations (prorated last charge, final
  bill, account CLOSED), recurring charges billed in advance for the coming service period;
- payments by card / ACH / check: full, partial, late, over (some refunded), on-account (no bill),
  bounced; credits: service credits, disputes, promotions, adjustments, bad-debt write-offs;
- dunning for delinquent accounts: ``Collection Step`` custom field Reminder Email -> Final Notice ->
  2-Way Suspend (``suspended=true``) -> Collections Agency -> bad-debt write-off and CLOSED
  (some pay up and are restored on the way).

Customers that exist before ``start`` have their services billed through the day before their first
cycle in the window (older history is not generated); ``bills=False`` stops after customers + catalog.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.revio import catalog
from revqb_sandbox.revio.catalog import q2
from revqb_sandbox.revio.state import RevioDataset, RevioState, add_months, fmt

SPECIAL_NAMES = (
    "Acme Telecom LLC",
    "ACME Telecom, LLC",
    "O'Brien's Pub & Grill",
    "Smith\\Jones Architects",
    "Café Zürich Bistro",
    "Peña & Søn Logistics",
    "D'Angelo Dental Group",
    "Résumé Staffing Partners",
)
_ADJ = (
    "Blue",
    "Summit",
    "Granite",
    "Harbor",
    "Pioneer",
    "Cedar",
    "Metro",
    "Lakeside",
    "Northstar",
    "Redwood",
    "Silver",
    "Keystone",
    "Prairie",
    "Coastal",
    "Evergreen",
    "Liberty",
    "Oak",
    "Riverbend",
    "Sterling",
    "Union",
)
_NOUN = (
    "Dental",
    "Logistics",
    "Realty",
    "Law",
    "Medical",
    "Auto",
    "Printing",
    "Insurance",
    "Construction",
    "Accounting",
    "Hardware",
    "Veterinary",
    "Bakery",
    "Fitness",
    "Freight",
    "Engineering",
    "Consulting",
)
_SUFFIX = ("LLC", "Inc.", "Group", "Partners", "Co.", "Associates", "Ltd.", "PLLC", "Corp.")
_QUALIFIER = (
    "Solutions",
    "Services",
    "Systems",
    "Holdings",
    "Networks",
    "Supply",
    "Works",
    "Studio",
    "Center",
    "Professionals",
)
_BASIC_NAMES = len(_ADJ) * len(_NOUN) * len(_SUFFIX)
"""Distinct "<adjective> <noun> <suffix>" names; larger tenants also get qualified and branch names."""
_FIRST = (
    "Maria",
    "James",
    "Aisha",
    "Wei",
    "Carlos",
    "Emily",
    "Raj",
    "Olivia",
    "Tomás",
    "Grace",
    "Liam",
    "Zoë",
)
_LAST = ("Garcia", "Smith", "Okafor", "Chen", "Nguyen", "Miller", "Patel", "Johnson", "O'Neil", "Schmidt")
_STREETS = ("Main St", "Peachtree Rd", "Commerce Dr", "Industrial Blvd", "Market St", "Elm Ave", "Park Pl")

BEHAVIOURS = ("prompt", "partial", "late", "delinquent", "overpayer")
_BEHAVIOUR_WEIGHTS = (55, 12, 13, 10, 10)
_METHODS = ("CREDIT_CARD", "ACH", "CHECK")
DUNNING = ((5, "Reminder Email"), (15, "Final Notice"), (25, "2-Way Suspend"), (45, "Collections Agency"))


@dataclass
class _Profile:
    """Simulation-only traits of a customer (not part of the records)."""

    record: dict[str, Any]
    cycle_day: int
    behaviour: str
    method: str
    activation: date
    joiner: bool
    cancel_notice: date | None = None
    dunning_started: bool = False
    recovers: bool = False
    sps: list[int] = field(default_factory=list)


class _Sim:
    def __init__(self, seed: int, customers: int, start: date, months: int) -> None:
        self.rng = random.Random(seed)
        self.start = start
        self.end = add_months(start, months)
        self.st = RevioState()
        self.heap: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self.seq = 0
        self.profiles: dict[int, _Profile] = {}
        self.n = customers
        self.ref = 1000
        self.accounts: set[str] = set()

    # ----------------------------------------------------------------- helpers
    def at(self, d: date, lo: int = 8, hi: int = 18) -> datetime:
        return datetime.combine(
            d, time(self.rng.randint(lo, hi - 1), self.rng.randint(0, 59), self.rng.randint(0, 59))
        )

    def schedule(self, when: datetime, fn: Callable[[datetime], None]) -> None:
        if when.date() < self.end:
            self.seq += 1
            heapq.heappush(self.heap, (when, self.seq, fn))

    def next_ref(self, prefix: str) -> str:
        self.ref += self.rng.randint(1, 40)
        return f"{prefix}{self.ref}"

    # ----------------------------------------------------------------- setup
    def catalog(self) -> None:
        for rec in catalog.product_type_records():
            self.st.insert("product_types", rec)
        for rec in catalog.product_records():
            self.st.insert("products", rec)
        for rec in catalog.payment_method_records():
            self.st.insert("payment_methods", rec)
        for pid, day in ((1, 1), (2, 15)):
            self.st.insert(
                "bill_profiles",
                {
                    "bill_profile_id": pid,
                    "description": f"Monthly - cycle day {day}",
                    "lead_days": 0,
                    "advance_months": 1,
                    "term_days": 30,
                    "term_months": 0,
                    "cycle_type": "MONTHLY",
                    "cycle_direction": "ADVANCE",
                    "active": True,
                    "cycle_day": day,
                },
            )

    def names(self) -> list[str]:
        """``n`` distinct customer names (case-insensitively), shuffled."""
        rng = self.rng
        out = list(SPECIAL_NAMES[: self.n])
        if self.n - len(out) > _BASIC_NAMES:
            out += _many_names(rng, self.n - len(out))
            rng.shuffle(out)
            return out
        seen = {n.lower() for n in out}
        while len(out) < self.n:
            name = f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_SUFFIX)}"
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(name)
        rng.shuffle(out)
        return out

    def customer_record(self, name: str, index: int, created: datetime, joiner: bool) -> dict[str, Any]:
        rng = self.rng
        state = rng.choice(catalog.STATES)
        slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:18] or f"cust{index}"
        email: str | None = f"billing@{slug}.example.com"
        if rng.random() < 0.12:
            email = None
        if index in (3, 4):
            email = "accounts@shared-office.example.com"
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        addr = {
            "address_id": None,
            "customer_id": None,
            "first_name": first,
            "middle_initial": None,
            "last_name": last,
            "company_name": name,
            "line_1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
            "line_2": rng.choice((None, None, None, f"Suite {rng.randint(100, 900)}")),
            "city": state.city,
            "state_or_province": state.code,
            "postal_code": f"{state.postal_prefix}{rng.randint(0, 99):02d}",
            "postal_code_extension": None,
            "country_code": 235,
            "created_date": fmt(created),
            "modified_date": fmt(created),
        }
        account = None if rng.random() < 0.08 else f"{rng.randint(100000, 999999)}"
        while account is not None and account in self.accounts:  # Rev.io account numbers are unique
            account = f"{rng.randint(100000, 999999)}"
        if account is not None:
            self.accounts.add(account)
        profile_id = 1 if rng.random() < 0.75 else 2
        return {
            "customer_id": None,
            "parent_customer_id": None,
            "account_number": account,
            "activated_date": None,
            "agent_id": None,
            "secondary_agent_id": None,
            "close_date": None,
            "created_by": 1,
            "created_date": fmt(created),
            "updated_date": fmt(created),
            "email": email,
            "phone": f"({rng.randint(201, 989)}) 555-{rng.randint(0, 9999):04d}",
            "is_parent": False,
            "registration_code": None,
            "security_pin": None,
            "sold_by": None,
            "source": "DIRECT",
            "status": "PENDING" if joiner else "OPEN",
            "suspended": False,
            "suspended_date": None,
            "billing_address": addr,
            "service_address": dict(addr),
            "listing_address": None,
            "auto_debit": {"enabled": False, "day": None, "payment_account_id": None},
            "finance": {
                "amount_due": Decimal("0.00"),
                "amount_overdue": Decimal("0.00"),
                "bill_profile_id": profile_id,
                "billing_method": "EMAIL_ONLY" if email else "PRINT_ONLY",
                "balance": Decimal("0.00"),
                "balance_limit": None,
                "balance_limit_enabled": False,
                "due_date": None,
                "collection_template_id": 1,
                "contract_end_date": None,
                "contract_start_date": None,
                "cycle_date": None,
                "late_fees_enabled": False,
                "payment_terms_days": rng.choice((30, 30, 30, 15)),
                "tax_exempt_enabled": False,
                "tax_exempt_types": None,
                "usage_file_enabled": False,
                "usage_file_format": None,
                "payment_fees_enabled": False,
            },
            "profile": {"class": "Business", "date_of_birth": None, "language": "en", "tax_id": None},
            "fields": [
                {"field_id": 101, "label": "QBO Customer Id", "value": ""},
                {"field_id": 102, "label": "Collection Step", "value": ""},
            ],
        }

    def plan_services(self) -> list[tuple[int, int]]:
        rng = self.rng
        plan: list[tuple[int, int]] = []
        for pid, prob, lo, hi in (
            (101, 0.6, 3, 40),
            (102, 0.4, 2, 23),
            (103, 0.5, 1, 1),
            (104, 0.5, 1, 5),
            (105, 0.15, 1, 10),
        ):
            if rng.random() < prob:
                plan.append((pid, rng.randint(lo, hi)))
        if not plan:
            plan.append((101, rng.randint(2, 12)))
        for pid, prob, lo, hi in ((201, 0.8, 500, 20000), (202, 0.25, 50, 2000), (203, 0.3, 200, 8000)):
            if rng.random() < prob:
                plan.append((pid, rng.randint(lo, hi)))
        return plan

    def first_cycle(self, day: int, on_or_after: date) -> date:
        c = (
            on_or_after.replace(day=day)
            if on_or_after.day <= day
            else add_months(on_or_after.replace(day=day), 1)
        )
        return c

    def customers(self, with_activity: bool) -> None:
        rng = self.rng
        window_days = (self.end - self.start).days
        pending: list[tuple[datetime, str, int, bool, date]] = []
        for i, name in enumerate(self.names()):
            joiner = with_activity and window_days > 14 and rng.random() < 0.25
            if joiner:
                activation = self.start + timedelta(days=rng.randint(3, window_days - 8))
                created = self.at(activation - timedelta(days=rng.randint(2, 10)))
            else:
                created = self.at(self.start - timedelta(days=rng.randint(60, 900)))
                activation = created.date() + timedelta(days=3)
            pending.append((created, name, i, joiner, activation))
        for created, name, i, joiner, activation in sorted(pending, key=lambda p: (p[0], p[2])):
            rec = self.customer_record(name, i, created, joiner)
            prof = _Profile(
                record=rec,
                cycle_day=1 if rec["finance"]["bill_profile_id"] == 1 else 15,
                behaviour=rng.choices(BEHAVIOURS, _BEHAVIOUR_WEIGHTS)[0],
                method=rng.choice(_METHODS),
                activation=activation,
                joiner=joiner,
            )
            prof.recovers = rng.random() < 0.3
            if with_activity and not joiner and window_days > 20 and rng.random() < 0.1:
                prof.cancel_notice = self.start + timedelta(days=rng.randint(1, window_days - 5))
            if joiner:
                self.schedule(created, lambda at, p=prof: self.create_customer(p, at))
                self.schedule(self.at(activation), lambda at, p=prof: self.activate(p, at))
            else:
                self.create_customer(prof, created)
                self.activate(prof, datetime.combine(activation, time(9, 0)), existing=True)
            if prof.cancel_notice:
                self.schedule(self.at(prof.cancel_notice), lambda at, p=prof: self.cancel(p, at))

    def create_customer(self, prof: _Profile, at: datetime) -> None:
        rec = self.st.insert("customers", prof.record)
        for key in ("billing_address", "service_address"):
            rec[key]["customer_id"] = rec["customer_id"]
            rec[key]["address_id"] = rec["customer_id"] * 10 + (1 if key == "billing_address" else 2)
        self.profiles[rec["customer_id"]] = prof
        if prof.method in ("CREDIT_CARD", "ACH") and self.rng.random() < 0.5:
            rec["auto_debit"] = {"enabled": True, "day": 5, "payment_account_id": 5000 + rec["customer_id"]}

    def activate(self, prof: _Profile, at: datetime, existing: bool = False) -> None:
        rec = prof.record
        cid = rec["customer_id"]
        rec.update(
            status="OPEN",
            activated_date=fmt(at),
            updated_date=fmt(at) if not existing else rec["updated_date"],
        )
        rec["finance"]["cycle_date"] = fmt(self.first_cycle(prof.cycle_day, at.date()))
        first = self.first_cycle(prof.cycle_day, self.start)
        for pid, qty in self.plan_services():
            usage = pid >= 200
            billed = None
            if existing:
                billed = (add_months(first, -1) if usage else first) - timedelta(days=1)
            sp = self.st.add_service_product(
                cid, pid, qty, at.date() if not existing else prof.activation, at, billed_through=billed
            )
            prof.sps.append(sp["service_product_id"])
        if existing:
            return
        day = at.date()
        self.st.post_charge(
            cid, at, description="Installation", quantity=Decimal(1), rate=Decimal("250.00"),
            start=day, end=day, product_id=301,
        )  # fmt: skip
        self.st.post_charge(
            cid, at, description="Activation Fee", quantity=Decimal(1), rate=Decimal("49.99"),
            start=day, end=day, product_id=302,
        )  # fmt: skip
        if self.rng.random() < 0.5:
            self.st.post_credit(
                cid, at, amount=Decimal("49.99"), kind="promotion", product_id=302,
                description="Promotion: activation fee waived",
            )  # fmt: skip

    # ----------------------------------------------------------------- events
    def cancel(self, prof: _Profile, at: datetime) -> None:
        effective = at.date() + timedelta(days=self.rng.randint(10, 30))
        for sp_id in prof.sps:
            sp = self.st.tables["service_products"][sp_id]
            if sp["canceled_date"] is None:
                self.st.cancel_service(sp_id, effective, at)
        prof.record["updated_date"] = fmt(at)

    def billing_run(self, cycle: date, day: int, at: datetime) -> None:
        ids = [
            cid
            for cid, p in self.profiles.items()
            if p.cycle_day == day and p.record["status"] in ("OPEN", "CLOSED") and p.record["activated_date"]
        ]
        for bill_id in self.st.run_billing_cycle(cycle, at, self.rng, ids):
            self.after_bill(self.st.tables["bills"][bill_id], at)
        for cid in ids:
            self.profiles[cid].record["finance"]["cycle_date"] = fmt(add_months(cycle, 1))

    def after_bill(self, bill: dict[str, Any], at: datetime) -> None:
        rng = self.rng
        prof = self.profiles[bill["customer_id"]]
        due = bill["amount_due"]
        due_date = date.fromisoformat(bill["due_date"][:10])
        bill_id = bill["bill_id"]
        if due <= 0 or (prof.record["status"] == "CLOSED" and prof.behaviour == "delinquent"):
            return
        b = prof.behaviour
        if b == "prompt":
            self.schedule(
                self.at(at.date() + timedelta(days=rng.randint(2, 18))), self.payer(prof, bill_id, due)
            )
        elif b == "partial":
            part = q2(due * Decimal(rng.randint(40, 80)) / 100)
            self.schedule(
                self.at(at.date() + timedelta(days=rng.randint(8, 25))), self.payer(prof, bill_id, part)
            )
        elif b == "late":
            self.schedule(
                self.at(due_date + timedelta(days=rng.randint(3, 20))), self.payer(prof, bill_id, due)
            )
        elif b == "overpayer":
            over = due + Decimal(rng.randint(5, 60))
            self.schedule(
                self.at(at.date() + timedelta(days=rng.randint(3, 15))), self.payer(prof, bill_id, over, True)
            )
        elif b == "delinquent" and not prof.dunning_started:
            prof.dunning_started = True
            for i, (days, step) in enumerate(DUNNING):
                self.schedule(self.at(due_date + timedelta(days=days)), self.dunner(prof, step, i))
            self.schedule(self.at(due_date + timedelta(days=60)), lambda t, p=prof: self.write_off(p, t))

    def payer(
        self, prof: _Profile, bill_id: int | None, amount: Decimal, refund_excess: bool = False
    ) -> Callable:
        def pay(at: datetime) -> None:
            rng = self.rng
            method = prof.method
            if prof.record["auto_debit"]["enabled"]:
                source = "AUTO_DEBIT"
            else:
                source = {"CHECK": "LOCKBOX", "ACH": "PORTAL", "CREDIT_CARD": "PORTAL"}[method]
            received = at - timedelta(days=rng.randint(1, 3)) if method == "CHECK" else at
            ref = self.next_ref({"CHECK": "CHK", "ACH": "ACH", "CREDIT_CARD": "CC"}[method])
            auth = f"A{rng.randint(100000, 999999)}" if method == "CREDIT_CARD" else None
            p = self.st.post_payment(
                prof.record["customer_id"], at, amount=amount, method=method, bill_id=bill_id,
                received=received, reference_number=ref, source=source, authorization_code=auth,
            )  # fmt: skip
            if method in ("ACH", "CHECK") and rng.random() < 0.08:
                self.schedule(
                    at + timedelta(days=rng.randint(3, 6), hours=2), self.bouncer(prof, p["payment_id"])
                )
            elif refund_excess and p["balance"] > 0 and rng.random() < 0.6:
                excess = p["balance"]
                self.schedule(
                    at + timedelta(days=rng.randint(7, 14), hours=1),
                    lambda t, pid=p["payment_id"]: self.st.refund_payment(pid, t, excess),
                )

        return pay

    def bouncer(self, prof: _Profile, payment_id: int) -> Callable[[datetime], None]:
        def bounce(at: datetime) -> None:
            orig = self.st.tables["payments"][payment_id]
            self.st.bounce_payment(payment_id, at)
            prof.method = "CREDIT_CARD"  # the customer pays again by card
            if prof.behaviour != "delinquent":
                self.schedule(
                    at + timedelta(days=self.rng.randint(2, 6)),
                    self.payer(prof, orig["bill_id"], orig["amount"]),
                )

        return bounce

    def dunner(self, prof: _Profile, step: str, index: int) -> Callable[[datetime], None]:
        def dun(at: datetime) -> None:
            cid = prof.record["customer_id"]
            self.st.refresh_finance(cid, at)
            if prof.record["status"] == "CLOSED" or prof.record["finance"]["amount_overdue"] <= 0:
                return
            if prof.recovers and index == 2:  # pays everything just before suspension
                owed = prof.record["finance"]["amount_overdue"] + prof.record["finance"]["amount_due"]
                self.payer(prof, None, owed)(at)
                self.st.set_customer_status(cid, at, collection_step="", suspended=False)
                prof.dunning_started = False
                prof.behaviour = "late"
                return
            self.st.set_customer_status(cid, at, collection_step=step, suspended=True if index >= 2 else None)

        return dun

    def write_off(self, prof: _Profile, at: datetime) -> None:
        cid = prof.record["customer_id"]
        self.st.refresh_finance(cid, at)
        fin = prof.record["finance"]
        if prof.record["status"] == "CLOSED" or prof.behaviour != "delinquent" or fin["balance"] <= 0:
            return
        self.st.post_credit(
            cid, at, amount=fin["balance"], kind="bad_debt", description="Bad debt write-off (collections)",
        )  # fmt: skip
        for sp_id in prof.sps:
            if self.st.tables["service_products"][sp_id]["canceled_date"] is None:
                self.st.cancel_service(sp_id, at.date(), at)
        self.st.set_customer_status(cid, at, status="CLOSED", collection_step="Written Off")

    def monthly_noise(self, month_start: date) -> None:
        """Mid-month add-ons, NRCs, credits, disputes and on-account payments."""
        rng = self.rng
        for cid in sorted(self.profiles):
            prof = self.profiles[cid]
            if prof.record["status"] != "OPEN" or prof.cancel_notice:
                continue
            day = month_start + timedelta(days=rng.randint(3, 26))
            roll = rng.random()
            if roll < 0.05:
                self.schedule(self.at(day), lambda t, p=prof: self.add_on(p, t))
            elif roll < 0.13:
                self.schedule(self.at(day), lambda t, p=prof: self.service_credit(p, t))
            elif roll < 0.17:
                self.schedule(self.at(day), lambda t, p=prof: self.dispute(p, t))
            elif roll < 0.20:
                amt = Decimal(rng.randint(5, 25))
                self.schedule(
                    self.at(day),
                    lambda t, c=cid, a=amt: self.st.post_credit(
                        c, t, amount=a, kind="adjustment", description="Billing adjustment"
                    ),
                )
            elif roll < 0.24 and prof.behaviour != "delinquent":
                self.schedule(self.at(day), self.payer(prof, None, Decimal(rng.choice((50, 100, 150, 200)))))

    def add_on(self, prof: _Profile, at: datetime) -> None:
        cid = prof.record["customer_id"]
        sp = self.st.add_service_product(cid, 101, self.rng.randint(1, 5), at.date(), at)
        prof.sps.append(sp["service_product_id"])
        self.st.post_charge(
            cid, at, description="Activation Fee (new seats)", quantity=Decimal(1), rate=Decimal("49.99"),
            start=at.date(), end=at.date(), product_id=302,
        )  # fmt: skip

    def service_credit(self, prof: _Profile, at: datetime) -> None:
        sps = [
            self.st.tables["service_products"][s]
            for s in prof.sps
            if self.st.tables["service_products"][s]["product_id"] < 200
        ]
        if not sps:
            return
        sp = self.rng.choice(sps)
        amount = q2(sp["rate"] * sp["quantity"] * Decimal(self.rng.randint(5, 30)) / 100)
        if amount > 0:
            outage = at.date() - timedelta(days=self.rng.randint(1, 5))
            self.st.post_credit(
                prof.record["customer_id"], at, amount=amount, kind="service_credit",
                product_id=sp["product_id"], description=f"Outage credit - {sp['description']}",
                start=outage, end=outage,
            )  # fmt: skip

    def dispute(self, prof: _Profile, at: datetime) -> None:
        cid = prof.record["customer_id"]
        bills = [b for b in self.st.owned("bills", cid) if b["amount_due"] > 5]
        if not bills:
            return
        bill = max(bills, key=lambda b: b["bill_id"])
        amount = q2(bill["amount_due"] * Decimal(self.rng.randint(5, 30)) / 100)
        self.st.post_credit(
            cid, at, amount=amount, kind="dispute", bill_id=bill["bill_id"],
            description=f"Disputed charges on bill {bill['bill_id']}",
        )  # fmt: skip

    # ----------------------------------------------------------------- run
    def run(self, bills: bool) -> RevioDataset:
        self.catalog()
        self.customers(with_activity=bills)
        if bills:
            month = self.start.replace(day=1)
            while month < self.end:
                for day, minute in ((1, 14), (15, 31)):
                    cycle = month.replace(day=day)
                    if self.start <= cycle < self.end:
                        self.schedule(
                            datetime.combine(cycle, time(2, minute, 9)),
                            lambda t, c=cycle, d=day: self.billing_run(c, d, t),
                        )
                first_day = max(month, self.start)
                self.schedule(
                    datetime.combine(first_day, time(0, 30)), lambda t: self.monthly_noise(t.date())
                )
                month = add_months(month, 1)
            while self.heap:
                when, _, fn = heapq.heappop(self.heap)
                fn(when)
        clock = datetime.combine(self.end if bills else self.start, time(0, 0))
        for cid in self.st.tables["customers"]:
            self.st.refresh_finance(cid, clock)
        return self.st.to_dataset(clock=fmt(clock), copy=False)


def _many_names(rng: random.Random, count: int) -> list[str]:
    """``count`` > :data:`_BASIC_NAMES` distinct names: every basic name, then a seeded sample of
    "<adjective> <noun> <qualifier> <suffix>" names, then " - Branch <k>" copies of those if needed."""
    qualified = len(_ADJ) * len(_NOUN) * len(_QUALIFIER) * len(_SUFFIX)
    extra = count - _BASIC_NAMES
    space = qualified * -(-extra // qualified)
    out = [f"{a} {n} {s}" for a in _ADJ for n in _NOUN for s in _SUFFIX]
    for i in sorted(rng.sample(range(space), extra)):
        branch, j = divmod(i, qualified)
        j, s = divmod(j, len(_SUFFIX))
        j, q = divmod(j, len(_QUALIFIER))
        a, n = divmod(j, len(_NOUN))
        name = f"{_ADJ[a]} {_NOUN[n]} {_QUALIFIER[q]} {_SUFFIX[s]}"
        out.append(f"{name} - Branch {branch + 1}" if branch else name)
    return out


def generate(
    seed: int = 7, customers: int = 25, start: date = date(2026, 1, 1), months: int = 1, *, bills: bool = True
) -> RevioDataset:
    """A seeded tenant: ``customers`` customers and ``months`` months of billing from ``start``."""
    return _Sim(seed, customers, start, months).run(bills)
