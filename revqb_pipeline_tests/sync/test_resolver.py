"""Unit tests of ``sync/resolver.py``: symbolic references swapped for QBO ids, or the record parked with a
readable reason in a real SQLite ledger."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.reference_data import RefIds
from revqb_pipeline.sync.resolver import Resolver, Unresolved, prepare_requests, why_missing
from revqb_pipeline.sync.writer import WriteReport, WriteRequest
from revqb_pipeline_tests._engine_watch import EngineWatch

REFS = RefIds(
    accounts={"Undeposited Funds": "A4"},
    items={"Hosted PBX": "I7"},
    payment_methods={"Visa": "PM2"},
)


@pytest.fixture
def ledger(sqlite_engine: sa.Engine) -> Ledger:
    return Ledger(sqlite_engine)


def resolver() -> Resolver:
    return Resolver({"customer": {"1042": "C58"}, "bill": {"77": "INV9"}, "credit": {"5": "CM3"}}, refs=REFS)


def payment_body(customer: str = "revio-customer:1042", txn: str = "revio-bill:77") -> dict[str, Any]:
    return {
        "CustomerRef": {"value": customer},
        "PaymentMethodRef": {"value": "payment-method:Visa"},
        "DepositToAccountRef": {"value": "account:Undeposited Funds"},
        "TotalAmt": 10,
        "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": txn, "TxnType": "Invoice"}]}],
    }


def test_resolve_swaps_every_symbolic_reference_in_a_copy() -> None:
    body = payment_body()
    body["Line"].append(
        {"Amount": 1, "LinkedTxn": [{"TxnId": "revio-credit:5", "TxnType": "CreditMemo"}, {"TxnId": "99"}]}
    )
    body["Line"].append({"SalesItemLineDetail": {"ItemRef": {"value": "item:Hosted PBX", "name": "PBX"}}})

    original = copy.deepcopy(body)

    out = resolver().resolve(body)

    assert out["CustomerRef"] == {"value": "C58"}
    assert out["PaymentMethodRef"] == {"value": "PM2"}
    assert out["DepositToAccountRef"] == {"value": "A4"}
    assert [link["TxnId"] for line in out["Line"] for link in line.get("LinkedTxn", [])] == [
        "INV9",
        "CM3",
        "99",
    ]
    assert out["Line"][2]["SalesItemLineDetail"]["ItemRef"] == {"value": "I7", "name": "PBX"}
    assert body == original  # the input is untouched


def test_resolve_leaves_plain_ids_alone() -> None:
    body = {"CustomerRef": {"value": "12"}, "Line": [{"LinkedTxn": [{"TxnId": "34"}]}]}
    assert resolver().resolve(body) == body


@pytest.mark.parametrize(
    ("value", "kind", "key", "waits"),
    [
        ("revio-customer:9", "customer", "9", True),
        ("revio-bill:8", "invoice", "8", True),
        ("revio-credit:7", "credit memo", "7", True),
        ("item:Fax Line", "item", "Fax Line", False),
        ("payment-method:Amex", "payment method", "Amex", False),
        ("account:Petty Cash", "account", "Petty Cash", False),
    ],
)
def test_unresolved_names_the_reference_and_whether_the_record_waits(
    value: str, kind: str, key: str, waits: bool
) -> None:
    body = {"CustomerRef": {"value": value}}
    with pytest.raises(Unresolved) as info:
        resolver().resolve(body)
    assert (info.value.kind, info.value.key, info.value.waits) == (kind, key, waits)
    assert str(info.value) == f"{kind} {key}"


def test_load_reads_only_the_synced_rows_the_bodies_name(ledger: Ledger) -> None:
    ledger.mark_synced("customer", "1", qbo_id="C1", sync_token=0)
    ledger.mark_synced("customer", "6", qbo_id="C6", sync_token=0)  # named by no body: never read
    ledger.mark_synced("bill", "2", qbo_id="INV2", sync_token=0)
    ledger.mark_synced("credit", "3", qbo_id="CM3", sync_token=0)
    ledger.quarantine("customer", "4", reason="bad")
    ledger.mark_waiting("bill", "5", reason="waits", qbo_entity="Invoice")
    reads = EngineWatch(ledger.engine)

    loaded = Resolver.load(ledger, REFS)
    assert loaded.synced == {} and loaded.refs is REFS
    loaded.prime(
        [
            payment_body("revio-customer:1", "revio-bill:2"),
            payment_body("revio-customer:4", "revio-bill:5"),
            payment_body("revio-customer:9", "revio-bill:2"),
        ]
    )

    assert loaded.synced == {"bill": {"2": "INV2"}, "customer": {"1": "C1"}}
    assert reads.selects == 2  # one IN read per source type named
    assert loaded.resolve(payment_body("revio-customer:1", "revio-bill:2"))["CustomerRef"] == {"value": "C1"}
    with pytest.raises(Unresolved):
        loaded.resolve(payment_body("revio-customer:4", "revio-bill:2"))
    assert reads.selects == 2  # keys already read (synced or not) are not read again
    assert loaded.synced_id("credit", "3") == "CM3" and reads.selects == 3  # an unprimed key: read on demand


# ----- why_missing -----------------------------------------------------------------------------------------


def test_why_missing_when_the_dependency_was_never_seen(ledger: Ledger) -> None:
    text = why_missing(ledger, Unresolved("customer", "9", True))
    assert text == "waiting for Rev.io customer 9 to reach QBO (not synced yet)"


def test_why_missing_names_the_dependency_state_and_error(ledger: Ledger) -> None:
    ledger.quarantine("bill", "8", reason="no QBO item named 'Fax'")
    ledger.record_decision("credit", "7", status=LedgerStatus.PENDING, action="staged", detail="")

    bill = why_missing(ledger, Unresolved("invoice", "8", True))
    credit = why_missing(ledger, Unresolved("credit memo", "7", True))

    waiting = "waiting for the invoice of Rev.io bill 8 to reach QBO"
    assert bill == f"{waiting} (it is quarantined: no QBO item named 'Fax')"
    assert credit == "waiting for credit memo 7 to reach QBO (it is pending)"


def test_why_missing_for_a_kind_without_a_ledger_type(ledger: Ledger) -> None:
    assert why_missing(ledger, Unresolved("item", "Fax", False)) == "waiting for item Fax to reach QBO"


# ----- prepare_requests ------------------------------------------------------------------------------------


def _row(source_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "source_id": source_id,
        "qbo_entity": "Payment",
        "partition_key": "2026-01-15",
        "business_key": f"revio:payment:{source_id}",
        "payload": payload,
    }


def test_prepare_requests_resolves_waits_and_quarantines(ledger: Ledger) -> None:
    ledger.mark_waiting("bill", "8", reason="waiting for its customer", qbo_entity="Invoice")
    rows = [
        _row(1, payment_body()),
        _row(2, payment_body(customer="revio-customer:9")),
        _row(3, payment_body(txn="revio-bill:8")),
        _row(4, {**payment_body(), "PaymentMethodRef": {"value": "payment-method:Amex"}}),
    ]
    report = WriteReport()
    statements = EngineWatch(ledger.engine)

    requests = prepare_requests(rows, ledger, resolver(), "payment", report)

    assert statements.commits == 1  # the three parked records: one ledger transaction

    assert requests == [
        WriteRequest(
            source_type="payment",
            source_id="1",
            qbo_entity="Payment",
            payload=resolver().resolve(payment_body()),
            business_key="revio:payment:1",
            partition_key="2026-01-15",
        )
    ]
    waiting2 = "waiting for Rev.io customer 9 to reach QBO (not synced yet)"
    waiting3 = (
        "waiting for the invoice of Rev.io bill 8 to reach QBO (it is waiting: waiting for its customer)"
    )
    quarantined4 = "no QBO payment method named 'Amex' (add it to the mapping file)"
    assert report.outcomes == {
        "2": ("waiting", waiting2),
        "3": ("waiting", waiting3),
        "4": ("quarantined", quarantined4),
    }
    assert dict(report.counts) == {"waiting": 2, "quarantined": 1}
    states = {
        sid: (r.status, r.last_error, r.qbo_entity, r.business_key, r.partition_key)
        for sid, r in ledger.get_many("payment", ["1", "2", "3", "4"]).items()
    }
    assert states == {
        "2": (LedgerStatus.WAITING, waiting2, "Payment", "revio:payment:2", "2026-01-15"),
        "3": (LedgerStatus.WAITING, waiting3, "Payment", "revio:payment:3", "2026-01-15"),
        "4": (LedgerStatus.QUARANTINED, quarantined4, "Payment", "revio:payment:4", "2026-01-15"),
    }


def test_prepare_requests_reads_the_body_through_body_of(ledger: Ledger) -> None:
    row = {"source_id": "6", "qbo_entity": "Payment", "built": {"Payment": payment_body()}}

    [request] = prepare_requests(
        [row], ledger, resolver(), "payment", WriteReport(), lambda r: r["built"]["Payment"]
    )

    assert request.payload["CustomerRef"] == {"value": "C58"}
    assert (request.partition_key, request.business_key) == (None, None)
    assert ledger.get("payment", "6") is None  # nothing parked, nothing written yet
