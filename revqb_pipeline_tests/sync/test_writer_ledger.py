"""``LedgeredWriter`` against the QBO sandbox over real HTTP: a chunk's outcomes (created, linked,
quarantined, updated) reach the ledger in one transaction per chunk, next to its intent transaction."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from revqb_pipeline.clients.errors import QBOError
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.writer import DocNumberLookup, LedgeredWriter, WriteRequest, docnumber_lookup
from revqb_pipeline_tests._engine_watch import EngineWatch
from revqb_pipeline_tests._qbo_support import requests_sent

pytestmark = pytest.mark.slow


class CustomerAdapter:
    """Customers found by DisplayName (their business key), sparse-updated on ``Notes``."""

    def __init__(self, qbo: QBOClient) -> None:
        self.lookup = docnumber_lookup(qbo, "Customer", "DisplayName")

    def update_body(self, existing: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
        if existing.get("Notes") == desired.get("Notes"):
            return None
        return {
            "Id": existing["Id"],
            "SyncToken": existing["SyncToken"],
            "sparse": True,
            "Notes": desired["Notes"],
        }

    def on_create_error(self, request: WriteRequest, error: QBOError) -> WriteRequest | None:
        return None


def _request(i: int, name: str, notes: str = "v1", *, keyed: bool = True) -> WriteRequest:
    payload = {"DisplayName": name, "Notes": notes}
    return WriteRequest("customer", str(i), "Customer", payload, business_key=name if keyed else None)


def _qbo_ids(qbo: QBOClient) -> dict[str, str]:
    return {c["DisplayName"]: str(c["Id"]) for c in qbo.query_rows("SELECT * FROM Customer MAXRESULTS 1000")}


def test_one_ledger_commit_per_chunk_for_its_outcomes(
    qbo_client: QBOClient, sqlite_engine: sa.Engine
) -> None:
    qbo_client.create("Customer", {"DisplayName": "Already", "Notes": "v1"}, request_id="pre-1")
    qbo_client.create("Customer", {"DisplayName": "Taken"}, request_id="pre-2")
    requests = [_request(i, f"W {i:03d}") for i in range(65)]
    requests[5] = _request(5, "Already")  # found by its key, already matching: linked without a write
    requests[40] = _request(40, "Taken", keyed=False)  # no key to look up: the create fails with 6240
    ledger = Ledger(sqlite_engine)
    watch = EngineWatch(sqlite_engine)

    report = LedgeredWriter(qbo_client, ledger, CustomerAdapter(qbo_client)).write(requests)

    # 64 creates in chunks of 30, 30, 4: per chunk one intent and one outcome transaction (68 per record)
    assert watch.commits == 6
    assert dict(report.counts) == {"created": 63, "linked": 1, "quarantined": 1}
    in_qbo = _qbo_ids(qbo_client)
    assert len(in_qbo) == 65
    rows = ledger.get_many("customer", [r.source_id for r in requests])
    synced = {sid: r for sid, r in rows.items() if r.status is LedgerStatus.SYNCED}
    assert len(synced) == 64
    assert all(
        r.qbo_id == in_qbo[req.payload["DisplayName"]] for req in requests if (r := synced.get(req.source_id))
    )
    assert synced["5"].qbo_id == in_qbo["Already"] and report.qbo_ids["5"] == in_qbo["Already"]
    assert rows["40"].status is LedgerStatus.QUARANTINED and rows["40"].last_error_code == "6240"
    assert all(r.payload_hash == req.hash for req in requests if (r := synced.get(req.source_id)))
    actions = [e.action for e in ledger.events("customer")]
    assert (
        actions.count("created") == 63 and actions.count("linked") == 1 and actions.count("quarantined") == 1
    )
    assert actions.count("intent") == 64

    # the next run: one changed record is updated (one chunk: two commits), the others write nothing
    requests[7] = _request(7, "W 007", notes="v2")
    watch.reset()
    again = LedgeredWriter(qbo_client, ledger, CustomerAdapter(qbo_client)).write(requests)
    assert watch.commits == 2
    assert dict(again.counts) == {"unchanged": 63, "updated": 1, "quarantined": 1}
    assert qbo_client.read("Customer", in_qbo["W 007"])["Notes"] == "v2"
    row7 = ledger.get("customer", "7")
    assert row7 is not None and row7.status is LedgerStatus.SYNCED and row7.sync_token == "1"
    assert row7.payload_hash == requests[7].hash


class BatchedCustomerAdapter(CustomerAdapter):
    """The same adapter handing its lookup queries to the writer (as the DocNumber and marker adapters do)."""

    def __init__(self, qbo: QBOClient) -> None:
        self.lookup = DocNumberLookup(qbo, "Customer", "DisplayName")
        self.lookup_queries = self.lookup.queries
        self.lookup_rows = self.lookup.rows


def test_the_lookup_of_creates_and_the_read_before_updates_share_one_call(
    qbo_client: QBOClient, sqlite_engine: sa.Engine
) -> None:
    ledger = Ledger(sqlite_engine)
    first = [_request(i, f"S {i:03d}") for i in range(150)]  # 150 keys: two IN lists in the lookup
    LedgeredWriter(qbo_client, ledger, BatchedCustomerAdapter(qbo_client)).write(first)
    qbo_client.create("Customer", {"DisplayName": "Made elsewhere", "Notes": "v1"}, request_id="pre-s")
    # next run: 120 updates (two Id lists), 1 create, 1 record found by its key (linked)
    second = [_request(i, f"S {i:03d}", notes="v2" if i < 120 else "v1") for i in range(150)]
    second += [_request(500, "S new"), _request(501, "Made elsewhere")]
    before = requests_sent(qbo_client)

    report = LedgeredWriter(qbo_client, ledger, BatchedCustomerAdapter(qbo_client)).write(second)

    # one /batch of reads (2 lookup lists + 2 Id lists), 4 update batches (120 = 4 x 30), 1 create batch
    assert requests_sent(qbo_client) - before == 1 + 4 + 1
    assert dict(report.counts) == {"updated": 120, "unchanged": 30, "created": 1, "linked": 1}
    in_qbo = _qbo_ids(qbo_client)
    assert len([n for n in in_qbo if n.startswith("S ")]) == 151  # no duplicate
    assert qbo_client.read("Customer", in_qbo["S 007"])["Notes"] == "v2"
    linked = ledger.get("customer", "501")
    assert linked is not None and linked.qbo_id == in_qbo["Made elsewhere"]
