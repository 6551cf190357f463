"""QBO sandbox: query language, batch, requestid idempotency, CDC, webhooks, malformed requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revqb_pipeline_tests._qbo_support import (
    QBO,
    customer,
    data,
    fault_code,
    invoice,
    line,
    sandbox,
)
from revqb_sandbox.harness import serve_app

pytestmark = pytest.mark.slow


def _names(resp: dict[str, Any], entity: str = "Customer") -> list[str]:
    return [c.get("DisplayName") or c.get("Name") for c in resp.get(entity, [])]


def test_select_count_paging_and_ordering(qbo: QBO) -> None:
    for i in range(5):
        customer(qbo, f"Page {i}", Notes=f"revio:account:{i}")
    full = qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE 'Page%' ORDERBY DisplayName DESC")
    assert _names(full) == [f"Page {i}" for i in range(4, -1, -1)]
    assert full["startPosition"] == 1 and full["maxResults"] == 5
    page = qbo.query(
        "select * from Customer where DisplayName like 'Page%' order by Id STARTPOSITION 2 MAXRESULTS 2"
    )
    assert _names(page) == ["Page 1", "Page 2"] and page["startPosition"] == 2 and page["maxResults"] == 2
    assert _names(
        qbo.query("select * from Customer where DisplayName like 'Page%' startposition 0 maxresults 1")
    ) == ["Page 0"]
    assert qbo.query("select count(*) from Customer where DisplayName like 'Page%'") == {"totalCount": 5}
    assert qbo.query("select * from Customer where DisplayName = 'Nobody'") == {}
    assert (
        len(qbo.query("select * from Account maxresults 5000")["Account"]) > 20
    )  # capped at 1000, not an error
    ids = [c["Id"] for c in qbo.query("select * from Customer")["Customer"]]
    assert ids == sorted(ids, key=int)


def test_operators_in_like_dotted_and_escapes(qbo: QBO) -> None:
    okeefe = customer(qbo, "O'Keefe \\ Sons", PrimaryEmailAddr={"Address": "ap@okeefe.example"})
    got = qbo.query("select * from Customer where DisplayName = 'O\\'Keefe \\\\ Sons'")
    assert _names(got) == ["O'Keefe \\ Sons"]
    assert _names(qbo.query("select * from Customer where PrimaryEmailAddr = 'ap@okeefe.example'")) == [
        "O'Keefe \\ Sons"
    ]
    assert _names(qbo.query(f"select * from Customer where Id IN ('1', '{okeefe['Id']}')")) == [
        "Amy's Bird Sanctuary",
        "O'Keefe \\ Sons",
    ]
    assert len(qbo.query("select * from Customer where Id > '2' and Id <= '4'")["Customer"]) == 2
    assert _names(qbo.query("select * from Customer where DisplayName like '%Keefe%'")) == ["O'Keefe \\ Sons"]
    inv = invoice(qbo, okeefe["Id"], "12.50", DocNumber="Q-1")
    assert (
        qbo.query(f"select * from Invoice where CustomerRef = '{okeefe['Id']}'")["Invoice"][0]["Id"]
        == inv["Id"]
    )
    assert (
        qbo.query("select * from Invoice where TotalAmt >= 12.5 and TotalAmt < 13")["Invoice"][0]["Id"]
        == inv["Id"]
    )
    stamp = inv["MetaData"]["LastUpdatedTime"]
    assert qbo.query(f"select * from Invoice where MetaData.LastUpdatedTime >= '{stamp}'")["Invoice"]
    later = (datetime.fromisoformat(stamp) + timedelta(hours=1)).isoformat()
    assert qbo.query(f"select * from Invoice where MetaData.LastUpdatedTime > '{later}'") == {}
    items = qbo.query("SELECT *, Sku FROM Item")
    assert "Services" in _names(items, "Item")


def test_active_only_default_for_name_lists(qbo: QBO) -> None:
    gone = customer(qbo, "Gone Away")
    qbo.create("Customer", {"Id": gone["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    assert "Gone Away" not in _names(qbo.query("select * from Customer"))
    assert "Gone Away" in _names(qbo.query("select * from Customer where Active IN (true, false)"))
    assert _names(qbo.query("select * from Customer where Active = false")) == ["Gone Away"]


def test_query_errors_and_get_form(qbo: QBO) -> None:
    r = qbo.request("POST", "query", content=b"select * from Customer where DisplayName = 'a' s", headers={})
    assert fault_code(r) == "4000" and "QueryParserError" in data(r)["Fault"]["Error"][0]["Detail"]
    assert fault_code(qbo.get("query", query="select * from Customer where Nope = 'x'")) == "4001"
    assert (
        fault_code(qbo.get("query", query="select * from Customer where DisplayName = 'a' OR Id = '1'"))
        == "4000"
    )
    assert fault_code(qbo.get("query", query="select * from Unicorn")) == "4001"
    assert fault_code(qbo.get("query", query="select * from Customer where DisplayName = ’x’")) == "4000"
    r = qbo.get("query", query="select * from Customer where DisplayName = 'Cool Cars'")
    assert _names(data(r)["QueryResponse"]) == ["Cool Cars"]


def test_batch_items_are_independent(qbo: QBO) -> None:
    items: list[dict[str, Any]] = [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Batch One"}},
        {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "Amy's Bird Sanctuary"}},
        {"bId": "b3", "Query": "select * from Customer where DisplayName = 'Batch One'"},
        {"bId": "b4", "operation": "create", "Invoice": {"CustomerRef": {"value": "2"}, "Line": [line("5")]}},
    ]
    r = qbo.post("batch", {"BatchItemRequest": items})
    assert r.status_code == 200
    out = {i["bId"]: i for i in data(r)["BatchItemResponse"]}
    assert out["b1"]["Customer"]["DisplayName"] == "Batch One"
    assert out["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert out["b3"]["QueryResponse"] == {}  # later items do not see earlier creates
    assert out["b4"]["Invoice"]["TotalAmt"] == Decimal("5.00")
    new_id = out["b1"]["Customer"]["Id"]
    later = [
        {"bId": "x", "operation": "create", "Customer": {"DisplayName": "Later"}},
        {
            "bId": "y",
            "operation": "create",
            "Invoice": {"CustomerRef": {"value": new_id}, "Line": [line("1")]},
        },
    ]
    r = qbo.post("batch", {"BatchItemRequest": later})
    assert "Invoice" in {k for i in data(r)["BatchItemResponse"] for k in i}
    assert qbo.stats()["batch_requests"] == 2


def test_batch_limit_and_options(qbo: QBO) -> None:
    many = [{"bId": str(i), "Query": "select * from Term"} for i in range(31)]
    r = qbo.post("batch", {"BatchItemRequest": many})
    assert r.status_code == 400 and fault_code(r) == "1040"
    assert qbo.post("batch", {"BatchItemRequest": many[:30]}).status_code == 200
    inv = invoice(qbo, "1", DocNumber="BO-1")
    cust = customer(qbo, "Batch Payer")
    pinv = invoice(qbo, cust["Id"], "20.00")
    pay = qbo.create(
        "Payment",
        {"CustomerRef": {"value": cust["Id"]}, "TotalAmt": 20,
         "Line": [{"Amount": 20, "LinkedTxn": [{"TxnId": pinv["Id"], "TxnType": "Invoice"}]}]},
    )  # fmt: skip
    items = [
        {"bId": "dup", "operation": "create", "optionsData": "allowduplicatedocnum",
         "Invoice": {"CustomerRef": {"value": "1"}, "DocNumber": "BO-1", "Line": [line("1")]}},
        {"bId": "dup2", "operation": "create",
         "Invoice": {"CustomerRef": {"value": "1"}, "DocNumber": "BO-1", "Line": [line("1")]}},
        {"bId": "void", "operation": "update", "optionsData": "void",
         "Payment": {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "sparse": True}},
        {"bId": "del", "operation": "delete", "Invoice": {"Id": inv["Id"], "SyncToken": inv["SyncToken"]}},
        {"bId": "stale", "operation": "update",
         "Customer": {"Id": cust["Id"], "SyncToken": "7", "sparse": True}},
    ]  # fmt: skip
    out = {i["bId"]: i for i in data(qbo.post("batch", {"BatchItemRequest": items}))["BatchItemResponse"]}
    assert out["dup"]["Invoice"]["DocNumber"] == "BO-1"
    assert out["dup2"]["Fault"]["Error"][0]["code"] == "6140"
    assert out["void"]["Payment"]["TotalAmt"] == 0
    assert out["del"]["Invoice"]["status"] == "Deleted"
    assert out["stale"]["Fault"]["Error"][0]["code"] == "5010"
    assert qbo.read("Invoice", pinv["Id"])["Balance"] == Decimal("20.00")


def test_requestid_replay_and_mismatch(qbo: QBO) -> None:
    body = {"CustomerRef": {"value": "1"}, "DocNumber": "RID-1", "Line": [line("9.99")]}
    first = qbo.post("invoice", body, requestid="rid-1")
    again = qbo.post("invoice", body, requestid="rid-1")
    assert first.status_code == again.status_code == 200 and first.content == again.content
    assert qbo.query("select count(*) from Invoice where DocNumber = 'RID-1'") == {"totalCount": 1}
    r = qbo.post("invoice", body | {"DocNumber": "RID-2"}, requestid="rid-1")
    assert r.status_code == 400 and fault_code(r) == "600"
    batch = {
        "BatchItemRequest": [{"bId": "1", "operation": "create", "Customer": {"DisplayName": "Rid Batch"}}]
    }
    b1, b2 = qbo.post("batch", batch, requestid="rid-b"), qbo.post("batch", batch, requestid="rid-b")
    assert b1.content == b2.content and "Customer" in b1.text
    long_bid = {
        "BatchItemRequest": [{"bId": "x" * 20, "operation": "create", "Customer": {"DisplayName": "Z"}}]
    }
    r = qbo.post("batch", long_bid, requestid="r" * 36)
    assert data(r)["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "6000"


def test_cdc_changes_and_deleted_stubs(qbo: QBO) -> None:
    since = (datetime.now().astimezone() - timedelta(minutes=1)).isoformat(timespec="seconds")
    cust = customer(qbo, "CDC Co")
    inv = invoice(qbo, cust["Id"], "3.00")
    gone = invoice(qbo, cust["Id"], "4.00")
    qbo.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    r = qbo.get("cdc", entities="Customer,Invoice", changedSince=since)
    groups = data(r)["CDCResponse"][0]["QueryResponse"]
    customers, invoices = groups[0]["Customer"], groups[1]["Invoice"]
    assert [c["DisplayName"] for c in customers] == ["CDC Co"]
    assert {i["Id"] for i in invoices} == {inv["Id"], gone["Id"]}
    stub = next(i for i in invoices if i["Id"] == gone["Id"])
    assert stub["status"] == "Deleted" and set(stub) == {"Id", "status", "domain", "MetaData"}
    empty = data(qbo.get("cdc", entities="Payment", changedSince=since))["CDCResponse"][0]["QueryResponse"]
    assert empty == [{}]
    old = (datetime.now() - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S")
    assert qbo.get("cdc", entities="Customer", changedSince=old).status_code == 400
    assert fault_code(qbo.get("cdc", entities="TaxCode", changedSince=since)) == "4001"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("customer", b"{not json"),
        ("customer", b"[1, 2]"),
        ("invoice", b'{"CustomerRef": "1", "Line": "x"}'),
        (
            "invoice",
            b'{"CustomerRef": {"value": "1"}, '
            b'"Line": [{"DetailType": "SalesItemLineDetail", "Amount": "x"}]}',
        ),
        ("payment", b'{"CustomerRef": {"value": "1"}, "TotalAmt": {"x": 1}}'),
        (
            "payment",
            b'{"CustomerRef": {"value": "1"}, "TotalAmt": 1, "Line": [{"Amount": 1, "LinkedTxn": 1}]}',
        ),
        ("invoice", b'{"CustomerRef": {"value": "1"}, "Line": [{"DetailType": []}]}'),
        (
            "invoice",
            b'{"CustomerRef": {"value": "1"}, "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, '
            b'"SalesItemLineDetail": 1}]}',
        ),
        (
            "batch",
            b'{"BatchItemRequest": [{"bId": "1", "operation": "create", "Invoice": {"CustomerRef": '
            b'{"value": "1"}, "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, '
            b'"SalesItemLineDetail": true}]}}]}',
        ),
        ("batch", b'{"BatchItemRequest": [1, "x", {"bId": "1", "operation": "create"}]}'),
        ("batch", b"{}"),
        ("journalentry", b'{"Line": [{"DetailType": "JournalEntryLineDetail", "Amount": 1}]}'),
        ("query", b"select"),
        ("nonsense", b"{}"),
        ("invoice?operation=explode", b"{}"),
    ],
)
def test_bad_requests_get_api_shaped_errors(qbo: QBO, path: str, body: bytes) -> None:
    r = qbo.post(path, body)
    assert r.status_code in (200, 400), r.text
    assert "Traceback" not in r.text
    if r.status_code == 400:
        fault_code(r)
    else:
        assert all("Fault" in i for i in data(r)["BatchItemResponse"])


def test_unknown_paths_are_faults_not_tracebacks(qbo: QBO) -> None:
    r = qbo.http.get(f"{qbo.url}/nowhere")
    assert r.status_code == 404 and "Fault" in r.json()
    r = qbo.http.delete(f"{qbo.url}/v3/company/{qbo.realm}/customer/1")
    assert r.status_code in (404, 405) and "Fault" in r.json()


class _Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[bytes, str]] = []
        self.event = threading.Event()

    async def hook(self, request: Request) -> Response:
        self.posts.append((await request.body(), request.headers.get("intuit-signature", "")))
        self.event.set()
        return Response(b"", 200)


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    rec = _Receiver()
    served = serve_app(Starlette(routes=[Route("/hook", rec.hook, methods=["POST"])]))
    yield rec, served.url + "/hook"
    served.stop()


def test_webhooks_are_signed_legacy_notifications(receiver: tuple[_Receiver, str]) -> None:
    rec, url = receiver
    with sandbox(webhook_url=url, webhook_verifier_token="verify-me") as (client, settings):
        cust = customer(client, "Hooked")
        deadline = time.monotonic() + 5
        while not rec.posts and time.monotonic() < deadline:
            rec.event.wait(0.1)
        assert rec.posts
        body, signature = rec.posts[0]
        expected = base64.b64encode(hmac.new(b"verify-me", body, hashlib.sha256).digest()).decode()
        assert signature == expected
        note = json.loads(body)["eventNotifications"][0]
        assert note["realmId"] == settings.realm_id
        entity = note["dataChangeEvent"]["entities"][0]
        assert entity["name"] == "Customer" and entity["id"] == cust["Id"] and entity["operation"] == "Create"
