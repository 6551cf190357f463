"""The customer lookup reads only the QBO customers a run's requests could match (issue 10): one batch call
of ``IN`` queries, however many customers the realm holds, and still links by name, email, the 6240 variant
and inactive namesakes instead of creating duplicates."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.engine import Engine

from revqb_pipeline.clients.qbo import BatchOp, QBOClient
from revqb_pipeline.entities.customers.mapping import account_marker
from revqb_pipeline.entities.customers.sync import CustomerAdapter, customer_requests, sync_customers
from revqb_pipeline.mapping.config import load_mapping
from revqb_pipeline.staging.ledger import Ledger
from revqb_pipeline_tests._qbo_support import requests_sent

pytestmark = pytest.mark.slow

FILLERS = 1005  # more than one page (MAXRESULTS 1000) of customers the run never touches


@pytest.fixture
def ledger(sqlite_engine: Engine) -> Ledger:
    return Ledger(sqlite_engine)


def _fill(qbo: QBOClient) -> None:
    bodies = [{"DisplayName": f"Filler {i:04d}"} for i in range(FILLERS)]
    for start in range(0, len(bodies), 30):
        ops = [
            BatchOp(bid=str(i), operation="create", entity="Customer", body=b)
            for i, b in enumerate(bodies[start : start + 30])
        ]
        results = qbo.batch(ops, request_id=f"fill-{start}")
        assert all(r.ok for r in results.values())


def _row(cid: int, name: str, email: str | None = None) -> dict[str, Any]:
    return {"customer_id": cid, "account_number": f"A-{cid}", "display_name": name, "email": email}


def test_query_all_each_batches_and_pages_past_maxresults(qbo_client: QBOClient) -> None:
    _fill(qbo_client)
    qbo_client.create("Customer", {"DisplayName": "Acme"}, request_id="acme")
    before = requests_sent(qbo_client)
    fillers, acme, none = qbo_client.query_all_each(
        [
            ("Customer", "DisplayName LIKE 'Filler%'"),
            ("Customer", "DisplayName = 'Acme'"),
            ("Item", "Name = 'x'"),
        ]
    )
    assert len({c["Id"] for c in fillers}) == FILLERS  # the full first page was paged on
    assert [c["DisplayName"] for c in acme] == ["Acme"] and none == []
    assert requests_sent(qbo_client) - before == 2  # one batch of three queries + the second page


def test_lookup_is_one_request_and_links_instead_of_duplicating(
    qbo_client: QBOClient, ledger: Ledger
) -> None:
    cfg = load_mapping()
    _fill(qbo_client)
    by_name = qbo_client.create("Customer", {"DisplayName": "Acme Corp"}, request_id="pre-name")
    by_name = qbo_client.update(  # an inactive namesake is found and reactivated
        "Customer",
        {"Id": by_name["Id"], "SyncToken": by_name["SyncToken"], "sparse": True, "Active": False},
        request_id="pre-name-off",
    )
    by_email = qbo_client.create(
        "Customer",
        {"DisplayName": "Someone Else", "PrimaryEmailAddr": {"Address": "ap@beta.example"}},
        request_id="pre-email",
    )
    marker = account_marker(_row(3, "Gamma"), cfg)  # what our create of customer 3 wrote into Notes
    variant = qbo_client.create(
        "Customer", {"DisplayName": "Gamma (Rev.io 3)", "Notes": marker}, request_id="pre-v"
    )
    rows = [
        _row(1, "Acme Corp"),
        _row(2, "Beta LLC", "AP@beta.example"),
        _row(3, "Gamma"),  # a lost response after a 6240 rename left "Gamma (Rev.io 3)" behind
        _row(4, "Delta"),
    ]
    requests, bad = customer_requests(rows, cfg, ledger, None)
    assert not bad
    adapter = CustomerAdapter(qbo_client, ledger, {str(r["customer_id"]): r for r in rows}, cfg)
    before = requests_sent(qbo_client)
    found = adapter.lookup(requests)
    assert requests_sent(qbo_client) - before == 1  # names and emails in one batch, none of the 1,005 others
    assert {sid: str(c["Id"]) for sid, c in found.items()} == {
        "1": str(by_name["Id"]),
        "2": str(by_email["Id"]),
        "3": str(variant["Id"]),
    }

    report = sync_customers(qbo_client, ledger, rows, cfg)
    assert report.qbo_ids == {
        "1": str(by_name["Id"]),
        "2": str(by_email["Id"]),
        "3": str(variant["Id"]),
        "4": report.qbo_ids["4"],
    }
    assert qbo_client.count("Customer", "Active IN (true, false)") == FILLERS + 4  # Delta the only new one
    acme = qbo_client.read("Customer", str(by_name["Id"]))
    assert acme["Active"] is True
    again = sync_customers(qbo_client, ledger, rows, cfg)  # a re-run changes nothing
    assert set(again.qbo_ids.values()) == set(report.qbo_ids.values())
    assert qbo_client.count("Customer", "Active IN (true, false)") == FILLERS + 4
