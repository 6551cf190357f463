"""RevioClient against the Rev.io sandbox over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from revqb_pipeline.clients.errors import (
    RevioAuthError,
    RevioError,
    RevioFieldMissing,
    RevioNotFound,
    RevioTransportError,
)
from revqb_pipeline.clients.revio import RevioClient

pytestmark = pytest.mark.slow

revio_app = pytest.importorskip(
    "revqb_sandbox.revio.app", reason="Rev.io sandbox (revqb_sandbox.revio.app) missing"
)
from revqb_sandbox.harness import ServedApp, serve_app  # noqa: E402
from revqb_sandbox.revio.settings import RevioSandboxSettings  # noqa: E402


def _settings(**kw: Any) -> RevioSandboxSettings:
    return RevioSandboxSettings(customers=25, months=2, **kw)


@pytest.fixture
def sandbox() -> Iterator[ServedApp]:
    served = serve_app(revio_app.create_app(_settings()))
    yield served
    served.stop()


def _client(served: ServedApp, **kw: Any) -> RevioClient:
    s = served.app.state.sandbox.settings
    kw.setdefault("backoff_base_s", 0.01)
    return RevioClient(served.url, s.client_code, s.login, s.password, s.subscription_key, **kw)


def _faults(served: ServedApp, *rules: dict[str, Any]) -> None:
    httpx.post(f"{served.url}/_admin/faults", json={"rules": list(rules)}).raise_for_status()


def _summary(served: ServedApp) -> dict[str, Any]:
    return httpx.get(f"{served.url}/_admin/summary").json()


def test_paging_yields_every_record_once(sandbox: ServedApp) -> None:
    summary = _summary(sandbox)
    client = _client(sandbox, page_size=7)
    customers = list(client.customers())
    ids = [c["customer_id"] for c in customers]
    assert len(ids) == len(set(ids)) == summary["customers"]["count"]
    charges = list(_client(sandbox, page_size=50).iter_records("Charges"))
    assert len({c["charge_id"] for c in charges}) == len(charges) == summary["charges"]["count"]
    assert all(isinstance(c["amount"], Decimal) for c in charges)
    assert len(list(client.products())) == summary["products"]["count"]
    assert len(list(client.product_types())) == summary["product_types"]["count"]
    assert len(list(client.payment_methods())) == summary["payment_methods"]["count"]


def test_dedupe_when_inserts_shift_offset_pages(sandbox: ServedApp) -> None:
    client = _client(sandbox, page_size=5)
    before = {c["customer_id"] for c in client.customers()}
    seen: list[int] = []
    # newest first: every insert during the crawl pushes the remaining rows one page position down
    for i, rec in enumerate(client.iter_records("Customers", sort="-customer_id")):
        seen.append(rec["customer_id"])
        if i in (2, 7):
            client.create("Customers", {"billing_address": {"company_name": f"Inserted {i}"}})
    assert seen[:3] == sorted(seen[:3], reverse=True)  # the sort is honoured, so pages did shift
    assert len(seen) == len(set(seen))
    assert before <= set(seen)


def test_date_windows_are_inclusive(sandbox: ServedApp) -> None:
    client = _client(sandbox)
    bills = list(client.bills())
    stamps = sorted({b["created_date"] for b in bills})
    assert len(stamps) >= 2
    start = datetime.fromisoformat(stamps[0])
    end = datetime.fromisoformat(stamps[len(stamps) // 2])
    window = list(client.bills(created_start=start, created_end=end))
    expected = {b["bill_id"] for b in bills if start <= datetime.fromisoformat(b["created_date"]) <= end}
    assert {b["bill_id"] for b in window} == expected and expected
    bill_id = window[0]["bill_id"]
    charges = list(client.charges(bill_id=bill_id))
    assert charges and {c["bill_id"] for c in charges} == {bill_id}
    assert sum((c["amount"] for c in charges), Decimal(0)) == client.get("Bills", bill_id)["invoice_amount"]


def test_set_custom_field_and_get(sandbox: ServedApp) -> None:
    client = _client(sandbox)
    customer = next(iter(client.customers()))
    cid = customer["customer_id"]
    client.set_custom_field("Customers", cid, "QBO Customer Id", "4242")
    fields = {f["label"]: f["value"] for f in client.get("Customers", cid)["fields"]}
    assert fields["QBO Customer Id"] == "4242"
    with pytest.raises(RevioFieldMissing, match="No Such Label"):
        client.set_custom_field("Customers", cid, "No Such Label", "x")
    with pytest.raises(RevioNotFound):
        client.get("Customers", 999_999_999)


def test_create_returns_the_new_id(sandbox: ServedApp) -> None:
    client = _client(sandbox)
    new_id = client.create("Customers", {"billing_address": {"company_name": "O'Brien \\ Sons"}})
    assert isinstance(new_id, int)
    assert client.get("Customers", new_id)["billing_address"]["company_name"] == "O'Brien \\ Sons"
    with pytest.raises(RevioError) as info:
        client.create("Customers", {"billing_address": {}})
    assert info.value.status == 400 and "billing_address" in info.value.message


def test_throttle_fault_is_retried_after_retry_after(sandbox: ServedApp) -> None:
    _faults(sandbox, {"kind": "http_429", "count": 2, "retry_after_s": 1, "method": "GET"})
    client = _client(sandbox)
    started = time.monotonic()
    assert list(client.product_types())
    assert time.monotonic() - started >= 2.0


def test_real_rate_limit_is_waited_out() -> None:
    served = serve_app(revio_app.create_app(_settings(rate_per_minute=4, time_scale=0.02)))  # 4 per 1.2 s
    try:
        client = _client(served, page_size=5)
        started = time.monotonic()
        ids = [c["customer_id"] for c in client.customers()]  # 5 pages, the 5th is throttled
        assert time.monotonic() - started >= 0.9  # waited out the 429's Retry-After (1 s)
        assert len(ids) == len(set(ids)) == _summary(served)["customers"]["count"]
    finally:
        served.stop()


def test_server_errors_and_resets_are_retried_for_reads(sandbox: ServedApp) -> None:
    _faults(
        sandbox,
        {"kind": "http_503", "count": 1, "method": "GET"},
        {"kind": "http_500", "count": 1, "method": "GET"},
        {"kind": "reset_before_write", "count": 1, "method": "GET"},
    )
    assert list(_client(sandbox).payment_methods())
    faults = httpx.get(f"{sandbox.url}/_admin/faults").json()
    assert faults["injected"] == {"http_503": 1, "http_500": 1, "reset_before_write": 1}


def test_create_is_not_blindly_retried(sandbox: ServedApp) -> None:
    client = _client(sandbox)
    count = _summary(sandbox)["customers"]["count"]
    _faults(sandbox, {"kind": "http_500", "count": 1, "method": "POST"})
    with pytest.raises(RevioError) as info:
        client.create("Customers", {"billing_address": {"company_name": "Once"}})
    assert info.value.status == 500
    _faults(sandbox, {"kind": "drop_after_commit", "count": 1, "method": "POST"})
    with pytest.raises(RevioTransportError):
        client.create("Customers", {"billing_address": {"company_name": "Maybe"}})
    assert _summary(sandbox)["customers"]["count"] == count + 1  # committed once, never duplicated
    _faults(sandbox, {"kind": "http_503", "count": 1, "method": "POST"})
    assert client.create("Customers", {"billing_address": {"company_name": "After 503"}})


def test_bad_credentials(sandbox: ServedApp) -> None:
    s = sandbox.app.state.sandbox.settings
    bad = RevioClient(sandbox.url, s.client_code, s.login, "wrong", s.subscription_key)
    with pytest.raises(RevioAuthError):
        bad.get("Customers", 1001)
    nokey = RevioClient(sandbox.url + "/v1", s.client_code, s.login, s.password, "nope")
    with pytest.raises(RevioAuthError, match="subscription key"):
        list(nokey.products())
