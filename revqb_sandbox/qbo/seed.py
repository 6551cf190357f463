"""A fresh realm that looks like an Intuit US sandbox company."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from revqb_sandbox.qbo.common import Clock
from revqb_sandbox.qbo.entities import ACCOUNT_CLASSIFICATION
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.qbo.store import Obj, Realm

ACCOUNTS: list[tuple[str, str, str]] = [
    ("Checking", "Bank", "Checking"),
    ("Savings", "Bank", "Savings"),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    ("Inventory Asset", "Other Current Asset", "Inventory"),
    ("Prepaid Expenses", "Other Current Asset", "PrepaidExpenses"),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable"),
    ("Sales Tax Payable", "Other Current Liability", "SalesTaxPayable"),
    ("Deferred Revenue", "Other Current Liability", "OtherCurrentLiabilities"),
    ("Loan Payable", "Other Current Liability", "LoanPayable"),
    ("Payroll Liabilities", "Other Current Liability", "PayrollTaxPayable"),
    ("Notes Payable", "Long Term Liability", "NotesPayable"),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity"),
    ("Retained Earnings", "Equity", "RetainedEarnings"),
    ("Services", "Income", "ServiceFeeIncome"),
    ("Sales of Product Income", "Income", "SalesOfProductIncome"),
    ("Discounts given", "Income", "DiscountsRefundsGiven"),
    ("Unapplied Cash Payment Income", "Income", "UnappliedCashPaymentIncome"),
    ("Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    ("Advertising", "Expense", "AdvertisingPromotional"),
    ("Bank Charges", "Expense", "BankCharges"),
    ("Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses"),
    ("Utilities", "Expense", "Utilities"),
    ("Interest Earned", "Other Income", "InterestEarned"),
]
TERMS = [("Due on receipt", 0), ("Net 10", 10), ("Net 15", 15), ("Net 30", 30), ("Net 60", 60)]
PAYMENT_METHODS = [
    ("Cash", "NON_CREDIT_CARD"),
    ("Check", "NON_CREDIT_CARD"),
    ("Visa", "CREDIT_CARD"),
    ("MasterCard", "CREDIT_CARD"),
    ("American Express", "CREDIT_CARD"),
    ("Discover", "CREDIT_CARD"),
    ("Diners Club", "CREDIT_CARD"),
]
CUSTOMERS = [
    (
        "Amy's Bird Sanctuary",
        "Amy",
        "Lauterbach",
        "Birds@Intuit.com",
        "4581 Finch St.",
        "Bayshore",
        "CA",
        "94326",
    ),
    (
        "Bill's Windsurf Shop",
        "Bill",
        "Lucchini",
        "Surf@Intuit.com",
        "12 Ocean Dr.",
        "Half Moon Bay",
        "CA",
        "94213",
    ),
    (
        "Cool Cars",
        "Grace",
        "Pariente",
        "Cool_Cars@intuit.com",
        "65 Ocean Dr.",
        "Half Moon Bay",
        "CA",
        "94213",
    ),
    (
        "Diego Rodriguez",
        "Diego",
        "Rodriguez",
        "Diego@Rodriguez.com",
        "321 Channing",
        "Palo Alto",
        "CA",
        "94303",
    ),
    (
        "Dukes Basketball Camp",
        "Peter",
        "Dukes",
        "Dukes_bball@intuit.com",
        "25 Court St.",
        "Tucson",
        "AZ",
        "85719",
    ),
]
ITEMS = [("Services", "0"), ("Hours", "0"), ("Design", "75"), ("Installation", "50")]


SEED_AGE = timedelta(days=90)


def _meta(clock: Clock) -> dict[str, str]:
    """Seed data predates the 30-day CDC window (as in a sandbox company created earlier)."""
    stamp = (clock.now() - SEED_AGE).isoformat(timespec="seconds")
    return {"CreateTime": stamp, "LastUpdatedTime": stamp}


def _add(realm: Realm, entity: str, obj: Obj, clock: Clock, obj_id: str | None = None) -> Obj:
    oid = obj_id or realm.next_id(entity)
    full: dict[str, Any] = {"Id": oid, "SyncToken": "0", "domain": "QBO", "sparse": False}
    full.update(obj)
    full["MetaData"] = _meta(clock)
    realm.table(entity)[oid] = full
    return full


def seed_realm(realm: Realm, settings: QBOSandboxSettings, clock: Clock) -> None:
    """Populate ``realm`` with reference data (and sample customers/items unless ``settings.empty``)."""
    by_subtype: dict[str, str] = {}
    for name, atype, subtype in ACCOUNTS:
        acct = _add(
            realm,
            "Account",
            {
                "Name": name,
                "SubAccount": False,
                "FullyQualifiedName": name,
                "Active": True,
                "Classification": ACCOUNT_CLASSIFICATION[atype],
                "AccountType": atype,
                "AccountSubType": subtype,
                "CurrentBalance": Decimal("0"),
                "CurrentBalanceWithSubAccounts": Decimal("0"),
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
            },
            clock,
        )
        by_subtype.setdefault(subtype, acct["Id"])
    for name, days in TERMS:
        _add(realm, "Term", {"Name": name, "Active": True, "Type": "STANDARD", "DueDays": days}, clock)
    for name, ptype in PAYMENT_METHODS:
        _add(realm, "PaymentMethod", {"Name": name, "Active": True, "Type": ptype}, clock)
    agency = _add(
        realm,
        "TaxAgency",
        {"DisplayName": "California Department of Tax and Fee Administration", "TaxTrackedOnSales": True}
        | {"TaxTrackedOnPurchases": False},
        clock,
    )
    rate = _add(
        realm,
        "TaxRate",
        {"Name": "California", "Description": "Sales Tax", "Active": True, "RateValue": Decimal("8")}
        | {"AgencyRef": {"value": agency["Id"]}, "SpecialTaxType": "NONE", "DisplayType": "ReadOnly"},
        clock,
    )
    _add(
        realm,
        "TaxCode",
        {"Name": "TAX", "Description": "TAX", "Taxable": True, "TaxGroup": False},
        clock,
        "TAX",
    )
    _add(
        realm,
        "TaxCode",
        {"Name": "NON", "Description": "NON", "Taxable": False, "TaxGroup": False},
        clock,
        "NON",
    )
    _add(
        realm,
        "TaxCode",
        {"Name": "California", "Description": "California", "Active": True, "Taxable": True, "TaxGroup": True}
        | {
            "SalesTaxRateList": {
                "TaxRateDetail": [
                    {
                        "TaxRateRef": {"value": rate["Id"], "name": "California"},
                        "TaxTypeApplicable": "TaxOnAmount",
                    }
                    | {"TaxOrder": 0}
                ]
            },
            "PurchaseTaxRateList": {"TaxRateDetail": []},
        },
        clock,
    )
    realm.preferences = _preferences(settings, clock)
    realm.company_info = _company_info(realm.realm_id, clock)
    if settings.empty:
        return
    for display, given, family, email, line1, city, state, postal in CUSTOMERS:
        addr = {"Line1": line1, "City": city, "CountrySubDivisionCode": state, "PostalCode": postal}
        _add(
            realm,
            "Customer",
            {
                "DisplayName": display,
                "GivenName": given,
                "FamilyName": family,
                "FullyQualifiedName": display,
                "PrintOnCheckName": display,
                "Active": True,
                "Taxable": True,
                "Job": False,
                "BillWithParent": False,
                "PrimaryEmailAddr": {"Address": email},
                "BillAddr": addr,
                "Balance": Decimal("0"),
                "BalanceWithJobs": Decimal("0"),
                "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
                "PreferredDeliveryMethod": "Print",
            },
            clock,
        )
    income = by_subtype["ServiceFeeIncome"]
    for name, price in ITEMS:
        _add(
            realm,
            "Item",
            {
                "Name": name,
                "Description": name,
                "Active": True,
                "FullyQualifiedName": name,
                "Taxable": False,
                "UnitPrice": Decimal(price),
                "Type": "Service",
                "IncomeAccountRef": {"value": income, "name": "Services"},
                "PurchaseCost": Decimal("0"),
                "TrackQtyOnHand": False,
            },
            clock,
        )
    if settings.sample_company:
        from revqb_sandbox.qbo.sample_company import seed_sample_company

        seed_sample_company(realm, settings, clock)


COMPANY_NAME = "Sandbox Company_US_1"


def _custom_fields(prefix: str, kind: str) -> list[Obj]:
    """The two custom-field groups Intuit returns: three Use* booleans and three (empty) names."""
    uses = [
        {"Name": f"{prefix}.Use{kind}Custom{n}", "Type": "BooleanType", "BooleanValue": False}
        for n in (1, 2, 3)
    ]
    names = [
        {"Name": f"{prefix}.{kind}CustomName{n}", "Type": "StringType", "StringValue": ""} for n in (1, 2, 3)
    ]
    return [{"CustomField": uses}, {"CustomField": names}]


def _email_message(doc: str, body: str) -> Obj:
    return {
        "Subject": f"{doc} from {COMPANY_NAME}",
        "Message": f"{body}\r\nThank you for your business - we appreciate it very much.\r\n\r\n"
        f"Sincerely,\r\n{COMPANY_NAME}",
    }


def _preferences(settings: QBOSandboxSettings, clock: Clock) -> Obj:
    """Every section Intuit returns for a US company (US defaults; revqb behaviour switches from settings)."""
    tax_prefs: dict[str, Any] = {"UsingSalesTax": True}
    if settings.partner_tax_enabled is not None:
        tax_prefs["PartnerTaxEnabled"] = settings.partner_tax_enabled
    pay_soon = "Your invoice is attached.  Please remit payment at your earliest convenience."
    return {
        "Id": "1",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "AccountingInfoPrefs": {
            "FirstMonthOfFiscalYear": "January",
            "UseAccountNumbers": False,
            "TaxYearMonth": "January",
            "ClassTrackingPerTxn": False,
            "ClassTrackingPerTxnLine": False,
            "TrackDepartments": False,
            "DepartmentTerminology": "Location",
            "TaxForm": "6",
            "CustomerTerminology": "Customers",
        },
        "ProductAndServicesPrefs": {
            "ForSales": True,
            "ForPurchase": True,
            "QuantityWithPriceAndRate": True,
            "QuantityOnHand": True,
            "RevenueRecognitionEnabled": False,
            "RevenueRecognitionFrequency": "Monthly",
        },
        "SalesFormsPrefs": {
            "CustomField": _custom_fields("SalesFormsPrefs", "Sales"),
            "CustomTxnNumbers": settings.custom_txn_numbers,
            "AllowDeposit": False,
            "AllowDiscount": True,
            "DefaultDiscountAccount": "",
            "AllowEstimates": True,
            "EstimateMessage": "",
            "AllowShipping": False,
            "AllowServiceDate": False,
            "AutoApplyCredit": settings.auto_apply_credit,
            "AutoApplyPayments": True,
            "DefaultTerms": {"value": "4"},
            "DefaultCustomerMessage": "Thank you for your business and have a great day!",
            "EmailCopyToCompany": False,
            "IPNSupportEnabled": False,
            "PrintItemWithZeroAmount": False,
            "UsingPriceLevels": False,
            "UsingProgressInvoicing": False,
            "ETransactionEnabledStatus": "NotApplicable",
            "ETransactionAttachPDF": False,
            "ETransactionPaymentEnabled": False,
            "SalesEmailBcc": {"Address": ""},
            "SalesEmailCc": {"Address": ""},
        },
        "EmailMessagesPrefs": {
            "InvoiceMessage": _email_message("Invoice", pay_soon),
            "EstimateMessage": _email_message(
                "Estimate",
                "Please review the estimate below.  Feel free to contact us if you have any questions.",
            ),
            "SalesReceiptMessage": _email_message("Sales Receipt", "Your sales receipt is attached."),
            "StatementMessage": _email_message(
                "Statement", "Your statement is attached.  Please remit payment at your earliest convenience."
            ),
        },
        "VendorAndPurchasesPrefs": {
            "TrackingByCustomer": True,
            "BillableExpenseTracking": True,
            "DefaultTerms": {"value": "4"},
            "DefaultMarkup": 0,
            "TPAREnabled": False,
            "POCustomField": _custom_fields("PurchasePrefs", "Purchase"),
        },
        "TimeTrackingPrefs": {
            "UseServices": True,
            "BillCustomers": True,
            "ShowBillRateToAll": False,
            "WorkWeekStartDate": "Monday",
            "MarkTimeEntriesBillable": True,
        },
        "TaxPrefs": tax_prefs,
        "CurrencyPrefs": {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}},
        "ReportPrefs": {"ReportBasis": "Accrual", "CalcAgingReportFromTxnDate": False},
        "OtherPrefs": {
            "NameValue": [
                {"Name": "SalesFormsPrefs.DefaultCustomerMessage", "Value": "Thank you for your business!"},
                {"Name": "SalesFormsPrefs.DefaultItem", "Value": "1"},
                {"Name": "DTXCopyMemo", "Value": "false"},
                {"Name": "UncategorizedAssetAccountId", "Value": "1"},
                {"Name": "UncategorizedIncomeAccountId", "Value": "15"},
                {"Name": "UncategorizedExpenseAccountId", "Value": "22"},
                {"Name": "MasAccountId", "Value": ""},
                {"Name": "SFCEnabled", "Value": "false"},
                {"Name": "DataPartner", "Value": "false"},
                {"Name": "Vendor1099Enabled", "Value": "true"},
                {"Name": "TimeTrackingFeatureEnabled", "Value": "true"},
                {"Name": "ProjectsEnabled", "Value": "true"},
                {"Name": "DateFormat", "Value": "Month Date Year separated by a slash"},
                {"Name": "DateFormatMnemonic", "Value": "MMDDYYYY_SEP_SLASH"},
                {"Name": "NumberFormat", "Value": "US Number Format"},
                {"Name": "NumberFormatMnemonic", "Value": "US_NB"},
                {"Name": "WarnDuplicateCheckNumber", "Value": "true"},
                {"Name": "WarnDuplicateBillNumber", "Value": "false"},
                {
                    "Name": "WarnDuplicateJournalNumber",
                    "Value": str(settings.warn_duplicate_journal_number).lower(),
                },
                {"Name": "SignoutInactiveMinutes", "Value": "60"},
                {"Name": "AccountingInfoPrefs.ShowAccountNumbers", "Value": "false"},
            ]
        },
        "MetaData": _meta(clock),
    }


def _company_info(realm_id: str, clock: Clock) -> Obj:
    addr = {"Id": "1", "Line1": "123 Sierra Way", "City": "San Pablo", "CountrySubDivisionCode": "CA"}
    return {
        "Id": "1",
        "SyncToken": "0",
        "domain": "QBO",
        "sparse": False,
        "CompanyName": COMPANY_NAME,
        "LegalName": COMPANY_NAME,
        "CompanyAddr": addr | {"PostalCode": "87999"},
        "LegalAddr": addr | {"PostalCode": "87999"},
        "Country": "US",
        "Email": {"Address": "noreply@quickbooks.com"},
        "FiscalYearStartMonth": "January",
        "SupportedLanguages": "en",
        "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}],
        "CompanyStartDate": clock.today(),
        "MetaData": _meta(clock),
        "RealmId": realm_id,
    }
