"""Issue 15: python-quickbooks + intuit-oauth run against ``revqb sandbox serve`` as it starts by default.

Default settings means: the sample company, 0.15 s per request, Intuit's limits (10/s, 500/min, 10 in flight),
HTTPS with the generated CA (clients verify it through REQUESTS_CA_BUNDLE). Only the base URLs change.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.exceptions import QuickbooksException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.department import Department
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.employee import Employee
from quickbooks.objects.estimate import Estimate
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.payment import Payment, PaymentLine
from quickbooks.objects.paymentmethod import PaymentMethod
from quickbooks.objects.preferences import Preferences
from quickbooks.objects.refundreceipt import RefundReceipt
from quickbooks.objects.salesreceipt import SalesReceipt
from quickbooks.objects.taxagency import TaxAgency
from quickbooks.objects.taxcode import TaxCode
from quickbooks.objects.taxrate import TaxRate
from quickbooks.objects.taxservice import TaxRateDetails, TaxService
from quickbooks.objects.term import Term
from quickbooks.objects.trackingclass import Class
from quickbooks.objects.vendor import Vendor

from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.servers import SERVE_LATENCY_S, serve_settings
from revqb_sandbox.tls import TLSFiles, make_certificates

pytestmark = pytest.mark.slow


@dataclass
class Served:
    """The running sandbox (``serve`` defaults, HTTPS) and a python-quickbooks client for it."""

    served: ServedApp
    settings: QBOSandboxSettings
    tls: TLSFiles
    qb: QuickBooks

    def stats(self) -> dict:
        """This realm's ``/_admin/stats`` entry."""
        resp = httpx.get(f"{self.served.url}/_admin/stats", verify=str(self.tls.ca), timeout=10)
        return resp.json()["realms"][self.settings.realm_id]


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    _, settings = serve_settings()
    tls = make_certificates(tmp_path_factory.mktemp("tls"))
    served = serve_app(create_app(settings), tls=tls)
    saved = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = str(tls.ca)  # requests (intuit-oauth, python-quickbooks) verifies
    try:
        auth = AuthClient(
            settings.client_id,
            settings.client_secret,
            settings.redirect_uri,
            environment=f"{served.url}/.well-known/openid_sandbox_configuration",
        )
        qb = QuickBooks(
            auth_client=auth,
            refresh_token=settings.initial_refresh_token,
            company_id=settings.realm_id,
            minorversion=75,
        )
        qb.api_url_v3 = qb.sandbox_api_url_v3 = f"{served.url}/v3"  # the only change: the API base URL
        yield Served(served, settings, tls, qb)
    finally:
        if saved is None:
            os.environ.pop("REQUESTS_CA_BUNDLE", None)
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = saved
        served.stop()


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    return ref


def _line(item: Item, qty: int, price: str) -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = Decimal(price) * qty
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = qty
    line.SalesItemLineDetail.UnitPrice = Decimal(price)
    return line


def test_serve_defaults_are_realistic(sb: Served) -> None:
    assert sb.settings.request_latency_s == SERVE_LATENCY_S >= 0.12  # 1/0.12 s = 500/min
    assert (sb.settings.per_second, sb.settings.per_minute, sb.settings.max_concurrent) == (10, 500, 10)
    assert sb.served.url.startswith("https://")


def test_seeded_company_is_readable_and_queryable(sb: Served) -> None:
    qb = sb.qb
    vendors = Vendor.all(max_results=1000, qb=qb)
    assert len(vendors) == 10 and "Books by Bessie" in {v.DisplayName for v in vendors}
    assert [e.DisplayName for e in Employee.filter(EmployeeNumber="E-100", qb=qb)] == ["Emily Platt"]
    paid, partly, open_ = (Invoice.filter(DocNumber=d, qb=qb)[0] for d in ("1002", "1003", "1001"))
    assert (Decimal(str(paid.Balance)), Decimal(str(partly.Balance))) == (Decimal("0"), Decimal("40"))
    assert Decimal(str(open_.Balance)) == Decimal(str(open_.TotalAmt)) == Decimal("375")
    unapplied = [p for p in Payment.all(qb=qb) if Decimal(str(p.UnappliedAmt)) > 0]
    assert [Decimal(str(p.TotalAmt)) for p in unapplied] == [Decimal("100")]
    assert Decimal(str(CreditMemo.filter(DocNumber="CM-1008", qb=qb)[0].Balance)) == Decimal("50")
    assert {e.TxnStatus for e in Estimate.all(qb=qb)} == {"Pending", "Accepted"}
    assert len(SalesReceipt.all(qb=qb)) == len(RefundReceipt.all(qb=qb)) == 1
    assert len(JournalEntry.all(qb=qb)) == 1
    assert Item.filter(Name="Rock Fountain", qb=qb)[0].Sku == "RF-1002"
    assert {c.Name for c in Class.all(qb=qb)} >= {"Landscaping", "Maintenance"}
    assert len(Department.all(qb=qb)) == 2 and len(Term.all(qb=qb)) == 5
    assert (
        TaxAgency.all(qb=qb) and TaxRate.all(qb=qb) and {"TAX", "NON"} <= {c.Name for c in TaxCode.all(qb=qb)}
    )


def test_preferences_every_section_read_and_sparse_update(sb: Served) -> None:
    prefs = Preferences.get(qb=sb.qb)
    for section in Preferences.class_dict:
        assert getattr(prefs, section) is not None, section
    before = prefs.EmailMessagesPrefs.StatementMessage.Subject
    prefs.EmailMessagesPrefs.InvoiceMessage.Subject = "Your invoice from revqb"
    prefs.TimeTrackingPrefs.WorkWeekStartDate = "Sunday"
    saved = prefs.save(qb=sb.qb)  # python-quickbooks posts the whole object back
    assert saved.SyncToken == str(int(prefs.SyncToken) + 1)
    again = Preferences.get(qb=sb.qb)
    assert again.EmailMessagesPrefs.InvoiceMessage.Subject == "Your invoice from revqb"
    assert again.EmailMessagesPrefs.StatementMessage.Subject == before
    assert again.TimeTrackingPrefs.WorkWeekStartDate == "Sunday"
    sparse = {"Id": "1", "SyncToken": again.SyncToken, "sparse": True}
    sparse["VendorAndPurchasesPrefs"] = {"TrackingByCustomer": False}
    sb.qb.update_object("Preferences", __import__("json").dumps(sparse))
    final = Preferences.get(qb=sb.qb)
    assert final.VendorAndPurchasesPrefs.TrackingByCustomer is False
    assert final.TimeTrackingPrefs.WorkWeekStartDate == "Sunday"  # untouched by the sparse update


def test_vendor_and_employee_crud_and_display_name_uniqueness(sb: Served) -> None:
    qb = sb.qb
    vendor = Vendor()
    vendor.DisplayName = "Compat Vendor LLC"
    vendor.AcctNum = "ACCT-000123456789"  # longer than the documented 7, as the live service accepts
    vendor = vendor.save(qb=qb)
    assert Vendor.filter(DisplayName="Compat Vendor LLC", qb=qb)[0].Id == vendor.Id
    fetched = Vendor.get(vendor.Id, qb=qb)
    fetched.CompanyName = "Compat Vendor"
    fetched.Active = False
    updated = fetched.save(qb=qb)
    assert updated.SyncToken == "1" and updated.Active is False
    emp = Employee()
    emp.GivenName, emp.FamilyName = "Compat", "Worker"
    emp = emp.save(qb=qb)
    assert emp.DisplayName == "Compat Worker" and Employee.get(emp.Id, qb=qb).GivenName == "Compat"
    for cls, name in (
        (Vendor, "Amy's Bird Sanctuary"),
        (Customer, "Emily Platt"),
        (Employee, "Books by Bessie"),
    ):
        dup = cls()
        dup.DisplayName = name
        with pytest.raises(QuickbooksException) as info:
            dup.save(qb=qb)
        assert info.value.error_code == 6240
        assert "Another customer, vendor or employee is already using this name" in info.value.detail
    item = Item()
    item.Name, item.Type = "Gardening", "Service"
    item.IncomeAccountRef = Account.filter(Name="Services", qb=qb)[0].to_ref()
    with pytest.raises(QuickbooksException) as info:
        item.save(qb=qb)
    assert "Another product or service is already using this name" in info.value.detail


def test_name_lists_and_tax_service(sb: Served) -> None:
    qb = sb.qb
    acct = Account()
    acct.Name, acct.AccountSubType, acct.AcctNum = "Compat Income", "ServiceFeeIncome", "4000-0000-01"
    acct = acct.save(qb=qb)
    assert acct.AcctNum == "4000-0000-01" and acct.Classification == "Revenue"
    for cls, name in ((Class, "Compat Class"), (Department, "Compat Dept"), (Term, "Net 45")):
        obj = cls()
        obj.Name = name
        obj = obj.save(qb=qb)
        obj.Active = False
        assert obj.save(qb=qb).Active is False
    method = PaymentMethod()
    method.Name = "Wire"
    assert method.save(qb=qb).Type == "NON_CREDIT_CARD"
    agency = TaxAgency()
    agency.DisplayName = "Compat Telecom Tax Authority"
    agency = agency.save(qb=qb)
    service = TaxService()
    service.TaxCode = "Compat E911"
    detail = TaxRateDetails()
    detail.TaxRateName, detail.RateValue, detail.TaxAgencyId = "E911 Surcharge County", 1.5, agency.Id
    service.TaxRateDetails = [detail]
    created = service.save(qb=qb)
    assert created.TaxCodeId and TaxCode.get(created.TaxCodeId, qb=qb).Name == "Compat E911"


def test_transactions_crud_void_delete(sb: Served) -> None:
    qb = sb.qb
    cust = Customer.filter(DisplayName="Mark Cho", qb=qb)[0]
    gardening = Item.filter(Name="Gardening", qb=qb)[0]
    inv = Invoice()
    inv.CustomerRef, inv.DocNumber, inv.Line = cust.to_ref(), "COMPAT-1", [_line(gardening, 4, "25")]
    inv = inv.save(qb=qb)
    fetched = Invoice.get(inv.Id, qb=qb)
    fetched.PrivateNote = "updated"
    assert fetched.save(qb=qb).SyncToken == "1"
    pay = Payment()
    pay.CustomerRef, pay.TotalAmt = cust.to_ref(), Decimal("60")
    pline = PaymentLine()
    pline.Amount = Decimal("60")
    pline.LinkedTxn.append(inv.to_linked_txn())
    pay.Line = [pline]
    pay = pay.save(qb=qb)
    assert Decimal(str(Invoice.get(inv.Id, qb=qb).Balance)) == Decimal("40")
    Payment.get(pay.Id, qb=qb).void(qb=qb)
    assert Decimal(str(Invoice.get(inv.Id, qb=qb).Balance)) == Decimal("100")
    Payment.get(pay.Id, qb=qb).delete(qb=qb)
    Invoice.get(inv.Id, qb=qb).void(qb=qb)
    assert Decimal(str(Invoice.get(inv.Id, qb=qb).TotalAmt)) == 0
    Invoice.get(inv.Id, qb=qb).delete(qb=qb)
    assert Invoice.filter(DocNumber="COMPAT-1", qb=qb) == []
    receipt = SalesReceipt()
    receipt.CustomerRef, receipt.Line = cust.to_ref(), [_line(gardening, 2, "25")]
    receipt = receipt.save(qb=qb)
    assert Decimal(str(receipt.TotalAmt)) == Decimal("50") and receipt.DepositToAccountRef.name
    SalesReceipt.get(receipt.Id, qb=qb).void(qb=qb)
    assert Decimal(str(SalesReceipt.get(receipt.Id, qb=qb).TotalAmt)) == 0
    SalesReceipt.get(receipt.Id, qb=qb).delete(qb=qb)
    est = Estimate()
    est.CustomerRef, est.Line = cust.to_ref(), [_line(gardening, 1, "25")]
    est = est.save(qb=qb)
    est = Estimate.get(est.Id, qb=qb)
    est.TxnStatus = "Accepted"
    assert est.save(qb=qb).TxnStatus == "Accepted"
    Estimate.get(est.Id, qb=qb).delete(qb=qb)
    cm = CreditMemo()
    cm.CustomerRef, cm.Line = cust.to_ref(), [_line(gardening, 1, "25")]
    cm = cm.save(qb=qb)
    assert Decimal(str(cm.RemainingCredit)) == Decimal("25")
    CreditMemo.get(cm.Id, qb=qb).delete(qb=qb)
    rr = RefundReceipt()
    rr.CustomerRef, rr.Line = cust.to_ref(), [_line(gardening, 1, "25")]
    rr.DepositToAccountRef = Account.filter(Name="Checking", qb=qb)[0].to_ref()
    rr = rr.save(qb=qb)
    RefundReceipt.get(rr.Id, qb=qb).delete(qb=qb)
    je = JournalEntry()
    for posting, name in (("Debit", "Utilities"), ("Credit", "Checking")):
        jl = JournalEntryLine()
        jl.Amount = Decimal("12.34")
        jl.JournalEntryLineDetail = JournalEntryLineDetail()
        jl.JournalEntryLineDetail.PostingType = posting
        jl.JournalEntryLineDetail.AccountRef = Account.filter(Name=name, qb=qb)[0].to_ref()
        je.Line.append(jl)
    je = je.save(qb=qb)
    assert Decimal(str(je.TotalAmt)) == Decimal("12.34")
    JournalEntry.get(je.Id, qb=qb).delete(qb=qb)
    assert JournalEntry.filter(Id=je.Id, qb=qb) == []


def test_serial_client_never_sees_429(sb: Served) -> None:
    before = sb.stats()
    started = time.monotonic()
    for n in range(36):  # > 10 per second without the latency
        Customer.get(str(n % 5 + 1), qb=sb.qb)
    elapsed = time.monotonic() - started
    after = sb.stats()
    assert after["requests"] - before["requests"] >= 36
    assert after["throttled_429"] == before["throttled_429"] == 0  # nothing in this module was throttled
    assert 36 / elapsed < 10


def test_parallel_burst_sees_429_and_recovers(sb: Served) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def read() -> None:
        try:
            Customer.get("1", qb=sb.qb)
            result = "ok"
        except QuickbooksException as exc:
            result = str(exc.error_code)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=read) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 25 and 0 < outcomes.count("ok") <= 10
    assert outcomes.count("3001") == 25 - outcomes.count(
        "ok"
    )  # ThrottleExceeded, as python-quickbooks maps it
    assert sb.stats()["throttled_429"] == outcomes.count("3001")
    time.sleep(1.1)  # the per-second window passes
    assert Customer.get("1", qb=sb.qb).DisplayName == "Amy's Bird Sanctuary"


def test_ca_is_needed_to_talk_to_it(sb: Served) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sb.served.url}/.well-known/openid_sandbox_configuration", verify=True, timeout=5)
    ok = httpx.get(f"{sb.served.url}/.well-known/openid_sandbox_configuration", verify=str(sb.tls.ca))
    assert ok.json()["token_endpoint"].startswith(sb.served.url)
    assert Path(sb.tls.ca).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_error_texts_are_intuits(sb: Served) -> None:
    qb = sb.qb
    stale = Customer.filter(DisplayName="Kate Whelan", qb=qb)[0]
    fresh = Customer.get(stale.Id, qb=qb)
    fresh.Notes = "first"
    fresh.save(qb=qb)
    stale.Notes = "second"
    with pytest.raises(QuickbooksException) as info:
        stale.save(qb=qb)
    assert (info.value.error_code, info.value.message) == (5010, "Stale Object Error")
    assert info.value.detail.startswith("Stale Object Error : You and ")
    with pytest.raises(QuickbooksException) as info:
        Invoice.get("987654", qb=qb)
    assert (info.value.error_code, info.value.message) == (610, "Object Not Found")
    rules = [{"kind": "http_500", "count": 1}]
    httpx.post(f"{sb.served.url}/_admin/faults", json=rules, verify=str(sb.tls.ca), timeout=10)
    with pytest.raises(QuickbooksException) as info:
        Customer.get("1", qb=qb)
    assert info.value.error_code == 10000
    assert info.value.message == "An application error has occurred while processing your request"
    assert info.value.detail.startswith("System Failure Error: An unexpected error occurred")
