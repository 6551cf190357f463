"""QBO sandbox contract tests: envelopes, entities, validation codes, updates, delete/void, payments, JEs."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from revqb_pipeline_tests._qbo_support import (
    QBO,
    customer,
    data,
    fault_code,
    invoice,
    line,
    sandbox,
)

pytestmark = pytest.mark.slow


def test_envelope_ids_numbers_and_headers(qbo: QBO) -> None:
    r = qbo.post("customer", {"DisplayName": "Acme Telecom LLC"}, minorversion="4")
    assert r.status_code == 200
    assert r.headers["intuit_tid"] and r.headers["content-type"].startswith("application/json")
    body = data(r)
    assert set(body) == {"Customer", "time"}
    cust = body["Customer"]
    assert isinstance(cust["Id"], str) and cust["SyncToken"] == "0" and cust["domain"] == "QBO"
    assert cust["MetaData"]["CreateTime"] == cust["MetaData"]["LastUpdatedTime"]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", body["time"])
    r = qbo.post(
        "invoice", {"CustomerRef": {"value": cust["Id"]}, "Line": [line("49.99", Qty=1, UnitPrice="49.99")]}
    )
    assert '"TotalAmt":49.99' in r.text and '"Amount":49.99' in r.text  # numbers, not strings
    inv = data(r)["Invoice"]
    assert inv["TotalAmt"] == Decimal("49.99") and inv["Balance"] == Decimal("49.99")


def test_seeded_company_looks_like_intuit_sandbox(qbo: QBO) -> None:
    names = {c["DisplayName"] for c in qbo.query("select * from Customer")["Customer"]}
    assert "Amy's Bird Sanctuary" in names
    accounts = {a["Name"]: a for a in qbo.query("select * from Account maxresults 1000")["Account"]}
    for name in (
        "Accounts Receivable (A/R)",
        "Undeposited Funds",
        "Checking",
        "Services",
        "Sales Tax Payable",
    ):
        assert name in accounts
    assert accounts["Deferred Revenue"]["AccountType"] == "Other Current Liability"
    assert "Opening Balance Equity" in accounts
    methods = {m["Name"] for m in qbo.query("select * from PaymentMethod")["PaymentMethod"]}
    assert {"Cash", "Check", "Visa", "MasterCard", "American Express", "Discover"} <= methods
    assert "ACH" not in methods
    assert "Net 30" in {t["Name"] for t in qbo.query("select * from Term")["Term"]}
    assert {"TAX", "NON"} <= {t["Id"] for t in qbo.query("select * from TaxCode")["TaxCode"]}
    assert {"Services", "Hours"} <= {i["Name"] for i in qbo.query("select * from Item")["Item"]}
    prefs = data(qbo.get("preferences"))["Preferences"]
    assert prefs["SalesFormsPrefs"]["CustomTxnNumbers"] is True
    assert prefs["SalesFormsPrefs"]["AutoApplyCredit"] is False
    assert "PartnerTaxEnabled" not in prefs["TaxPrefs"]
    info = data(qbo.get(f"companyinfo/{qbo.realm}"))["CompanyInfo"]
    assert info["Country"] == "US"
    assert qbo.query("select * from CompanyInfo")["CompanyInfo"][0]["Country"] == "US"
    assert qbo.read("TaxCode", "TAX")["Taxable"] is True


def test_required_length_and_unknown_property(qbo: QBO) -> None:
    assert fault_code(qbo.post("item", {"Type": "Service", "IncomeAccountRef": {"value": "15"}})) == "2020"
    assert fault_code(qbo.post("customer", {"DisplayName": "x" * 501})) == "2050"
    r = qbo.post("customer", {"DisplayName": "Ok", "Nickname": "nope"})
    assert r.status_code == 400 and fault_code(r) == "2010" and "Nickname" in r.text
    bad_line = line("10")
    bad_line["SalesItemLineDetail"]["Amount"] = 10
    r = qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [bad_line]})
    assert fault_code(r) == "2010" and "SalesItemLineDetail" in r.text
    r = qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [{"DetailType": "SubtotalLineDetail"}]})
    assert fault_code(r) == "2010"
    assert fault_code(qbo.post("invoice", {"CustomerRef": {"value": "1"}})) == "2020"
    assert fault_code(qbo.post("payment", {"CustomerRef": {"value": "1"}})) == "2020"
    assert fault_code(qbo.post("customer", {"Notes": "no name"})) == "6080"
    assert qbo.create("Customer", {"GivenName": "Jane", "FamilyName": "Doe"})["DisplayName"] == "Jane Doe"


def test_invalid_references(qbo: QBO) -> None:
    assert fault_code(qbo.post("invoice", {"CustomerRef": {"value": "999"}, "Line": [line("1")]})) == "2500"
    item = qbo.create("Item", {"Name": "Old", "Type": "Service", "IncomeAccountRef": {"value": "15"}})
    qbo.create("Item", {"Id": item["Id"], "SyncToken": "0", "Name": "Old", "sparse": True, "Active": False})
    r = qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line("1", item=item["Id"])]})
    assert fault_code(r) == "610"
    assert fault_code(qbo.get("invoice/424242")) == "610"


def test_display_name_unique_across_people_including_inactive(qbo: QBO) -> None:
    first = customer(qbo, "Acme Telecom")
    r = qbo.post("customer", {"DisplayName": "ACME telecom"})
    assert r.status_code == 400 and fault_code(r) == "6240"
    assert f"Id={first['Id']}" in data(r)["Fault"]["Error"][0]["Detail"]
    qbo.create("Customer", {"Id": first["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert fault_code(qbo.post("customer", {"DisplayName": "Acme Telecom"})) == "6240"
    assert fault_code(qbo.post("vendor", {"DisplayName": "Acme Telecom"})) == "6240"
    assert fault_code(qbo.post("item", {"Name": "services", "IncomeAccountRef": {"value": "15"}})) == "6240"


def test_docnumber_duplicates_and_override(qbo: QBO) -> None:
    invoice(qbo, "1", DocNumber="RV-1")
    r = qbo.post("invoice", {"CustomerRef": {"value": "2"}, "DocNumber": "RV-1", "Line": [line("5")]})
    assert fault_code(r) == "6140" and "RV-1" in r.text
    dup = qbo.create(
        "Invoice",
        {"CustomerRef": {"value": "2"}, "DocNumber": "RV-1", "Line": [line("5")]},
        include="allowduplicatedocnum",
    )
    assert dup["DocNumber"] == "RV-1"
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": "1"}, "DocNumber": "RV-1", "Line": [line("5")]})
    assert cm["DocNumber"] == "RV-1"  # per transaction type
    assert fault_code(
        qbo.post("invoice", {"CustomerRef": {"value": "1"}, "DocNumber": "x" * 22, "Line": []})
    ) in {
        "2050",
        "2020",
    }
    assert "DocNumber" not in invoice(qbo, "1")  # CustomTxnNumbers on: no auto number
    assert invoice(qbo, "1", DocNumber="AUTO_GENERATE")["DocNumber"].isdigit()


def test_line_math_tax_codes_and_negative_lines(qbo: QBO) -> None:
    r = qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line("100", Qty=3, UnitPrice=50)]})
    assert fault_code(r) == "6070" and data(r)["Fault"]["Error"][0]["element"] == "Line.Amount"
    ok = invoice(qbo, "1", Line=[line("1.00", Qty=3, UnitPrice="0.33333"), line("7.5", Qty=0, UnitPrice=0)])
    assert ok["TotalAmt"] == Decimal("8.50")
    assert fault_code(qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line("-5")]})) == "2290"
    r = qbo.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [line("5", TaxCodeRef={"value": "2"})]})
    assert fault_code(r) == "6100"
    taxed = invoice(
        qbo, "1", Line=[line("10", TaxCodeRef={"value": "TAX"})], TxnTaxDetail={"TotalTax": "0.83"}
    )
    assert taxed["TotalAmt"] == Decimal("10.83")


def test_server_computed_invoice_fields(qbo: QBO) -> None:
    inv = invoice(
        qbo, "1", Line=[line("60", Qty=2, UnitPrice=30), line("40.005")], SalesTermRef={"value": "4"}
    )
    lines = inv["Line"]
    assert [ln.get("Id") for ln in lines] == ["1", "2", None]
    assert lines[-1] == {
        "Amount": Decimal("100.01"),
        "DetailType": "SubTotalLineDetail",
        "SubTotalLineDetail": {},
    }
    assert inv["TotalAmt"] == inv["Balance"] == Decimal("100.01")
    assert lines[0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Services"
    assert inv["CustomerRef"]["name"] == "Amy's Bird Sanctuary"
    from datetime import date, timedelta

    assert date.fromisoformat(inv["DueDate"]) - date.fromisoformat(inv["TxnDate"]) == timedelta(days=30)


def test_sparse_full_update_and_stale_synctoken(qbo: QBO) -> None:
    cust = customer(qbo, "Sparse Co", Notes="keep me", CompanyName="Sparse")
    upd = qbo.create("Customer", {"Id": cust["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "New"})
    assert upd["SyncToken"] == "1" and upd["Notes"] == "keep me" and upd["CompanyName"] == "New"
    full = qbo.create("Customer", {"Id": cust["Id"], "SyncToken": "1", "DisplayName": "Sparse Co"})
    assert "Notes" not in full and full["SyncToken"] == "2"
    r = qbo.post("customer", {"Id": cust["Id"], "SyncToken": "1", "sparse": True, "Notes": "late"})
    assert fault_code(r) == "5010"
    assert (
        fault_code(qbo.post("customer", {"Id": "99999", "SyncToken": "0", "DisplayName": "Ghost"})) == "610"
    )
    r = qbo.post("term", {"Id": "4", "SyncToken": "0", "sparse": True, "Active": False})
    assert fault_code(r) == "2020" and "Name" in r.text
    inv = invoice(qbo, "1", Line=[line("10"), line("20")])
    kept = inv["Line"][1]
    upd_inv = qbo.create(
        "Invoice", {"Id": inv["Id"], "SyncToken": inv["SyncToken"], "sparse": True, "Line": [kept, line("5")]}
    )
    assert [ln.get("Id") for ln in upd_inv["Line"]] == ["2", "3", None]
    assert upd_inv["TotalAmt"] == Decimal("25.00")


def test_delete_and_void(qbo: QBO) -> None:
    inv = invoice(qbo, "1", DocNumber="DEL-1")
    r = qbo.post("invoice", {"Id": inv["Id"], "SyncToken": "0"}, operation="delete")
    assert data(r)["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": inv["Id"]}
    assert fault_code(qbo.get(f"invoice/{inv['Id']}")) == "610"
    assert qbo.query("select * from Invoice where DocNumber = 'DEL-1'") == {}
    assert fault_code(qbo.post("customer", {"Id": "1", "SyncToken": "0"}, operation="delete")) == "500"
    inv2 = invoice(qbo, "1", "75.00", PrivateNote="memo")
    assert fault_code(qbo.post("invoice", {"Id": inv2["Id"]}, operation="delete")) == "2020"
    voided = data(qbo.post("invoice", {"Id": inv2["Id"], "SyncToken": "0"}, operation="void"))["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and "Voided" in voided["PrivateNote"]
    assert voided["SyncToken"] == "1" and voided["Line"][0]["Amount"] == 0


def test_payments_apply_overpay_void_and_delete(qbo: QBO) -> None:
    cust = customer(qbo, "Payer")
    inv = invoice(qbo, cust["Id"], "100.00")
    pay = qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": "130.00",
            "Line": [{"Amount": "100.00", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert pay["UnappliedAmt"] == Decimal("30.00")
    assert pay["DepositToAccountRef"]["value"]  # Undeposited Funds by default
    inv_now = qbo.read("Invoice", inv["Id"])
    assert inv_now["Balance"] == 0 and inv_now["LinkedTxn"] == [{"TxnId": pay["Id"], "TxnType": "Payment"}]
    assert qbo.read("Customer", cust["Id"])["Balance"] == Decimal("-30.00")
    voided = data(qbo.post("payment", {"Id": pay["Id"], "SyncToken": "0", "sparse": True}, operation="update",
                           include="void"))["Payment"]  # fmt: skip
    assert voided["TotalAmt"] == 0 and "Voided" in voided["PrivateNote"]
    assert qbo.read("Invoice", inv["Id"])["Balance"] == Decimal("100.00")
    assert qbo.read("Customer", cust["Id"])["Balance"] == Decimal("100.00")
    pay2 = qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": "40",
            "Line": [{"Amount": "40", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert qbo.read("Invoice", inv["Id"])["Balance"] == Decimal("60.00")
    qbo.post("payment", {"Id": pay2["Id"], "SyncToken": "0"}, operation="delete")
    assert qbo.read("Invoice", inv["Id"])["Balance"] == Decimal("100.00")


def test_payment_validation(qbo: QBO) -> None:
    cust = customer(qbo, "Strict")
    inv = invoice(qbo, cust["Id"], "50.00")
    link = [{"TxnId": inv["Id"], "TxnType": "Invoice"}]
    r = qbo.post(
        "payment",
        {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 60, "Line": [{"Amount": 60, "LinkedTxn": link}]},
    )
    assert fault_code(r) == "6000"
    missing = [{"TxnId": "98765", "TxnType": "Invoice"}]
    r = qbo.post(
        "payment",
        {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": missing}]},
    )
    assert fault_code(r) == "610"
    other = invoice(qbo, "1", "10.00")
    wrong = [{"TxnId": other["Id"], "TxnType": "Invoice"}]
    r = qbo.post(
        "payment",
        {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 5, "Line": [{"Amount": 5, "LinkedTxn": wrong}]},
    )
    assert fault_code(r) == "620"
    unapplied = qbo.create("Payment", {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": "12.34"})
    assert unapplied["UnappliedAmt"] == Decimal("12.34")


def test_credit_memo_applied_with_zero_payment(qbo: QBO) -> None:
    cust = customer(qbo, "Credited")
    inv = invoice(qbo, cust["Id"], "100.00")
    cm = qbo.create("CreditMemo", {"CustomerRef": {"value": cust["Id"]}, "Line": [line("25.00")]})
    assert cm["TotalAmt"] == cm["RemainingCredit"] == Decimal("25.00")
    assert qbo.read("Customer", cust["Id"])["Balance"] == Decimal("75.00")
    qbo.create(
        "Payment",
        {
            "CustomerRef": {"value": cust["Id"]},
            "TotalAmt": 0,
            "Line": [
                {"Amount": "25.00", "LinkedTxn": [{"TxnId": inv["Id"], "TxnType": "Invoice"}]},
                {"Amount": "25.00", "LinkedTxn": [{"TxnId": cm["Id"], "TxnType": "CreditMemo"}]},
            ],
        },
    )
    assert qbo.read("Invoice", inv["Id"])["Balance"] == Decimal("75.00")
    assert qbo.read("CreditMemo", cm["Id"])["RemainingCredit"] == 0
    assert qbo.read("Customer", cust["Id"])["Balance"] == Decimal("75.00")


def _je_line(amount: str, posting: str, account: str, **detail: object) -> dict[str, object]:
    return {
        "DetailType": "JournalEntryLineDetail",
        "Amount": amount,
        "JournalEntryLineDetail": {"PostingType": posting, "AccountRef": {"value": account}, **detail},
    }


def test_journal_entries(qbo: QBO) -> None:
    accounts = {a["Name"]: a["Id"] for a in qbo.query("select * from Account maxresults 1000")["Account"]}
    deferred, services, ar = (
        accounts["Deferred Revenue"],
        accounts["Services"],
        accounts["Accounts Receivable (A/R)"],
    )
    je = qbo.create(
        "JournalEntry",
        {
            "DocNumber": "REVREC-2025-01",
            "Line": [_je_line("10.00", "Debit", deferred), _je_line("10", "Credit", services)],
        },
    )
    assert je["TotalAmt"] == Decimal("10.00") and [ln["Id"] for ln in je["Line"]] == ["1", "2"]
    r = qbo.post(
        "journalentry", {"Line": [_je_line("10", "Debit", deferred), _je_line("9.99", "Credit", services)]}
    )
    assert fault_code(r) == "2300"
    r = qbo.post("journalentry", {"Line": [_je_line("10", "Debit", ar), _je_line("10", "Credit", services)]})
    assert fault_code(r) == "6000" and "customer" in r.text
    entity = {"Type": "Customer", "EntityRef": {"value": "1"}}
    ok = qbo.create(
        "JournalEntry",
        {"Line": [_je_line("10", "Debit", ar, Entity=entity), _je_line("10", "Credit", services)]},
    )
    assert ok["Line"][0]["JournalEntryLineDetail"]["Entity"]["EntityRef"]["name"] == "Amy's Bird Sanctuary"
    r = qbo.post(
        "journalentry",
        {
            "DocNumber": "REVREC-2025-01",
            "Line": [_je_line("1", "Debit", deferred), _je_line("1", "Credit", services)],
        },
    )
    assert fault_code(r) == "6140"
    r = qbo.post(
        "journalentry", {"Line": [_je_line("1", "Debit", "9999"), _je_line("1", "Credit", services)]}
    )
    assert fault_code(r) == "2500"


def test_refund_receipt_and_tax_service(qbo: QBO) -> None:
    assert (
        fault_code(qbo.post("refundreceipt", {"CustomerRef": {"value": "1"}, "Line": [line("5")]})) == "2020"
    )
    rr = qbo.create(
        "RefundReceipt",
        {"CustomerRef": {"value": "1"}, "DepositToAccountRef": {"value": "1"}, "Line": [line("5")]},
    )
    assert rr["TotalAmt"] == Decimal("5.00") and rr["Balance"] == 0
    r = qbo.post(
        "taxservice/taxcode",
        {
            "TaxCode": "Telecom",
            "TaxRateDetails": [{"TaxRateName": "E911", "RateValue": "1.5", "TaxAgencyId": "1"}],
        },
    )
    body = data(r)
    assert (
        body["TaxCode"] == "Telecom" and body["TaxCodeId"] and body["TaxRateDetails"][0]["TaxAgencyId"] == "1"
    )
    assert qbo.read("TaxRate", body["TaxRateDetails"][0]["TaxRateId"])["RateValue"] == Decimal("1.5")
    assert fault_code(qbo.post("taxcode", {"Name": "X"})) == "500"


def test_auto_apply_credit_setting() -> None:
    with sandbox(auto_apply_credit=True) as (client, _):
        cust = customer(client, "Auto Applied")
        inv = invoice(client, cust["Id"], "40.00")
        cm = client.create("CreditMemo", {"CustomerRef": {"value": cust["Id"]}, "Line": [line("50.00")]})
        assert cm["RemainingCredit"] == Decimal("10.00")
        assert client.read("Invoice", inv["Id"])["Balance"] == 0
        later = invoice(client, cust["Id"], "25.00")
        assert later["Balance"] == Decimal("15.00")
        assert client.read("Customer", cust["Id"])["Balance"] == Decimal("15.00")
        assert client.query("select count(*) from Payment")["totalCount"] == 2
