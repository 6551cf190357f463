"""Entity catalogue: names, paths, kinds, known properties, required fields, length limits, references."""

from __future__ import annotations

from dataclasses import dataclass, field

COMMON = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})
ADDRESS = frozenset(
    {"Id", "Line1", "Line2", "Line3", "Line4", "Line5", "City", "Country", "CountryCode", "County"}
    | {"CountrySubDivisionCode", "PostalCode", "PostalCodeSuffix", "Lat", "Long", "Tag", "Note"}
)
REF = frozenset({"value", "name", "type"})


@dataclass(frozen=True)
class EntitySpec:
    """Static description of one QBO entity."""

    name: str
    kind: str  # "name" (name list), "txn" (transaction), "ref" (read-only reference data)
    fields: frozenset[str]
    required: tuple[str, ...] = ()
    lengths: dict[str, int] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    name_field: str = "Name"
    creatable: bool = True
    cdc: bool = True

    @property
    def path(self) -> str:
        return self.name.lower()


_PERSON = {
    "DisplayName": 500,
    "Title": 16,
    "Suffix": 16,
    "GivenName": 100,
    "MiddleName": 100,
    "FamilyName": 100,
    "CompanyName": 100,
    "PrintOnCheckName": 110,
}
_SALES = frozenset(
    {"CustomerRef", "Line", "DocNumber", "TxnDate", "PrivateNote", "CustomerMemo", "BillAddr", "ShipAddr"}
    | {"BillEmail", "BillEmailCc", "BillEmailBcc", "EmailStatus", "PrintStatus", "ClassRef", "DepartmentRef"}
    | {"TxnTaxDetail", "GlobalTaxCalculation", "ApplyTaxAfterDiscount", "CustomField", "TotalAmt", "Balance"}
    | {"HomeBalance", "HomeTotalAmt", "CurrencyRef", "ExchangeRate", "SalesTermRef", "LinkedTxn", "TxnSource"}
    | {"DepositToAccountRef", "PaymentMethodRef", "ShipFromAddr", "TransactionLocationType", "ProjectRef"}
    | {"TaxExemptionRef", "RecurDataRef", "ShipMethodRef", "ShipDate", "TrackingNum", "FreeFormAddress"}
)
_SALES_LEN = {"DocNumber": 21, "PrivateNote": 4000}
_SALES_REFS = {
    "CustomerRef": "Customer",
    "SalesTermRef": "Term",
    "ClassRef": "Class",
    "DepartmentRef": "Department",
}

SPECS: dict[str, EntitySpec] = {
    s.name: s
    for s in [
        EntitySpec(
            "Customer",
            "name",
            COMMON
            | frozenset(_PERSON)
            | {
                "ARAccountRef",
                "Active",
                "AlternatePhone",
                "Balance",
                "BalanceWithJobs",
                "BillAddr",
                "ShipAddr",
            }
            | {"BillWithParent", "CurrencyRef", "DefaultTaxCodeRef", "Fax", "FullyQualifiedName", "IsProject"}
            | {"Job", "Level", "Mobile", "Notes", "OpenBalanceDate", "ParentRef", "PaymentMethodRef"}
            | {"PreferredDeliveryMethod", "PrimaryEmailAddr", "PrimaryPhone", "PrimaryTaxIdentifier"}
            | {"ResaleNum", "SalesTermRef", "Taxable", "WebAddr", "TaxExemptionReasonId", "CustomerTypeRef"}
            | {"SecondaryTaxIdentifier", "ClientEntityId", "V4IDPseudonym", "Source"},
            lengths=_PERSON
            | {"Notes": 2000, "ResaleNum": 16, "PrimaryEmailAddr.Address": 100}
            | {"PrimaryPhone.FreeFormNumber": 30, "Mobile.FreeFormNumber": 30, "Fax.FreeFormNumber": 30}
            | {"WebAddr.URI": 1000},
            refs={"ParentRef": "Customer", "SalesTermRef": "Term", "PaymentMethodRef": "PaymentMethod"},
            name_field="DisplayName",
        ),
        EntitySpec(
            "Vendor",
            "name",
            COMMON
            | frozenset(_PERSON)
            | {"APAccountRef", "AcctNum", "Active", "AlternatePhone", "Balance", "BillAddr", "BillRate"}
            | {"CurrencyRef", "Fax", "Mobile", "PrimaryEmailAddr", "PrimaryPhone", "TaxIdentifier"}
            | {"TaxReportingBasis", "TermRef", "Vendor1099", "WebAddr", "CostRate", "OtherContactInfo"}
            | {"V4IDPseudonym", "Source", "GSTIN", "BusinessNumber", "HasTPAR", "VendorPaymentBankDetail"},
            lengths=_PERSON | {"AcctNum": 100, "TaxIdentifier": 20, "PrimaryEmailAddr.Address": 100},
            refs={"TermRef": "Term", "APAccountRef": "Account"},
            name_field="DisplayName",
        ),
        EntitySpec(
            "Employee",
            "name",
            COMMON
            | frozenset(_PERSON)
            | {
                "Active",
                "BillRate",
                "BillableTime",
                "BirthDate",
                "CostRate",
                "EmailAddress",
                "EmployeeNumber",
            }
            | {"Gender", "HiredDate", "Mobile", "Organization", "PrimaryAddr", "PrimaryEmailAddr"}
            | {"PrimaryPhone", "ReleasedDate", "SSN", "V4IDPseudonym", "OtherContactInfo"},
            lengths=_PERSON | {"EmployeeNumber": 100, "PrimaryEmailAddr.Address": 100},
            name_field="DisplayName",
        ),
        EntitySpec(
            "Item",
            "name",
            COMMON
            | {"AbatementRate", "Active", "AssetAccountRef", "Description", "ExpenseAccountRef", "ClassRef"}
            | {"FullyQualifiedName", "IncomeAccountRef", "InvStartDate", "ItemCategoryType", "Level", "Name"}
            | {"ParentRef", "PurchaseCost", "PurchaseDesc", "PurchaseTaxCodeRef", "PurchaseTaxIncluded"}
            | {"QtyOnHand", "ReverseChargeRate", "SalesTaxCodeRef", "SalesTaxIncluded", "ServiceType", "Sku"}
            | {"SubItem", "Taxable", "TrackQtyOnHand", "Type", "UnitPrice", "ReorderPoint", "PrefVendorRef"},
            required=("Name",),
            lengths={"Name": 100, "Description": 4000, "Sku": 100, "PurchaseDesc": 4000},
            refs={"IncomeAccountRef": "Account", "ExpenseAccountRef": "Account", "AssetAccountRef": "Account"}
            | {"ParentRef": "Item", "ClassRef": "Class"},
        ),
        EntitySpec(
            "Account",
            "name",
            COMMON
            | {"AccountSubType", "AccountType", "AcctNum", "Active", "Classification", "CurrencyRef"}
            | {"CurrentBalance", "CurrentBalanceWithSubAccounts", "Description", "FullyQualifiedName", "Name"}
            | {"ParentRef", "SubAccount", "TaxCodeRef", "Level", "TxnLocationType", "AccountAlias"},
            required=("Name",),
            lengths={"Name": 100, "Description": 100},  # AcctNum: settings.acct_num_max_len
            refs={"ParentRef": "Account"},
        ),
        EntitySpec(
            "Class",
            "name",
            COMMON | {"Active", "FullyQualifiedName", "Name", "ParentRef", "SubClass", "Level"},
            required=("Name",),
            lengths={"Name": 100},
            refs={"ParentRef": "Class"},
        ),
        EntitySpec(
            "Department",
            "name",
            COMMON | {"Active", "FullyQualifiedName", "Name", "ParentRef", "SubDepartment", "Level"},
            required=("Name",),
            lengths={"Name": 100},
            refs={"ParentRef": "Department"},
        ),
        EntitySpec(
            "Term",
            "name",
            COMMON
            | {"Active", "DayOfMonthDue", "DiscountDayOfMonth", "DiscountDays", "DiscountPercent", "DueDays"}
            | {"DueNextMonthDays", "Name", "Type"},
            required=("Name",),
            lengths={"Name": 31},
        ),
        EntitySpec(
            "PaymentMethod",
            "name",
            COMMON | {"Active", "Name", "Type"},
            required=("Name",),
            lengths={"Name": 31},
        ),
        EntitySpec(
            "TaxAgency",
            "name",
            COMMON
            | {"DisplayName", "TaxRegistrationNumber", "TaxTrackedOnPurchases", "TaxTrackedOnSales"}
            | {"TaxAgencyConfig", "Active"},
            required=("DisplayName",),
            lengths={"DisplayName": 100},
            name_field="DisplayName",
            cdc=False,
        ),
        EntitySpec(
            "TaxCode",
            "ref",
            COMMON
            | {"Active", "Description", "Name", "PurchaseTaxRateList", "SalesTaxRateList", "TaxGroup"}
            | {"Taxable", "Hidden", "TaxCodeConfigType"},
            creatable=False,
            cdc=False,
        ),
        EntitySpec(
            "TaxRate",
            "ref",
            COMMON
            | {"Active", "AgencyRef", "Description", "DisplayType", "EffectiveTaxRate", "Name", "RateValue"}
            | {"SpecialTaxType", "TaxReturnLineRef"},
            creatable=False,
            cdc=False,
        ),
        EntitySpec(
            "Invoice",
            "txn",
            COMMON
            | _SALES
            | {
                "DueDate",
                "Deposit",
                "AllowIPNPayment",
                "AllowOnlineACHPayment",
                "AllowOnlineCreditCardPayment",
            }
            | {"AllowOnlinePayment", "DeliveryInfo", "InvoiceLink", "EInvoiceStatus"},
            required=("CustomerRef", "Line"),
            lengths=_SALES_LEN,
            refs=_SALES_REFS | {"DepositToAccountRef": "Account"},
        ),
        EntitySpec(
            "CreditMemo",
            "txn",
            COMMON | _SALES | {"RemainingCredit", "InvoiceRef"},
            required=("CustomerRef", "Line"),
            lengths=_SALES_LEN,
            refs=_SALES_REFS | {"PaymentMethodRef": "PaymentMethod"},
        ),
        EntitySpec(
            "RefundReceipt",
            "txn",
            COMMON | _SALES | {"CheckPayment", "CreditCardPayment", "PaymentRefNum", "PaymentType"},
            required=("DepositToAccountRef", "Line"),
            lengths=_SALES_LEN | {"PaymentRefNum": 100},
            refs=_SALES_REFS | {"DepositToAccountRef": "Account", "PaymentMethodRef": "PaymentMethod"},
        ),
        EntitySpec(
            "SalesReceipt",
            "txn",
            COMMON
            | _SALES
            | {"CheckPayment", "CreditCardPayment", "PaymentRefNum", "PaymentType", "DeliveryInfo"},
            required=("Line",),
            lengths=_SALES_LEN | {"PaymentRefNum": 21},
            refs=_SALES_REFS | {"DepositToAccountRef": "Account", "PaymentMethodRef": "PaymentMethod"},
        ),
        EntitySpec(
            "Estimate",
            "txn",
            COMMON | _SALES | {"ExpirationDate", "TxnStatus", "AcceptedBy", "AcceptedDate", "DueDate"},
            required=("CustomerRef", "Line"),
            lengths=_SALES_LEN | {"AcceptedBy": 100},
            refs=_SALES_REFS,
        ),
        EntitySpec(
            "Payment",
            "txn",
            COMMON
            | {"ARAccountRef", "CreditCardPayment", "CurrencyRef", "CustomerRef", "DepositToAccountRef"}
            | {"ExchangeRate", "Line", "PaymentMethodRef", "PaymentRefNum", "PrivateNote", "TaxExemptionRef"}
            | {"TotalAmt", "TransactionLocationType", "TxnDate", "TxnSource", "TxnStatus", "UnappliedAmt"}
            | {"ProcessPayment", "DocNumber", "ProjectRef"},
            required=("CustomerRef", "TotalAmt"),
            lengths={"PrivateNote": 4000, "PaymentRefNum": 21},
            refs={"CustomerRef": "Customer", "DepositToAccountRef": "Account", "ARAccountRef": "Account"}
            | {"PaymentMethodRef": "PaymentMethod"},
        ),
        EntitySpec(
            "JournalEntry",
            "txn",
            COMMON
            | {"Adjustment", "CurrencyRef", "DocNumber", "ExchangeRate", "Line", "PrivateNote", "TotalAmt"}
            | {"TxnDate", "TxnTaxDetail", "HomeTotalAmt", "TxnSource", "TransactionLocationType"},
            required=("Line",),
            lengths={"DocNumber": 21, "PrivateNote": 4000},
        ),
    ]
}

BY_PATH: dict[str, EntitySpec] = {s.path: s for s in SPECS.values()}
BY_LOWER: dict[str, EntitySpec] = {s.name.lower(): s for s in SPECS.values()}
PERSON_ENTITIES = ("Customer", "Vendor", "Employee")
SALES_TXNS = ("Invoice", "CreditMemo", "RefundReceipt", "SalesReceipt", "Estimate")
OPEN_BALANCE_TXNS = ("Invoice", "CreditMemo")
DOCNUM_TXNS = ("Invoice", "CreditMemo", "RefundReceipt", "SalesReceipt", "Estimate", "JournalEntry")

LINE_FIELDS = frozenset({"Id", "LineNum", "Description", "Amount", "DetailType", "LinkedTxn", "CustomField"})
LINE_DETAILS: dict[str, frozenset[str]] = {
    "SalesItemLineDetail": frozenset(
        {"ItemRef", "ClassRef", "UnitPrice", "RatePercent", "PriceLevelRef", "MarkupInfo", "Qty"}
        | {"ItemAccountRef", "TaxCodeRef", "ServiceDate", "TaxInclusiveAmt", "DiscountRate", "DiscountAmt"}
        | {"TaxClassificationRef"}
    ),
    "DiscountLineDetail": frozenset(
        {"ClassRef", "Discount", "DiscountAccountRef", "DiscountPercent", "PercentBased", "TaxCodeRef"}
    ),
    "DescriptionLineDetail": frozenset({"ServiceDate", "TaxCodeRef"}),
    "SubTotalLineDetail": frozenset({"ItemRef"}),
    "JournalEntryLineDetail": frozenset(
        {"AccountRef", "BillableStatus", "ClassRef", "DepartmentRef", "Entity", "PostingType", "TaxAmount"}
        | {"TaxApplicableOn", "TaxCodeRef", "JournalCodeRef", "TaxInclusiveAmt"}
    ),
    "GroupLineDetail": frozenset({"GroupItemRef", "Quantity", "Line"}),
}
DETAIL_TYPES: dict[str, str] = {
    "SalesItemLineDetail": "SalesItemLineDetail",
    "DiscountLineDetail": "DiscountLineDetail",
    "DescriptionOnly": "DescriptionLineDetail",
    "SubTotalLineDetail": "SubTotalLineDetail",
    "JournalEntryLineDetail": "JournalEntryLineDetail",
    "GroupLineDetail": "GroupLineDetail",
}

ACCOUNT_CLASSIFICATION = {
    "Bank": "Asset",
    "Accounts Receivable": "Asset",
    "Other Current Asset": "Asset",
    "Fixed Asset": "Asset",
    "Other Asset": "Asset",
    "Accounts Payable": "Liability",
    "Credit Card": "Liability",
    "Other Current Liability": "Liability",
    "Long Term Liability": "Liability",
    "Equity": "Equity",
    "Income": "Revenue",
    "Other Income": "Revenue",
    "Cost of Goods Sold": "Expense",
    "Expense": "Expense",
    "Other Expense": "Expense",
    "Non-Posting": "Asset",
}
SUBTYPE_TO_TYPE = {
    "ServiceFeeIncome": "Income",
    "SalesOfProductIncome": "Income",
    "OtherPrimaryIncome": "Income",
    "DiscountsRefundsGiven": "Income",
    "UnappliedCashPaymentIncome": "Income",
    "AccountsReceivable": "Accounts Receivable",
    "UndepositedFunds": "Other Current Asset",
    "Checking": "Bank",
    "Savings": "Bank",
    "SalesTaxPayable": "Other Current Liability",
    "OtherCurrentLiabilities": "Other Current Liability",
    "OpeningBalanceEquity": "Equity",
    "RetainedEarnings": "Equity",
    "AccountsPayable": "Accounts Payable",
}
