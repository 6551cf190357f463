"""The pure drift comparison (issue 14): mapped fields only, money exact, symbols resolved via ids."""

from __future__ import annotations

from decimal import Decimal

from revqb_pipeline.mapping.config import DriftConfig
from revqb_pipeline.mapping.drift import compare, money_text, posted_body, symbols_in

IDS = {"revio-customer:5": "58", "revio-bill:9": "101"}
INVOICE = {
    "DocNumber": "RV-9",
    "TxnDate": "2026-01-01",
    "DueDate": "2026-01-31",
    "CustomerRef": {"value": "revio-customer:5"},
    "Line": [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": Decimal("10.10"),
            "SalesItemLineDetail": {"ItemRef": {"value": "item:PBX"}},
        },
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": Decimal("0.20"),
            "SalesItemLineDetail": {"ItemRef": {"value": "item:Tax"}},
        },
    ],
    "PrivateNote": "revio:bill:9",
}


def _qbo_invoice(**over):
    doc = {
        "Id": "101",
        "SyncToken": "3",
        "DocNumber": "RV-9",
        "TxnDate": "2026-01-01",
        "DueDate": "2026-01-31",
        "CustomerRef": {"value": "58", "name": "Acme"},
        "Line": [
            {
                "Id": "1",
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("10.1"),
                "SalesItemLineDetail": {"ItemRef": {"value": "3"}},
            },
            {
                "Id": "2",
                "DetailType": "SalesItemLineDetail",
                "Amount": Decimal("0.2"),
                "SalesItemLineDetail": {"ItemRef": {"value": "4"}},
            },
            {"DetailType": "SubTotalLineDetail", "Amount": Decimal("10.3"), "SubTotalLineDetail": {}},
        ],
        "TotalAmt": Decimal("10.30"),
        "Balance": Decimal("0"),
        "PrivateNote": "revio:bill:9",
    }
    return doc | over


def test_the_same_document_is_no_drift_whatever_qbo_computed() -> None:
    assert compare("Invoice", INVOICE, _qbo_invoice(Balance=Decimal("3"), SyncToken="9"), IDS) is None


def test_an_amount_edit_names_field_from_and_to_exactly() -> None:
    doc = _qbo_invoice(TotalAmt=Decimal("10.29"))
    doc["Line"][1] = {**doc["Line"][1], "Amount": Decimal("0.19")}
    found = compare("Invoice", INVOICE, doc, IDS)
    assert found is not None and found.kind == "changed"
    assert [(c.field, c.posted, c.current) for c in found.changes] == [
        ("TotalAmt", "10.30", "10.29"),
        ("Line[2].Amount", "0.20", "0.19"),
    ]


def test_customer_ref_compared_through_the_ledger_ids_items_only_when_known() -> None:
    found = compare("Invoice", INVOICE, _qbo_invoice(CustomerRef={"value": "77"}), IDS)
    assert found is not None and [(c.field, c.posted, c.current) for c in found.changes] == [
        ("CustomerRef", "58", "77")
    ]
    assert (
        compare("Invoice", INVOICE, _qbo_invoice(CustomerRef={"value": "77"}), {}) is None
    )  # not resolvable


def test_voided_and_deleted() -> None:
    voided = _qbo_invoice(TotalAmt=Decimal("0"), PrivateNote="Voided - revio:bill:9")
    for line in voided["Line"]:
        line["Amount"] = Decimal("0")
    found = compare("Invoice", INVOICE, voided, IDS)
    assert found is not None and found.kind == "voided"
    assert ("TotalAmt", "10.30", "0.00") in [(c.field, c.posted, c.current) for c in found.changes]
    gone = compare("Invoice", INVOICE, {"Id": "101", "status": "Deleted"}, IDS)
    assert gone is not None and gone.kind == "deleted"
    assert compare("Invoice", INVOICE, None, IDS) == gone


def test_payment_amount_and_applied_invoice() -> None:
    posted = {
        "CustomerRef": {"value": "revio-customer:5"},
        "TotalAmt": Decimal("25.00"),
        "TxnDate": "2026-01-05",
        "Line": [
            {"Amount": Decimal("25.00"), "LinkedTxn": [{"TxnId": "revio-bill:9", "TxnType": "Invoice"}]}
        ],
    }
    link = {"Amount": Decimal("25"), "LinkedTxn": [{"TxnId": "101", "TxnType": "Invoice"}]}
    doc = {"Id": "200", "CustomerRef": {"value": "58"}, "TotalAmt": Decimal("25"), "TxnDate": "2026-01-05"}
    doc["Line"] = [link]
    assert compare("Payment", posted, doc, IDS) is None
    moved = {
        **doc,
        "TotalAmt": Decimal("35"),
        "Line": [{"Amount": Decimal("25"), "LinkedTxn": [{"TxnId": "102", "TxnType": "Invoice"}]}],
    }
    found = compare("Payment", posted, moved, IDS)
    assert found is not None
    assert [(c.field, c.posted, c.current) for c in found.changes] == [
        ("TotalAmt", "25.00", "35.00"),
        ("LinkedTxn", "Invoice 101: 25.00", "Invoice 102: 25.00"),
    ]


def test_customer_rename_but_not_notes_or_a_collision_suffix() -> None:
    posted = {"DisplayName": "Acme", "PrimaryEmailAddr": {"Address": "a@x.io"}, "Notes": "revio:account:5"}
    doc = {
        "Id": "58",
        "DisplayName": "Acme",
        "PrimaryEmailAddr": {"Address": "a@x.io"},
        "Notes": "revio:status: x",
    }
    assert compare("Customer", posted, doc, {}) is None
    assert compare("Customer", posted, {**doc, "DisplayName": "Acme (Rev.io 5)"}, {}) is None
    found = compare("Customer", posted, {**doc, "DisplayName": "ACME Corp"}, {})
    assert found is not None and [(c.field, c.posted, c.current) for c in found.changes] == [
        ("DisplayName", "Acme", "ACME Corp")
    ]
    assert found.fingerprint("Customer", "58") == compare(
        "Customer", posted, {**doc, "DisplayName": "ACME Corp"}, {}
    ).fingerprint("Customer", "58")


def test_helpers() -> None:
    assert money_text(Decimal("5")) == "5.00" and money_text("0.125") == "0.125" and money_text(None) is None
    assert posted_body({"decision": "fold", "body": None}) is None
    assert posted_body({"decision": "post", "body": {"TotalAmt": 1}}) == {"TotalAmt": 1}
    assert symbols_in(INVOICE) == ["revio-customer:5"]
    assert DriftConfig().policy_for("Invoice") == "report"
    assert DriftConfig(default="report", entities={"Invoice": "restore"}).policy_for("Invoice") == "restore"


def test_journal_entry_lines_and_posting_types() -> None:
    def line(amount: str, posting: str, account: str) -> dict:
        detail = {"PostingType": posting, "AccountRef": {"value": account}}
        return {
            "DetailType": "JournalEntryLineDetail",
            "Amount": Decimal(amount),
            "JournalEntryLineDetail": detail,
        }

    head = {"DocNumber": "REVREC-2026-01", "TxnDate": "2026-01-31"}
    posted = {
        **head,
        "Line": [line("10.00", "Debit", "account:Deferred"), line("10.00", "Credit", "account:Rev")],
    }
    doc = {
        **head,
        "Id": "9",
        "TotalAmt": Decimal("10"),
        "Line": [line("10", "Debit", "31"), line("10", "Credit", "40")],
    }
    assert compare("JournalEntry", posted, doc, {}) is None
    doc["Line"] = [line("12", "Debit", "31"), line("12", "Credit", "40")]
    found = compare("JournalEntry", posted, doc, {})
    assert found is not None and [c.field for c in found.changes] == ["Line[1].Amount", "Line[2].Amount"]
