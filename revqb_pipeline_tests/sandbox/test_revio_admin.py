"""Rev.io sandbox admin scenarios and webhooks over real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.revio.app import create_app
from revqb_sandbox.revio.jsonenc import loads
from revqb_sandbox.revio.settings import RevioSandboxSettings

pytestmark = pytest.mark.slow

KEY = {"Ocp-Apim-Subscription-Key": "sandbox-apim-key"}
AUTH = ("INTEGRATIONS@sandbox", "sandbox-password")


class Sandbox:
    def __init__(self, srv: ServedApp) -> None:
        self.url = srv.url
        self.api = httpx.Client(base_url=srv.url + "/v1", auth=AUTH, headers=KEY, timeout=10)
        self.admin = httpx.Client(base_url=srv.url + "/_admin", timeout=10)

    def get(self, path: str, **params: object) -> dict:
        r = self.api.get(path, params={f"search.{k}": v for k, v in params.items()})
        assert r.status_code == 200, r.text
        return loads(r.content)

    def post(self, path: str, payload: dict | None = None, status: int = 200) -> dict:
        r = self.admin.post(path, json=payload or {})
        assert r.status_code == status, r.text
        return loads(r.content)


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    srv = serve_app(create_app(RevioSandboxSettings(customers=6, bills=False, freeze_clock=True)))
    yield Sandbox(srv)
    srv.stop()


def _cycle(sb: Sandbox, day: str) -> list[int]:
    return sb.post("/billing-cycle", {"cycle_date": day})["bill_ids"]


def test_billing_cycle_bills_every_customer_with_exact_totals(sb: Sandbox) -> None:
    assert sb.get("/Bills")["record_count"] == 0
    bill_ids = _cycle(sb, "2026-01-01")
    assert len(bill_ids) == 6
    types = {t["product_type_id"]: t["product_type_code"] for t in sb.get("/ProductTypes")["records"]}
    for bill_id in bill_ids:
        bill = sb.get(f"/Bills/{bill_id}")
        charges = sb.get("/Charges", bill_id=bill_id, page_size=500)["records"]
        assert bill["invoice_amount"] == sum(c["amount"] for c in charges)
        assert bill["amount_due"] == bill["invoice_amount"] - bill["credit_memo_amount"]
        assert bill["cycle_date"] == "2026-01-01T00:00:00" and bill["created_date"] == "2026-01-01T02:00:00"
        for c in charges:
            kind = types[c["product_type_id"]]
            if kind == "MRC":
                assert (c["start_date"], c["end_date"]) == ("2026-01-01T00:00:00", "2026-01-31T00:00:00")
            elif kind == "USAGE":
                assert c["start_date"] >= "2025-12-01T00:00:00" and c["end_date"] == "2025-12-31T00:00:00"
    assert _cycle(sb, "2026-01-01") == []  # nothing left to bill for the same cycle
    summary = sb.admin.get("/summary").json()
    assert summary["bills"]["count"] == 6 and summary["charges"]["unposted"] == 0
    assert Decimal(str(summary["bills"]["invoice_amount"])) == sum(
        (b["invoice_amount"] for b in sb.get("/Bills", page_size=500)["records"]), Decimal(0)
    )


def test_mid_month_service_is_prorated_and_cancellation_gives_a_final_bill(sb: Sandbox) -> None:
    _cycle(sb, "2026-01-01")
    sp = sb.post(
        "/customers/1001/services", {"product_id": 101, "quantity": 10, "activated_date": "2026-01-17"}
    )
    [bill_id] = sb.post("/billing-cycle", {"cycle_date": "2026-02-01", "customer_ids": [1001]})["bill_ids"]
    seats = [
        c
        for c in sb.get("/Charges", bill_id=bill_id)["records"]
        if c["service_product_id"] == sp["service_product"]["service_product_id"]
    ]
    prorated = [c for c in seats if c["is_prorated"]]
    assert len(prorated) == 1 and prorated[0]["start_date"] == "2026-01-17T00:00:00"
    assert prorated[0]["end_date"] == "2026-01-31T00:00:00" and prorated[0]["quantity"] == Decimal("4.8387")
    assert prorated[0]["product_amount"] == Decimal("120.73")  # 24.95 * 4.8387
    services = [s for s in sb.get("/ServiceProduct", customer_id=1001)["records"]]
    for s in services:
        sb.post(f"/services/{s['service_product_id']}/cancel", {"canceled_date": "2026-02-10"})
    [b3] = sb.post("/billing-cycle", {"cycle_date": "2026-03-01", "customer_ids": [1001]})["bill_ids"]
    assert sb.get(f"/Bills/{b3}")["is_final_bill"] is True
    assert sb.get("/Customers/1001")["status"] == "CLOSED"


def test_payments_bounce_and_refund(sb: Sandbox) -> None:
    [bill_id, *_] = _cycle(sb, "2026-01-01")
    bill = sb.get(f"/Bills/{bill_id}")
    cid = bill["customer_id"]
    pay = sb.post(
        "/payments",
        {
            "customer_id": cid,
            "amount": str(bill["amount_due"]),
            "method": "ACH",
            "bill_id": bill_id,
            "reference_number": "ACH123",
        },
    )["payment"]
    assert sb.get(f"/Customers/{cid}")["finance"]["balance"] == Decimal("0.00")
    rows = sb.post(f"/payments/{pay['payment_id']}/bounce")["payments"]
    assert len(rows) == 2
    orig = sb.get(f"/Payments/{pay['payment_id']}")
    assert orig["bounced"] is True and orig["amount"] == bill["amount_due"]
    rev = sb.get("/Payments", original_payment_id=pay["payment_id"])["records"]
    assert len(rev) == 1 and rev[0]["amount"] == -bill["amount_due"] and rev[0]["refund_flag"] is False
    assert rev[0]["bill_id"] == bill_id and rev[0]["reference_number"] == "BOUNCE-ACH123"
    assert sb.get(f"/Customers/{cid}")["finance"]["balance"] == bill["amount_due"]
    sb.post(f"/payments/{pay['payment_id']}/bounce", status=400)
    over = sb.post(
        "/payments",
        {
            "customer_id": cid,
            "amount": str(bill["amount_due"] + 25),
            "method": "CREDIT_CARD",
            "bill_id": bill_id,
        },
    )["payment"]
    assert over["balance"] == Decimal("25.00")
    refund = sb.post(f"/payments/{over['payment_id']}/refund", {"amount": "25.00"})["payment"]
    assert refund["refund_flag"] is True and refund["amount"] == Decimal("-25.00")
    assert refund["original_payment_id"] == over["payment_id"]
    sb.post(f"/payments/{over['payment_id']}/refund", {"amount": str(bill["amount_due"] + 1)}, status=400)
    assert sb.get(f"/Customers/{cid}")["finance"]["balance"] == Decimal("0.00")
    on_account = sb.post("/payments", {"customer_id": cid, "amount": 40, "method": "CHECK"})["payment"]
    assert on_account["bill_id"] is None
    next_bill = sb.post("/billing-cycle", {"cycle_date": "2026-02-01", "customer_ids": [cid]})["bill_ids"][0]
    assert sb.get(f"/Payments/{on_account['payment_id']}")["bill_id"] == next_bill
    sb.post("/payments", {"customer_id": cid, "amount": 1, "method": "BITCOIN"}, status=400)
    sb.post("/payments/999999/bounce", status=404)


def test_credits_attach_to_bills(sb: Sandbox) -> None:
    [bill_id, *_] = _cycle(sb, "2026-01-01")
    bill = sb.get(f"/Bills/{bill_id}")
    cid = bill["customer_id"]
    dispute = sb.post(
        "/credits", {"customer_id": cid, "kind": "dispute", "amount": "12.34", "bill_id": bill_id}
    )
    assert dispute["credit"]["atype"] == "OCC" and dispute["credit"]["bill_id"] == bill_id
    after = sb.get(f"/Bills/{bill_id}")
    assert after["credit_memo_amount"] == Decimal("12.34")
    assert after["amount_due"] == after["invoice_amount"] - Decimal("12.34")
    outage = sb.post(
        "/credits", {"customer_id": cid, "kind": "service_credit", "amount": 10, "product_id": 101}
    )
    c = outage["credit"]
    assert c["atype"] == "MRC" and c["bill_id"] is None and c["tax_class_id"] == 302
    assert c["amount"] == c["product_amount"] + c["tax_amount"]
    bad = sb.post("/credits", {"customer_id": cid, "kind": "bad_debt", "amount": 5})["credit"]
    assert bad["atype"] == "ADJ" and bad["is_bad_debt"] is True
    [b2] = sb.post("/billing-cycle", {"cycle_date": "2026-02-01", "customer_ids": [cid]})["bill_ids"]
    assert sb.get(f"/Bills/{b2}")["credit_memo_amount"] == c["amount"] + bad["amount"]
    sb.post("/credits", {"customer_id": cid, "kind": "gift", "amount": 5}, status=400)


def test_customer_status_and_dunning(sb: Sandbox) -> None:
    out = sb.post(
        "/customers/1002/status",
        {"suspended": True, "collection_step": "2-Way Suspend", "amount_overdue": "99.10"},
    )["customer"]
    cust = sb.get("/Customers/1002")
    assert cust["suspended"] is True and cust["suspended_date"] == out["suspended_date"] is not None
    assert cust["fields"][1] == {"field_id": 102, "label": "Collection Step", "value": "2-Way Suspend"}
    assert cust["finance"]["amount_overdue"] == Decimal("99.10")
    sb.post("/customers/1002/status", {"status": "closed", "suspended": False})
    cust = sb.get("/Customers/1002")
    assert cust["status"] == "CLOSED" and cust["close_date"] and cust["suspended"] is False
    assert cust["suspended_date"] is None
    sb.post("/customers/1002/status", {"status": "GONE"}, status=400)
    sb.post("/customers/1002/status", {"colour": "red"}, status=400)


def test_reverse_bill_unposts_its_transactions(sb: Sandbox) -> None:
    [bill_id, *_] = _cycle(sb, "2026-01-01")
    charges = sb.get("/Charges", bill_id=bill_id)["records"]
    rev = sb.post(f"/bills/{bill_id}/reverse")["bill"]
    assert rev["is_reversed"] is True and rev["reversed_date"]
    bill = sb.get(f"/Bills/{bill_id}")
    assert (bill["invoice_amount"], bill["credit_memo_amount"], bill["amount_due"]) == (0, 0, 0)
    assert {c["charge_id"] for c in sb.get("/Charges", bill_id=0, page_size=500)["records"]} == {
        c["charge_id"] for c in charges
    }
    sb.post(f"/bills/{bill_id}/reverse", status=400)
    [rebill] = sb.post("/billing-cycle", {"cycle_date": "2026-01-01", "customer_ids": [bill["customer_id"]]})[
        "bill_ids"
    ]
    assert sb.get(f"/Bills/{rebill}")["invoice_amount"] == sum(c["amount"] for c in charges)


def test_clock_products_and_reset(sb: Sandbox) -> None:
    assert sb.admin.get("/clock").json()["now"] == "2026-01-01T00:00:00"
    assert sb.post("/clock", {"now": "2026-03-05T10:00:00"})["now"] == "2026-03-05T10:00:00"
    assert sb.post("/clock", {"advance_days": 1, "advance_seconds": 30})["now"] == "2026-03-06T10:00:30"
    prod = sb.post(
        "/products",
        {"product_type_id": 10, "description": "Call Recording", "rate": "7.50", "tax_class_id": 301},
    )["product"]
    got = sb.get(f"/Products/{prod['product_id']}")
    assert got["rate"] == Decimal("7.50") and got["created_date"] == "2026-03-06T10:00:30"
    sb.post("/products", {"product_type_id": 99, "description": "x", "rate": 1}, status=404)
    r = sb.api.post("/Charges", json={"customer_id": 1001, "product_id": prod["product_id"], "quantity": 2})
    assert r.status_code == 201
    assert sb.get(f"/Charges/{r.json()['id']}")["created_date"] == "2026-03-06T10:00:30"
    out = sb.post("/reset", {"customers": 3})
    assert out["summary"]["customers"]["count"] == 3 and out["summary"]["charges"]["count"] == 0
    sb.post("/reset", {"nonsense": 1}, status=400)
    assert sb.admin.post("/billing-cycle", content=b"[1]").status_code == 400


# ----------------------------------------------------------------------------- webhooks
class Receiver:
    """A tiny webhook receiver: records every POST; echoes X-Hook-Secret when ``echo``."""

    def __init__(self, echo: bool) -> None:
        self.echo = echo
        self.events: list[dict] = []
        self.secrets: list[str] = []
        self.cond = threading.Condition()

        async def hook(request: Request) -> Response:
            secret = request.headers.get("X-Hook-Secret")
            data = loads(await request.body())
            with self.cond:
                if secret:
                    self.secrets.append(secret)
                else:
                    self.events.append(data)
                self.cond.notify_all()
            return Response(
                status_code=200, headers={"X-Hook-Secret": secret} if secret and self.echo else {}
            )

        self.srv = serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
        self.url = self.srv.url + "/hook"

    def wait(self, n: int, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.events) < n and time.monotonic() < deadline:
                self.cond.wait(0.05)
            return list(self.events)


def test_webhook_handshake_subscription_and_delivery(sb: Sandbox) -> None:
    rx = Receiver(echo=True)
    try:
        r = sb.api.post("/WebhookReceivers", json={"url": rx.url, "description": "revqb"})
        assert r.status_code == 201 and r.headers["Location"].endswith(f"/{r.json()['id']}")
        rid = r.json()["id"]
        assert sb.get(f"/WebhookReceivers/{rid}")["active"] is True and len(rx.secrets) == 1
        for event in (
            "BILL_CREATED",
            "PAYMENT_CREATED",
            "PAYMENT_UPDATED",
            "CREDIT_CREATED",
            "CUSTOMER_UPDATED",
        ):
            assert (
                sb.api.post(
                    "/WebhookSubscriptions", json={"webhook_receiver_id": rid, "event_type": event}
                ).status_code
                == 201
            )
        assert sb.get("/WebhookSubscriptions")["record_count"] == 5
        assert (
            sb.api.post(
                "/WebhookSubscriptions", json={"webhook_receiver_id": rid, "event_type": "NOPE"}
            ).status_code
            == 400
        )
        bill_ids = _cycle(sb, "2026-01-01")
        events = rx.wait(len(bill_ids))
        assert sorted(e["object_id"] for e in events if e["event_type"] == "BILL_CREATED") == bill_ids
        assert set(events[0]) == {"event_id", "event_type", "created_date", "object_id"}
        pay = sb.post("/payments", {"customer_id": 1001, "amount": 10, "method": "CHECK"})["payment"]
        sb.post(f"/payments/{pay['payment_id']}/bounce")
        sb.post("/credits", {"customer_id": 1001, "kind": "adjustment", "amount": 3})
        sb.post("/customers/1001/status", {"suspended": True})
        events = rx.wait(len(bill_ids) + 5)
        kinds = [(e["event_type"], e["object_id"]) for e in events[len(bill_ids) :]]
        assert kinds[0] == ("PAYMENT_CREATED", pay["payment_id"])
        assert ("PAYMENT_UPDATED", pay["payment_id"]) in kinds
        assert {k for k, _ in kinds} == {
            "PAYMENT_CREATED",
            "PAYMENT_UPDATED",
            "CREDIT_CREATED",
            "CUSTOMER_UPDATED",
        }
        assert len({e["event_id"] for e in events}) == len(events)
        assert sb.api.delete(f"/WebhookReceivers/{rid}").status_code == 200
        assert sb.get("/WebhookSubscriptions")["record_count"] == 0
        assert sb.api.get(f"/WebhookReceivers/{rid}").status_code == 404
    finally:
        rx.srv.stop()


def test_webhook_receiver_activation_by_code(sb: Sandbox) -> None:
    rx = Receiver(echo=False)
    try:
        rid = sb.api.post("/WebhookReceivers", json={"url": rx.url}).json()["id"]
        assert sb.get(f"/WebhookReceivers/{rid}")["active"] is False
        assert sb.api.post(f"/WebhookReceivers/{rid}/activate", json={"code": "wrong"}).status_code == 400
        r = sb.api.post(f"/WebhookReceivers/{rid}/activate", json={"code": rx.secrets[0]})
        assert r.status_code == 200 and r.json()["active"] is True
        assert sb.api.post("/WebhookReceivers", json={"url": "not-a-url"}).status_code == 400
        assert sb.api.post("/WebhookReceivers/77/activate", json={"code": "x"}).status_code == 404
        assert (
            sb.api.get("/WebhookReceivers", headers={"Ocp-Apim-Subscription-Key": "bad"}).status_code == 401
        )
    finally:
        rx.srv.stop()


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/v1/Credits", b'{"customer_id": 1001, "amount": 1e400}'),
        ("/v1/Payments", b'{"customer_id": 1001, "amount": "NaN"}'),
        ("/v1/Customers", b'{"billing_address": "not an object"}'),
        ("/_admin/billing-cycle", b'{"cycle_date": "2026-02-01", "customer_ids": 5}'),
        ("/_admin/billing-cycle", b'{"cycle_date": "2026-13-01"}'),
        ("/_admin/clock", b'{"advance_days": "x"}'),
        ("/_admin/faults", b'{"rules": [{"kind": "bogus"}]}'),
        ("/_admin/reset", b'{"seed": "x"}'),
        ("/_admin/credits", b'{"customer_id": "abc", "amount": 1}'),
    ],
)
def test_bad_input_is_a_400_never_a_500(sb: Sandbox, path: str, payload: bytes) -> None:
    client = sb.api if path.startswith("/v1") else sb.admin
    r = client.post(path.removeprefix("/v1").removeprefix("/_admin"), content=payload)
    assert r.status_code == 400, r.text
    assert r.json()["ok"] is False and "Traceback" not in r.text
