"""Rev.io sandbox API contract over real HTTP: auth, envelope, paging, filters, sort, writes, errors."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import httpx
import pytest

from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.revio.app import create_app
from revqb_sandbox.revio.generator import generate
from revqb_sandbox.revio.jsonenc import dumps, loads
from revqb_sandbox.revio.settings import RevioSandboxSettings
from revqb_sandbox.revio.state import RevioDataset

pytestmark = pytest.mark.slow

SETTINGS = RevioSandboxSettings(seed=21, customers=40, months=6)


@functools.cache
def dataset() -> RevioDataset:
    return generate(SETTINGS.seed, SETTINGS.customers, SETTINGS.start, SETTINGS.months)


KEY = {"Ocp-Apim-Subscription-Key": "sandbox-apim-key"}
AUTH = ("INTEGRATIONS@sandbox", "sandbox-password")


def client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, auth=AUTH, headers=KEY, timeout=10)


def get(c: httpx.Client, path: str, **params: object) -> httpx.Response:
    return c.get(path, params={f"search.{k}": v for k, v in params.items()})


def body(r: httpx.Response) -> dict:
    return loads(r.content)


@pytest.fixture(scope="module")
def ro() -> Iterator[httpx.Client]:
    """A read-only server (never mutated by tests)."""
    srv = serve_app(create_app(SETTINGS))
    with client(srv.url) as c:
        yield c
    srv.stop()


@pytest.fixture
def rw() -> Iterator[tuple[ServedApp, httpx.Client]]:
    srv = serve_app(create_app(RevioSandboxSettings(customers=8)))
    with client(srv.url) as c:
        yield srv, c
    srv.stop()


def _assert_error(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    data = r.json()
    assert data["ok"] is False and isinstance(data["message"], str) and isinstance(data["errors"], list)
    assert "Traceback" not in r.text
    return data


# ----------------------------------------------------------------------------- auth
def test_auth_failures(ro: httpx.Client) -> None:
    url = str(ro.base_url).rstrip("/") + "/v1/Customers"
    r = httpx.get(url, auth=AUTH)
    assert (
        r.status_code == 401
        and r.json()["statusCode"] == 401
        and "missing subscription key" in r.json()["message"]
    )
    r = httpx.get(url, auth=AUTH, headers={"Ocp-Apim-Subscription-Key": "nope"})
    assert r.status_code == 401 and "invalid subscription key" in r.json()["message"]
    _assert_error(httpx.get(url, headers=KEY), 401)
    _assert_error(httpx.get(url, headers=KEY, auth=("INTEGRATIONS@sandbox", "wrong")), 401)
    _assert_error(httpx.get(url, headers=KEY, auth=("INTEGRATIONS@other", "sandbox-password")), 401)
    _assert_error(httpx.get(url, headers={**KEY, "Authorization": "Basic !!notbase64"}), 401)
    assert httpx.get(url, headers=KEY, auth=("integrations@SANDBOX", "sandbox-password")).status_code == 200


# ----------------------------------------------------------------------------- envelope and paging
def test_list_envelope_and_single_record(ro: httpx.Client) -> None:
    env = body(ro.get("/v1/Customers"))
    assert set(env) == {"ok", "has_more", "record_count", "records"}
    assert env["ok"] is True and env["record_count"] == 10 == len(env["records"]) and env["has_more"] is True
    assert "links" not in env["records"][0]
    one = body(ro.get("/v1/Customers/1001"))
    assert one["ok"] is True and one["customer_id"] == 1001
    assert one["links"] == [{"rel": "self", "href": str(ro.base_url).rstrip("/") + "/v1/customers/1001"}]
    assert [f["label"] for f in one["fields"]] == ["QBO Customer Id", "Collection Step"]
    charge = body(get(ro, "/v1/Charges", page_size=1))["records"][0]
    assert isinstance(charge["geocode"], str)
    assert b'"amount": ' in ro.get(f"/v1/Charges/{charge['charge_id']}").content  # numbers, not strings
    assert body(ro.get("/V1/CUSTOMERS/1001"))["customer_id"] == 1001
    assert body(ro.get("/v1/producttypes"))["record_count"] == 6


def test_paging_bounds(ro: httpx.Client) -> None:
    total = len(dataset().charges)
    assert total > 500
    assert body(get(ro, "/v1/Charges", page_size=501))["record_count"] == 500
    assert body(get(ro, "/v1/Charges", page_size=500, page=2))["record_count"] == total - 500
    last = body(get(ro, "/v1/Charges", page_size=500, page=2))
    assert last["has_more"] is False
    beyond = body(get(ro, "/v1/Charges", page_size=500, page=99))
    assert beyond["records"] == [] and beyond["has_more"] is False
    for bad in ({"page_size": 0}, {"page": 0}, {"page_size": "ten"}, {"page": "x"}):
        _assert_error(get(ro, "/v1/Charges", **bad), 400)
    assert body(ro.get("/v1/Charges", params={"page_size": 3}))["record_count"] == 10  # unprefixed: ignored


def test_page_size_over_limit_can_reject() -> None:
    srv = serve_app(create_app(RevioSandboxSettings(customers=2, page_size_over_limit="reject")))
    try:
        with client(srv.url) as c:
            _assert_error(get(c, "/v1/Customers", page_size=501), 400)
            assert get(c, "/v1/Customers", page_size=500).status_code == 200
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- filters, windows, sort
def test_equality_filters(ro: httpx.Client) -> None:
    ds = dataset()
    cid = ds.bills[0]["customer_id"]
    bills = body(get(ro, "/v1/Bills", customer_id=cid, page_size=500))["records"]
    assert [b["bill_id"] for b in bills] == [b["bill_id"] for b in ds.bills if b["customer_id"] == cid]
    unposted = body(get(ro, "/v1/Charges", bill_id=0, page_size=500))["records"]
    assert {c["charge_id"] for c in unposted} == {c["charge_id"] for c in ds.charges if c["bill_id"] is None}
    ids = f"{ds.bills[0]['bill_id']},{ds.bills[1]['bill_id']}"
    assert body(get(ro, "/v1/Bills", bill_id=ids))["record_count"] == 2
    refunds = body(get(ro, "/v1/Payments", refund_flag="true", page_size=500))["records"]
    assert all(p["refund_flag"] is True for p in refunds)
    assert len(refunds) == sum(1 for p in ds.payments if p["refund_flag"])
    acme = body(get(ro, "/v1/Customers", name="acme telecom"))["records"]
    assert {c["billing_address"]["company_name"] for c in acme} == {"Acme Telecom LLC", "ACME Telecom, LLC"}
    assert body(get(ro, "/v1/Customers", status="open"))["record_count"] > 0
    _assert_error(get(ro, "/v1/Bills", no_such_field=1), 400)


def test_date_windows_are_inclusive_and_validated(ro: httpx.Client) -> None:
    ds = dataset()
    stamp = ds.payments[5]["created_date"]
    same = body(get(ro, "/v1/Payments", created_date_start=stamp, created_date_end=stamp))["records"]
    assert ds.payments[5]["payment_id"] in {p["payment_id"] for p in same}
    assert all(p["created_date"] == stamp for p in same)
    after = body(get(ro, "/v1/Payments", created_date_start=stamp, page_size=500))["records"]
    assert len(after) == sum(1 for p in ds.payments if p["created_date"] >= stamp)
    assert body(get(ro, "/v1/Bills", created_date_start="2026-02-01", page_size=500))["record_count"] == sum(
        1 for b in ds.bills if b["created_date"] >= "2026-02-01T00:00:00"
    )
    _assert_error(get(ro, "/v1/Bills", created_date_start="yesterday"), 400)
    _assert_error(get(ro, "/v1/Bills", created_date_start="2026-01-01T00:00:00Z"), 400)


def test_sort(ro: httpx.Client) -> None:
    default = body(get(ro, "/v1/Bills", page_size=50))["records"]
    assert [b["bill_id"] for b in default] == sorted(b["bill_id"] for b in default)
    desc = body(get(ro, "/v1/Bills", sort="-created_date", page_size=500))["records"]
    keys = [(b["created_date"], -b["bill_id"]) for b in desc]
    assert keys == sorted(keys, reverse=True)
    by_amount = body(get(ro, "/v1/Bills", sort="amount_due", page_size=500))["records"]
    assert [b["amount_due"] for b in by_amount] == sorted(b["amount_due"] for b in by_amount)
    _assert_error(get(ro, "/v1/Bills", sort="-nope"), 400)


@pytest.mark.parametrize(
    ("path", "table", "pk"),
    [
        ("Bills", "bills", "bill_id"),
        ("Charges", "charges", "charge_id"),
        ("Payments", "payments", "payment_id"),
    ],
)
def test_paged_incremental_read_returns_exactly_the_generated_records(
    ro: httpx.Client, path: str, table: str, pk: str
) -> None:
    expected = loads(dumps(getattr(dataset(), table)))
    assert len(expected) > 50
    seen: list[dict] = []
    lo = datetime(2025, 12, 25)
    while lo < datetime(2026, 7, 2):
        hi = lo + timedelta(days=9, hours=23, minutes=59, seconds=59)  # [lo, hi] inclusive, windows abut
        page = 1
        while True:
            env = body(
                get(
                    ro,
                    f"/v1/{path}",
                    page_size=7,
                    page=page,
                    sort="created_date",
                    created_date_start=lo.isoformat(),
                    created_date_end=hi.isoformat(),
                )
            )
            assert env["record_count"] == len(env["records"]) <= 7
            seen.extend(env["records"])
            if not env["has_more"]:
                break
            page += 1
        lo = hi + timedelta(seconds=1)
    ids = [r[pk] for r in seen]
    assert len(ids) == len(set(ids))  # no repeats
    assert sorted(seen, key=lambda r: r[pk]) == expected  # no gaps, identical content


# ----------------------------------------------------------------------------- writes
def test_creates_return_201_location_and_id(rw: tuple[ServedApp, httpx.Client]) -> None:
    _, c = rw
    r = c.post(
        "/v1/Customers",
        json={
            "billing_address": {"company_name": "Zeta Café", "state_or_province": "TX"},
            "email": "ap@zeta.example.com",
        },
    )
    assert r.status_code == 201 and r.json()["ok"] is True
    cid = r.json()["id"]
    assert r.headers["Location"].endswith(f"/v1/Customers/{cid}")
    assert body(httpx.get(r.headers["Location"], auth=AUTH, headers=KEY))["email"] == "ap@zeta.example.com"
    r = c.post("/v1/Charges", json={"customer_id": cid, "product_id": 102, "quantity": 4})
    assert r.status_code == 201
    charge = body(c.get(f"/v1/Charges/{r.json()['id']}"))
    assert charge["product_amount"] == Decimal("74.00") and charge["tax_class_id"] == 202
    assert charge["amount"] == charge["product_amount"] + charge["tax_amount"] and charge["bill_id"] is None
    assert charge["geocode"] == "US482010000"
    r = c.post(
        "/v1/Credits", json={"customer_id": cid, "amount": "10.00", "atype": "OCC", "description": "goodwill"}
    )
    assert r.status_code == 201
    r = c.post("/v1/Payments", json={"customer_id": cid, "amount": 20, "payment_method_id": 2})
    assert r.status_code == 201 and body(c.get(f"/v1/Payments/{r.json()['id']}"))["method"] == "CREDIT_CARD"
    r = c.post("/v1/Bills", json={"customer_id": cid})
    assert r.status_code == 201
    bill = body(c.get(r.headers["Location"]))
    assert bill["invoice_amount"] == charge["amount"] and bill["credit_memo_amount"] == Decimal("10.00")
    assert bill["amount_due"] == charge["amount"] - Decimal("10.00")
    assert body(get(c, "/v1/Payments", bill_id=bill["bill_id"]))["record_count"] == 1
    _assert_error(c.post("/v1/Bills", json={"customer_id": cid}), 400)  # nothing unposted any more
    _assert_error(c.post("/v1/Charges", json={"customer_id": cid}), 400)  # no description/rate
    _assert_error(c.post("/v1/Charges", json={"customer_id": 999999, "description": "x", "rate": 1}), 404)
    _assert_error(
        c.post("/v1/Payments", content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    _assert_error(c.post("/v1/Credits", json={"customer_id": cid, "amount": 5, "atype": "XYZ"}), 400)


def test_json_patch_custom_fields_and_status(rw: tuple[ServedApp, httpx.Client]) -> None:
    _, c = rw
    bill = body(get(c, "/v1/Bills", page_size=1))["records"][0]
    hdr = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "replace", "path": "/fields/0/value", "value": "145"}]
    r = c.patch(f"/v1/Bills/{bill['bill_id']}", content=dumps(ops), headers=hdr)
    assert r.status_code == 200, r.text
    assert body(c.get(f"/v1/Bills/{bill['bill_id']}"))["fields"][0] == {
        "field_id": 201,
        "label": "QBO Invoice Id",
        "value": "145",
    }
    _assert_error(
        c.patch(
            f"/v1/Bills/{bill['bill_id']}",
            content=dumps([{"op": "replace", "path": "/amount_due", "value": 0}]),
            headers=hdr,
        ),
        400,
    )
    _assert_error(
        c.patch(
            f"/v1/Bills/{bill['bill_id']}",
            content=dumps([{"op": "replace", "path": "/fields/7/value", "value": "x"}]),
            headers=hdr,
        ),
        400,
    )
    _assert_error(c.patch(f"/v1/Bills/{bill['bill_id']}", content=b'{"op": "replace"}', headers=hdr), 400)
    before = body(c.get("/v1/Customers/1001"))
    ops = [
        {"op": "replace", "path": "/fields/0/value", "value": 58},
        {"op": "replace", "path": "/status", "value": "closed"},
    ]
    assert c.patch("/v1/Customers/1001", content=dumps(ops), headers=hdr).status_code == 200
    after = body(c.get("/v1/Customers/1001"))
    assert after["fields"][0]["value"] == "58" and after["status"] == "CLOSED"
    assert after["updated_date"] >= before["updated_date"]
    _assert_error(
        c.patch(
            "/v1/Customers/1001",
            content=dumps(
                [
                    {"op": "test", "path": "/status", "value": "OPEN"},
                    {"op": "replace", "path": "/email", "value": "x@y"},
                ]
            ),
            headers=hdr,
        ),
        400,
    )
    assert body(c.get("/v1/Customers/1001"))["email"] == after["email"]  # atomic
    _assert_error(c.patch("/v1/Charges/700001", content=dumps(ops), headers=hdr), 405)


def test_error_shapes(rw: tuple[ServedApp, httpx.Client]) -> None:
    srv, c = rw
    _assert_error(c.get("/v1/Bills/999999"), 404)
    _assert_error(c.get("/v1/Bills/abc"), 400)
    _assert_error(c.get("/v1/NoSuchThing"), 404)
    _assert_error(c.delete("/v1/Bills/50001"), 405)
    _assert_error(c.put("/v1/Customers/1001", json={}), 405)
    _assert_error(c.post("/v1/ProductTypes", json={}), 405)
    _assert_error(c.post("/v1/Bills/50001", json={}), 405)
    _assert_error(c.get("/v1/Bills/1/2/3"), 405)
    _assert_error(httpx.get(srv.url + "/elsewhere"), 404)


# ----------------------------------------------------------------------------- rate limit and faults
def test_rate_limit_429_with_retry_after() -> None:
    srv = serve_app(create_app(RevioSandboxSettings(customers=2, rate_per_minute=5, time_scale=0.02)))
    try:
        with client(srv.url) as c:
            codes = [c.get("/v1/Customers").status_code for _ in range(5)]
            assert codes == [200] * 5
            r = c.get("/v1/Customers")
            assert r.status_code == 429
            wait = int(r.headers["Retry-After"])
            assert 1 <= wait <= 2
            assert r.json() == {
                "statusCode": 429,
                "message": f"Rate limit is exceeded. Try again in {wait} seconds.",
            }
            assert httpx.get(srv.url + "/_admin/summary").status_code == 200  # admin is not limited
            time.sleep(wait)
            assert c.get("/v1/Customers").status_code == 200
    finally:
        srv.stop()


def test_faults_from_settings_and_admin() -> None:
    srv = serve_app(create_app(RevioSandboxSettings(customers=2, faults="revio.http_503=#1,qbo.http_500=#5")))
    try:
        with client(srv.url) as c:
            _assert_error(c.get("/v1/Customers"), 503)
            assert c.get("/v1/Customers").status_code == 200
            r = httpx.post(srv.url + "/_admin/faults", json={"spec": "revio.http_429=#1"})
            assert r.status_code == 200 and r.json()["rules"][0]["kind"] == "http_429"
            r = c.get("/v1/Bills")
            assert r.status_code == 429 and "Rate limit is exceeded" in r.json()["message"]
            assert r.headers["Retry-After"] == "1"
            assert c.get("/v1/Bills").status_code == 200
            _assert_error(httpx.post(srv.url + "/_admin/faults", json={"spec": "garbage"}), 400)
    finally:
        srv.stop()
