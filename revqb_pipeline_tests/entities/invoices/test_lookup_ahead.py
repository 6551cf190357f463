"""The invoices load looks a day's DocNumbers up once, ahead of its slices (``prepare_load``), and still
never duplicates: an earlier run that wrote a slice and died before recording its outcomes is linked, not
repeated."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.invoices.mapping import invoice_update_payload
from revqb_pipeline.entities.invoices.steps import load_slices
from revqb_pipeline.entities.invoices.sync import SOURCE_TYPE, prepare_load, sync_invoices
from revqb_pipeline.mapping.config import MappingConfig, load_mapping
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus, Synced
from revqb_pipeline.sync.reference_data import clear_reference_cache, ensure_reference_data
from revqb_pipeline.sync.writer import DocNumberAdapter, KnownKeys, WriteReport, WriteRequest
from revqb_pipeline_tests._qbo_support import requests_sent

pytestmark = pytest.mark.slow  # every test writes to a QBO sandbox (conftest empty_realm)

DAY = "2026-01-01"


class Died(Exception):
    """The process of the first run dies."""


class DyingLedger(Ledger):
    """A ledger whose process dies when it records its ``die_at``-th batch of outcomes: the chunk was
    written to QBO (its intent recorded before), its outcomes never reach the ledger."""

    def __init__(self, engine: sa.Engine, die_at: int) -> None:
        super().__init__(engine)
        self.calls = 0
        self.die_at = die_at

    def record_outcomes(self, outcomes: Sequence[Synced | Any]) -> Any:
        self.calls += 1
        if self.calls == self.die_at:
            raise Died("killed after the write, before its outcomes were recorded")
        return super().record_outcomes(outcomes)


def _rows(customer_id: str, item_id: str, n: int, *, tax_code: bool) -> list[dict[str, Any]]:
    """Invoice payload rows of ``n`` bills (already resolved: plain QBO ids). Without ``tax_code`` the
    invoice QBO stores differs from the payload (QBO adds ``TaxCodeRef`` NON): linking one updates it."""
    rows = []
    for i in range(1, n + 1):
        payload = {
            "DocNumber": f"LA-{i}",
            "TxnDate": DAY,
            "CustomerRef": {"value": customer_id},
            "Line": [
                {
                    "DetailType": "SalesItemLineDetail",
                    "Amount": Decimal(f"{i}.25"),
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": item_id},
                        "Qty": 1,
                        "UnitPrice": Decimal(f"{i}.25"),
                        **({"TaxCodeRef": {"value": "NON"}} if tax_code else {}),
                    },
                }
            ],
        }
        rows.append(
            {
                "source_type": SOURCE_TYPE,
                "source_id": str(i),
                "qbo_entity": "Invoice",
                "partition_key": DAY,
                "business_key": payload["DocNumber"],
                "payload": payload,
            }
        )
    return rows


@pytest.fixture
def cfg(qbo_client: QBOClient) -> Iterator[MappingConfig]:
    """The default mapping, its reference data in QBO, the reference cache empty (as in a new process)."""
    mapping = load_mapping()
    ensure_reference_data(qbo_client, mapping, max_age_s=0)
    clear_reference_cache()
    yield mapping
    clear_reference_cache()


def _load(qbo: QBOClient, ledger: Ledger, cfg: MappingConfig, rows: list[dict[str, Any]]) -> WriteReport:
    """The invoices step's load (``steps.load`` without the Rev.io write-back), in a new process: the
    reference lists are read, with the day's DocNumber lookup in the same call."""
    clear_reference_cache()
    report = WriteReport()
    slices = load_slices(rows)
    refs, known = prepare_load(qbo, ledger, cfg, rows, len(slices))
    for part in slices:
        report.merge(sync_invoices(qbo, ledger, part, refs, [], known))
    return report


def _invoices(qbo: QBOClient) -> list[dict[str, Any]]:
    return qbo.query_rows("SELECT * FROM Invoice MAXRESULTS 1000")


@pytest.mark.parametrize("matching", [True, False], ids=["linked-as-is", "linked-and-updated"])
def test_a_run_that_died_after_writing_a_slice_is_linked_by_the_next_run(
    qbo_client: QBOClient, sqlite_engine: sa.Engine, cfg: MappingConfig, matching: bool
) -> None:
    customer = qbo_client.create("Customer", {"DisplayName": "Ahead Co"}, request_id="la-c")
    account = qbo_client.create("Account", {"Name": "LA Sales", "AccountType": "Income"}, request_id="la-a")
    item = qbo_client.create(
        "Item",
        {"Name": "LA Service", "Type": "Service", "IncomeAccountRef": {"value": account["Id"]}},
        request_id="la-i",
    )
    # 100 bills: two slices (30, then 70: write batches of 30, 30 and 10)
    rows = _rows(str(customer["Id"]), str(item["Id"]), 100, tax_code=matching)
    # first run: slice 1 recorded; the first batch of slice 2 reaches QBO, then the process dies
    with pytest.raises(Died):
        _load(qbo_client, DyingLedger(sqlite_engine, die_at=2), cfg, rows)
    ledger = Ledger(sqlite_engine)
    states = [r.status for r in ledger.get_many(SOURCE_TYPE, [r["source_id"] for r in rows]).values()]
    assert states.count(LedgerStatus.SYNCED) == 30
    assert states.count(LedgerStatus.IN_FLIGHT) == 30  # written to QBO, outcome never recorded
    assert len(_invoices(qbo_client)) == 60
    before = requests_sent(qbo_client)

    report = _load(qbo_client, ledger, cfg, rows)

    # 1 call: the reference lists and the lookup of the 70 keys not synced (none per slice); the 30 found are
    # linked (as they are, or with one update batch under a request id of its own); 40 created in 2 batches
    assert requests_sent(qbo_client) - before == 1 + (0 if matching else 1) + 2
    assert dict(report.counts) == {"unchanged": 30, "linked": 30, "created": 40}
    invoices = _invoices(qbo_client)
    assert sorted(inv["DocNumber"] for inv in invoices) == sorted(
        f"LA-{i}" for i in range(1, 101)
    )  # once each
    synced = ledger.rows(source_type=SOURCE_TYPE, statuses=[LedgerStatus.SYNCED], partition_key=DAY)
    by_doc = {inv["DocNumber"]: str(inv["Id"]) for inv in invoices}
    assert {r.source_id: r.qbo_id for r in synced} == {str(i): by_doc[f"LA-{i}"] for i in range(1, 101)}

    again = requests_sent(qbo_client)
    assert dict(_load(qbo_client, ledger, cfg, rows).counts) == {"unchanged": 100}
    assert requests_sent(qbo_client) == again + 1  # the reference lists only: no lookup, no write


def test_with_the_reference_data_cached_only_a_load_of_several_slices_looks_up_ahead(
    qbo_client: QBOClient, sqlite_engine: sa.Engine, cfg: MappingConfig
) -> None:
    ledger = Ledger(sqlite_engine)
    ensure_reference_data(qbo_client, cfg)  # cached, as for the second load step of a run
    before = requests_sent(qbo_client)

    refs, known = prepare_load(qbo_client, ledger, cfg, _rows("1", "1", 10, tax_code=True), 1)

    assert known is None and requests_sent(qbo_client) == before  # the one slice looks up its own
    assert set(refs.items) == set(cfg.items)
    refs, known = prepare_load(qbo_client, ledger, cfg, _rows("1", "1", 40, tax_code=True), 2)
    assert known is not None and known.keys == {f"LA-{i}" for i in range(1, 41)} and known.rows == {}
    assert requests_sent(qbo_client) == before + 1


def _request(sid: str, key: str) -> WriteRequest:
    return WriteRequest(SOURCE_TYPE, sid, "Invoice", {"DocNumber": key}, business_key=key)


def test_a_key_looked_up_ahead_answers_one_lookup_only(qbo_client: QBOClient) -> None:
    known = KnownKeys({"A", "B"}, {"A": {"Id": "7", "DocNumber": "A"}})
    adapter = DocNumberAdapter(qbo_client, "Invoice", invoice_update_payload, known=known)
    first = [_request("1", "A"), _request("2", "B"), _request("3", "C")]

    queries = adapter.lookup_queries(first)

    assert queries == [("Invoice", "DocNumber IN ('C')")]  # A and B were looked up ahead
    found = adapter.lookup_rows(first, [[{"Id": "9", "DocNumber": "C"}]])
    assert {sid: row["Id"] for sid, row in found.items()} == {"1": "7", "3": "9"}
    # used up: a second lookup of A (e.g. after a duplicate DocNumber) asks QBO again
    assert adapter.lookup_queries([_request("1", "A")]) == [("Invoice", "DocNumber IN ('A')")]
