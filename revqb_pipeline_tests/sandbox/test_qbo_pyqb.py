"""python-quickbooks 0.9.12 + intuit-oauth against the QBO sandbox, changing only base URLs.

requests-oauthlib refuses plain-HTTP URLs unless OAUTHLIB_INSECURE_TRANSPORT is set, so this module sets it
(the sandbox is loopback-only HTTP).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from intuitlib.client import AuthClient
from quickbooks import QuickBooks
from quickbooks.batch import batch_create
from quickbooks.cdc import change_data_capture
from quickbooks.exceptions import QuickbooksException, ValidationException
from quickbooks.objects.account import Account
from quickbooks.objects.base import Ref
from quickbooks.objects.creditmemo import CreditMemo
from quickbooks.objects.customer import Customer
from quickbooks.objects.detailline import SalesItemLine, SalesItemLineDetail
from quickbooks.objects.invoice import Invoice
from quickbooks.objects.item import Item
from quickbooks.objects.journalentry import JournalEntry, JournalEntryLine, JournalEntryLineDetail
from quickbooks.objects.payment import Payment, PaymentLine

from revqb_pipeline_tests._qbo_support import RELAXED
from revqb_sandbox.harness import serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings

pytestmark = pytest.mark.slow

os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.fixture(scope="module")
def qb() -> Iterator[QuickBooks]:
    settings = QBOSandboxSettings(**RELAXED)
    served = serve_app(create_app(settings))
    auth = AuthClient(
        settings.client_id,
        settings.client_secret,
        settings.redirect_uri,
        environment=f"{served.url}/.well-known/openid_sandbox_configuration",
    )
    client = QuickBooks(
        auth_client=auth,
        refresh_token=settings.initial_refresh_token,
        company_id=settings.realm_id,
        minorversion=75,
    )
    client.api_url_v3 = client.sandbox_api_url_v3 = f"{served.url}/v3"  # the only change: the API base URL
    yield client
    served.stop()


def _ref(value: str) -> Ref:
    ref = Ref()
    ref.value = value
    return ref


def _sales_line(amount: str, item: Item, qty: int = 0, price: str = "0") -> SalesItemLine:
    line = SalesItemLine()
    line.Amount = Decimal(amount)
    line.SalesItemLineDetail = SalesItemLineDetail()
    line.SalesItemLineDetail.ItemRef = item.to_ref()
    line.SalesItemLineDetail.Qty = qty
    line.SalesItemLineDetail.UnitPrice = Decimal(price)
    return line


def _service_item(qb: QuickBooks) -> Item:
    return Item.filter(Name="Services", qb=qb)[0]


def test_customers_create_query_update_and_duplicate(qb: QuickBooks) -> None:
    cust = Customer()
    cust.DisplayName = "PyQB Customer"
    cust.CompanyName = "PyQB Inc"
    saved = cust.save(qb=qb)
    assert saved.Id and saved.SyncToken == "0"
    found = Customer.filter(DisplayName="PyQB Customer", qb=qb)
    assert [c.Id for c in found] == [saved.Id]
    fetched = Customer.get(saved.Id, qb=qb)
    fetched.CompanyName = "PyQB Renamed"
    updated = fetched.save(qb=qb)  # full update of everything python-quickbooks read back
    assert updated.CompanyName == "PyQB Renamed" and updated.SyncToken == "1"
    assert Customer.count(qb=qb) >= 6
    assert any(c.DisplayName == "Amy's Bird Sanctuary" for c in Customer.all(qb=qb))
    assert Customer.where("DisplayName LIKE 'PyQB%'", qb=qb)[0].Id == saved.Id
    dup = Customer()
    dup.DisplayName = "PyQB Customer"
    with pytest.raises(QuickbooksException) as info:
        dup.save(qb=qb)
    assert info.value.error_code == 6240


def test_items_and_accounts(qb: QuickBooks) -> None:
    income = Account.filter(Name="Services", qb=qb)[0]
    item = Item()
    item.Name = "Hosted PBX Seat"
    item.Type = "Service"
    item.IncomeAccountRef = income.to_ref()
    item.UnitPrice = Decimal("49.99")
    saved = item.save(qb=qb)
    assert saved.Id and Decimal(str(saved.UnitPrice)) == Decimal("49.99")
    assert "Hosted PBX Seat" in [i.Name for i in Item.all(qb=qb)]  # SELECT *, Sku FROM Item
    bad = Item()
    bad.Name = "No Account"
    bad.Type = "Service"
    with pytest.raises(ValidationException) as info:
        bad.save(qb=qb)
    assert info.value.error_code == 2020


def test_invoice_lifecycle_with_request_id(qb: QuickBooks) -> None:
    services = _service_item(qb)
    cust = Customer.filter(DisplayName="Cool Cars", qb=qb)[0]
    inv = Invoice()
    inv.CustomerRef = cust.to_ref()
    inv.DocNumber = "PYQB-1"
    inv.Line = [_sales_line("100.00", services, qty=2, price="50")]
    first = inv.save(qb=qb, request_id="pyqb-inv-1")
    again = Invoice()
    again.CustomerRef = cust.to_ref()
    again.DocNumber = "PYQB-1"
    again.Line = [_sales_line("100.00", services, qty=2, price="50")]
    replay = again.save(qb=qb, request_id="pyqb-inv-1")
    assert replay.Id == first.Id and replay.SyncToken == first.SyncToken
    assert len(Invoice.filter(DocNumber="PYQB-1", qb=qb)) == 1
    assert float(first.TotalAmt) == 100.0 and float(first.Balance) == 100.0
    fetched = Invoice.get(first.Id, qb=qb)
    fetched.PrivateNote = "updated through python-quickbooks"
    updated = fetched.save(qb=qb)  # re-posts the SubTotal line and read-only fields
    assert updated.SyncToken == "1" and float(updated.TotalAmt) == 100.0
    Invoice.get(first.Id, qb=qb).void(qb=qb)
    voided = Invoice.get(first.Id, qb=qb)
    assert float(voided.TotalAmt) == 0 and float(voided.Balance) == 0 and "Voided" in voided.PrivateNote
    other = Invoice()
    other.CustomerRef = cust.to_ref()
    other.Line = [_sales_line("10", services)]
    other = other.save(qb=qb)
    other.delete(qb=qb)
    assert Invoice.filter(Id=other.Id, qb=qb) == []


def test_payment_apply_and_void(qb: QuickBooks) -> None:
    cust = Customer.filter(DisplayName="Diego Rodriguez", qb=qb)[0]
    inv = Invoice()
    inv.CustomerRef = cust.to_ref()
    inv.Line = [_sales_line("80.00", _service_item(qb))]
    inv = inv.save(qb=qb)
    pay = Payment()
    pay.CustomerRef = cust.to_ref()
    pay.TotalAmt = Decimal("50.00")
    pline = PaymentLine()
    pline.Amount = Decimal("50.00")
    pline.LinkedTxn.append(inv.to_linked_txn())
    pay.Line = [pline]
    pay = pay.save(qb=qb)
    assert float(Invoice.get(inv.Id, qb=qb).Balance) == 30.0
    Payment.get(pay.Id, qb=qb).void(qb=qb)
    assert float(Invoice.get(inv.Id, qb=qb).Balance) == 80.0
    assert "Voided" in Payment.get(pay.Id, qb=qb).PrivateNote


def test_credit_memo_and_journal_entry(qb: QuickBooks) -> None:
    cust = Customer.filter(DisplayName="Bill's Windsurf Shop", qb=qb)[0]
    cm = CreditMemo()
    cm.CustomerRef = cust.to_ref()
    cm.Line = [_sales_line("12.50", _service_item(qb))]
    cm = cm.save(qb=qb)
    assert float(cm.TotalAmt) == 12.5 and float(cm.RemainingCredit) == 12.5
    accounts = {a.Name: a for a in Account.all(max_results=1000, qb=qb)}
    je = JournalEntry()
    je.DocNumber = "REVREC-2025-02"
    for posting, account in (("Debit", "Deferred Revenue"), ("Credit", "Services")):
        jl = JournalEntryLine()
        jl.Amount = Decimal("300.00")
        jl.JournalEntryLineDetail = JournalEntryLineDetail()
        jl.JournalEntryLineDetail.PostingType = posting
        jl.JournalEntryLineDetail.AccountRef = accounts[account].to_ref()
        je.Line.append(jl)
    je = je.save(qb=qb)
    assert je.Id and float(je.TotalAmt) == 300.0
    JournalEntry.get(je.Id, qb=qb).delete(qb=qb)
    assert JournalEntry.filter(DocNumber="REVREC-2025-02", qb=qb) == []


def test_batch_create_and_cdc(qb: QuickBooks) -> None:
    customers = []
    for name in ("Batch PyQB 1", "Batch PyQB 2", "Amy's Bird Sanctuary"):
        c = Customer()
        c.DisplayName = name
        customers.append(c)
    result = batch_create(customers, qb=qb)
    assert sorted(c.DisplayName for c in result.successes) == ["Batch PyQB 1", "Batch PyQB 2"]
    assert len(result.faults) == 1 and result.faults[0].Error[0].code == "6240"
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")  # naive = company zone
    cdc = change_data_capture([Customer, Invoice], since, qb=qb)
    assert "Batch PyQB 1" in [c.DisplayName for c in cdc.Customer]
