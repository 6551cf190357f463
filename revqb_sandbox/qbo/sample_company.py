"""The Intuit-style sample company of ``revqb sandbox serve``: people, items and transactions in every state.

Everything goes through the normal write path (so totals, balances and links are what the API computes),
then is back-dated like the rest of the seed.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.qbo import writes
from revqb_sandbox.qbo.common import Clock
from revqb_sandbox.qbo.entities import SPECS
from revqb_sandbox.qbo.seed import SEED_AGE
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.qbo.store import Obj, Realm
from revqb_sandbox.qbo.validation import WriteContext

CUSTOMERS = [
    ("Freeman Sporting Goods", "Sasha", "Tillou", "Sporting_goods@intuit.com", "370 Easy St.", "Middlefield"),
    ("Geeta Kalapatapu", "Geeta", "Kalapatapu", "Geeta@Kalapatapu.com", "1987 Main St.", "Middlefield"),
    ("Jeff's Jalopies", "Jeff", "Chin", "Jalopies@intuit.com", "12 Willow Rd.", "Menlo Park"),
    ("Kate Whelan", "Kate", "Whelan", "Kate@Whelan.com", "45 First St.", "Menlo Park"),
    ("Mark Cho", "Mark", "Cho", "Mark@Cho.com", "36 Willow Rd", "Menlo Park"),
    ("Paulsen Medical Supplies", "Kathy", "Paulsen", "Medical@intuit.com", "900 Main St.", "Middlefield"),
    (
        "Red Rock Diner",
        "Stephanie",
        "Martini",
        "qbwebsamplecompany@yahoo.com",
        "500 Red Rock Rd.",
        "Bayshore",
    ),
    ("Sushi by Katsuyuki", "Katsuyuki", "Yanagawa", "Sushi@intuit.com", "898 Elm St.", "Maplewood"),
    ("Travis Waldron", "Travis", "Waldron", "Travis@Waldron.com", "78 First St.", "Monlo Park"),
    ("Weiskopf Consulting", "Nicola", "Weiskopf", "Consulting@intuit.com", "45767 Nickel Ave.", "Bayshore"),
]
VENDORS = [
    ("Books by Bessie", "Bessie", "Williams", "Books@Intuit.com", True),
    ("Brosnahan Insurance Agency", "Nick", "Brosnahan", "", False),
    ("Cal Telephone", "", "", "", False),
    ("Computers by Jenni", "Jenni", "Winslow", "Msfixit@Intuit.com", True),
    ("Hicks Hardware", "Geoff", "Hicks", "", False),
    ("Lee Advertising", "", "", "", True),
    ("Norton Lumber and Building Materials", "Peter", "Norton", "Materials@intuit.com", False),
    ("PG&E", "", "", "utilities@noemail.com", False),
    ("Robertson & Associates", "", "", "", True),
    ("Tania's Nursery", "Tania", "Nursery", "plantqueen@taniasnursery.com", False),
]
EMPLOYEES = [("Emily", "Platt", "E-100", "2019-04-01"), ("John", "Johnson", "E-101", "2020-09-15")]
ITEMS = [  # name, type, price, sku, income account name
    ("Gardening", "Service", "25", "GARD-01", "Services"),
    ("Pest Control", "Service", "35", "PEST-01", "Services"),
    ("Trimming", "Service", "35", "TRIM-01", "Services"),
    ("Maintenance & Repair", "Service", "50", "MAINT-01", "Services"),
    ("Rock Fountain", "NonInventory", "275", "RF-1002", "Sales of Product Income"),
    ("Sprinkler Heads", "NonInventory", "2", "SH-0002", "Sales of Product Income"),
    ("Sod", "NonInventory", "10", "SOD-0001", "Sales of Product Income"),
]
CLASSES = ["Landscaping", "Maintenance", "Design Services"]
DEPARTMENTS = ["North Bay", "South Bay"]


class _Seeder:
    """Creates objects through :func:`writes.save` and remembers their ids by name."""

    def __init__(self, realm: Realm, settings: QBOSandboxSettings, clock: Clock) -> None:
        relaxed = settings.model_copy(update={"auto_apply_credit": False})
        self.ctx = WriteContext(realm, relaxed, clock)
        self.ids: dict[tuple[str, str], str] = {}

    def save(self, entity: str, body: Obj, key: str | None = None) -> Obj:
        obj = writes.save(self.ctx, SPECS[entity], body)
        if key:
            self.ids[(entity, key)] = obj["Id"]
        return obj

    def ref(self, entity: str, key: str) -> dict[str, str]:
        if (entity, key) in self.ids:
            return {"value": self.ids[(entity, key)]}
        name_field = SPECS[entity].name_field
        for oid, obj in self.ctx.realm.table(entity).items():
            if obj.get(name_field) == key:
                return {"value": oid}
        raise KeyError((entity, key))

    def line(self, item: str, qty: int, price: str, taxable: bool = False) -> Obj:
        amount = Decimal(price) * qty
        detail = {"ItemRef": self.ref("Item", item), "Qty": qty, "UnitPrice": Decimal(price)}
        detail["TaxCodeRef"] = {"value": "TAX" if taxable else "NON"}
        return {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}


def seed_sample_company(realm: Realm, settings: QBOSandboxSettings, clock: Clock) -> None:
    """Add the sample company's people, items and transactions to a realm that has the base seed."""
    s = _Seeder(realm, settings, clock)
    for name in CLASSES:
        s.save("Class", {"Name": name}, name)
    for name in DEPARTMENTS:
        s.save("Department", {"Name": name}, name)
    for display, given, family, email, line1, city in CUSTOMERS:
        body: dict[str, Any] = {"DisplayName": display, "CompanyName": display, "PrimaryEmailAddr": {}}
        body |= {"GivenName": given, "FamilyName": family, "SalesTermRef": s.ref("Term", "Net 30")}
        body["PrimaryEmailAddr"] = {"Address": email}
        body["BillAddr"] = {
            "Line1": line1,
            "City": city,
            "CountrySubDivisionCode": "CA",
            "PostalCode": "94303",
        }
        s.save("Customer", body, display)
    for display, given, family, email, is_1099 in VENDORS:
        body = {"DisplayName": display, "CompanyName": display, "Vendor1099": is_1099}
        body |= {k: v for k, v in (("GivenName", given), ("FamilyName", family)) if v}
        if email:
            body["PrimaryEmailAddr"] = {"Address": email}
        body["TermRef"] = s.ref("Term", "Net 30")
        s.save("Vendor", body, display)
    for given, family, number, hired in EMPLOYEES:
        body = {"GivenName": given, "FamilyName": family, "DisplayName": f"{given} {family}"}
        body |= {
            "EmployeeNumber": number,
            "HiredDate": hired,
            "BillableTime": True,
            "BillRate": Decimal("40"),
        }
        s.save("Employee", body, f"{given} {family}")
    for name, itype, price, sku, income in ITEMS:
        body = {"Name": name, "Type": itype, "UnitPrice": Decimal(price), "Sku": sku, "Description": name}
        body |= {"IncomeAccountRef": s.ref("Account", income), "Taxable": itype == "NonInventory"}
        s.save("Item", body, name)
    _transactions(s, clock)
    stamp = (clock.now() - SEED_AGE).isoformat(timespec="seconds")
    for table in realm.objects.values():
        for obj in table.values():
            obj["MetaData"] = {"CreateTime": stamp, "LastUpdatedTime": stamp}


def _transactions(s: _Seeder, clock: Clock) -> None:
    today = clock.now().date()

    def day(n: int) -> str:
        return (today - SEED_AGE + timedelta(days=n)).isoformat()

    cust = lambda name: s.ref("Customer", name)  # noqa: E731
    invoices = {
        "1001": (
            "Freeman Sporting Goods",
            [s.line("Gardening", 4, "25"), s.line("Rock Fountain", 1, "275", True)],
        ),
        "1002": ("Geeta Kalapatapu", [s.line("Pest Control", 2, "35"), s.line("Trimming", 3, "35")]),
        "1003": ("Jeff's Jalopies", [s.line("Maintenance & Repair", 2, "50")]),
        "1004": ("Mark Cho", [s.line("Sprinkler Heads", 20, "2", True), s.line("Sod", 15, "10", True)]),
        "1005": ("Red Rock Diner", [s.line("Gardening", 6, "25")]),
        "1006": ("Sushi by Katsuyuki", [s.line("Pest Control", 3, "35")]),
        "1007": ("Paulsen Medical Supplies", [s.line("Trimming", 5, "35")]),
    }
    made: dict[str, Obj] = {}
    for n, (doc, (name, lines)) in enumerate(invoices.items()):
        body = {"CustomerRef": cust(name), "DocNumber": doc, "TxnDate": day(n * 3), "Line": lines}
        body |= {"SalesTermRef": s.ref("Term", "Net 30"), "ClassRef": s.ref("Class", "Landscaping")}
        made[doc] = s.save("Invoice", body)

    def pay(name: str, total: str, applied: list[tuple[str, str, str]], ref: str, n: int) -> Obj:
        lines = [{"Amount": Decimal(a), "LinkedTxn": [{"TxnId": made[d]["Id"] if t == "Invoice" else d,
                                                      "TxnType": t}]} for t, d, a in applied]  # fmt: skip
        body = {"CustomerRef": cust(name), "TotalAmt": Decimal(total), "Line": lines, "TxnDate": day(n)}
        body |= {"PaymentRefNum": ref, "PaymentMethodRef": s.ref("PaymentMethod", "Check")}
        return s.save("Payment", body)

    pay("Geeta Kalapatapu", "175.00", [("Invoice", "1002", "175.00")], "5001", 25)  # fully paid
    pay("Jeff's Jalopies", "60.00", [("Invoice", "1003", "60.00")], "5002", 26)  # partly paid (40 open)
    pay("Red Rock Diner", "150.00", [("Invoice", "1005", "150.00")], "5003", 27)  # fully paid
    pay("Travis Waldron", "100.00", [], "5004", 28)  # unapplied (a customer credit)
    credit = s.save(
        "CreditMemo",
        {"CustomerRef": cust("Sushi by Katsuyuki"), "DocNumber": "CM-1006", "TxnDate": day(30)}
        | {"Line": [s.line("Pest Control", 1, "35")]},
    )
    pay(
        "Sushi by Katsuyuki",
        "0",
        [("Invoice", "1006", "35.00"), ("CreditMemo", credit["Id"], "35.00")],
        "",
        31,
    )
    s.save(
        "CreditMemo",
        {"CustomerRef": cust("Kate Whelan"), "DocNumber": "CM-1008", "TxnDate": day(32)}
        | {"Line": [s.line("Gardening", 2, "25")]},
    )  # open credit
    s.save(
        "Estimate",
        {"CustomerRef": cust("Weiskopf Consulting"), "DocNumber": "E-1001", "TxnDate": day(33)}
        | {"ExpirationDate": day(63), "Line": [s.line("Rock Fountain", 2, "275", True)]},
    )
    s.save(
        "Estimate",
        {"CustomerRef": cust("Paulsen Medical Supplies"), "DocNumber": "E-1002", "TxnDate": day(34)}
        | {"TxnStatus": "Accepted", "AcceptedBy": "Kathy Paulsen", "AcceptedDate": day(36)}
        | {"Line": [s.line("Maintenance & Repair", 4, "50")]},
    )
    s.save(
        "SalesReceipt",
        {"CustomerRef": cust("Kate Whelan"), "DocNumber": "SR-1001", "TxnDate": day(35)}
        | {"PaymentMethodRef": s.ref("PaymentMethod", "Visa"), "Line": [s.line("Trimming", 2, "35")]},
    )
    s.save(
        "RefundReceipt",
        {"CustomerRef": cust("Mark Cho"), "DocNumber": "RR-1001", "TxnDate": day(37)}
        | {"DepositToAccountRef": s.ref("Account", "Checking"), "PaymentRefNum": "1020"}
        | {"Line": [s.line("Sod", 2, "10")]},
    )
    je_lines = [
        ("Debit", "Utilities", "Vendor", "PG&E", "114.09"),
        ("Credit", "Accounts Payable (A/P)", "Vendor", "PG&E", "114.09"),
        ("Debit", "Office Expenses", "Employee", "Emily Platt", "61.99"),
        ("Credit", "Checking", "", "", "61.99"),
    ]
    lines = []
    for posting, account, etype, entity, amount in je_lines:
        detail: dict[str, Any] = {"PostingType": posting, "AccountRef": s.ref("Account", account)}
        if entity:
            detail["Entity"] = {"Type": etype, "EntityRef": s.ref(etype, entity)}
        lines.append({"Amount": Decimal(amount), "DetailType": "JournalEntryLineDetail"} | {
            "JournalEntryLineDetail": detail})  # fmt: skip
    s.save("JournalEntry", {"DocNumber": "JE-1001", "TxnDate": day(38), "Line": lines})
