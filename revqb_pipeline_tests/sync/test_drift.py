"""Issue 14, QBO drift out, over both sandboxes: after a real sync, an accountant voids an invoice, deletes
another, raises a payment's amount and renames a customer in QBO. Each is detected (through the sandbox's
signed webhooks and through CDC), recorded with what changed from what to what, alerted once across
several passes, and under ``restore`` repaired to match Rev.io to the cent, without a duplicate document.
revqb's own writes (the sync, the restore) are never drift; unsigned and forged webhooks store nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from revqb_pipeline import entities
from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.money import to_decimal
from revqb_pipeline.notify import Notifier, SlackChannel
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.drift import DriftStore
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.drift import detect_drift, load_functions, restore_drift
from revqb_pipeline.sync.qbo_events import handle_qbo_notification, signature_of
from revqb_pipeline.sync.runtime import Runtime, engine_for
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._receivers import SlackReceiver
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.servers import build_settings

TOKEN = "drift-verifier-token-1"
RESTORE_ALL = """
drift:
  default: restore
"""


class QBOWebhookReceiver:
    """The ASGI route the lead mounts at POST /qbo/webhooks, in miniature: raw body + header in, store."""

    def __init__(self, db_url: str) -> None:
        self.store = DriftStore(engine_for(db_url))
        app = Starlette(routes=[Route("/qbo/webhooks", self._hook, methods=["POST"])])
        self.served: ServedApp = serve_app(app)
        self.url = f"{self.served.url}/qbo/webhooks"
        self.answers: list[int] = []

    async def _hook(self, request: Request) -> JSONResponse:
        body = await request.body()
        sig = request.headers.get("intuit-signature")
        status, out = await run_in_threadpool(handle_qbo_notification, body, sig, TOKEN, self.store)
        self.answers.append(status)
        return JSONResponse(out, status_code=status)

    def wait_for(self, realm: str, entity: str, qbo_id: str, timeout: float = 15.0) -> None:
        """Wait until a notification of ``entity`` ``qbo_id`` is stored (the sandbox delivers in order)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any((n.entity, n.qbo_id) == (entity, qbo_id) for n in self.store.pending_notifications(realm)):
                return
            time.sleep(0.05)
        raise AssertionError(f"no QBO webhook notification for {entity} {qbo_id}")

    def settle(self, minimum: int, timeout: float = 15.0) -> int:
        """Wait until at least ``minimum`` notifications are stored and no new one arrived for 0.5 s."""
        deadline = time.monotonic() + timeout
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = self.store.notification_count()
            if count != last:
                last, quiet_since = count, time.monotonic()
            elif count >= minimum and time.monotonic() - quiet_since > 0.5:
                return count
            time.sleep(0.1)
        raise AssertionError(f"only {last} QBO webhook notifications stored, wanted {minimum}")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Pipeline, QBOWebhookReceiver, SlackReceiver]]:
    db_url = f"sqlite:///{tmp_path / 'revqb.db'}"
    receiver = QBOWebhookReceiver(db_url)
    slack = SlackReceiver()
    revio, qbo = build_settings(customers=8, seed=41)
    qbo = qbo.model_copy(update={"webhook_url": receiver.url, "webhook_verifier_token": TOKEN})
    try:
        with pipeline(db_url, tmp_path, revio_settings=revio, qbo_settings=qbo) as p:
            for bill in sorted(p.bills().values(), key=lambda b: int(b["bill_id"]))[:2]:
                p.pay(int(bill["customer_id"]), Decimal("100.00"), bill=int(bill["bill_id"]))
            assert p.run()
            receiver.settle(1)
            yield p, receiver, slack
    finally:
        slack.stop()
        receiver.served.stop()


def _requests(p: Pipeline) -> int:
    return int(p.qbo_stats()["realms"][p.sb.qbo.realm_id]["requests"])


def payments_sid(p: Pipeline, qbo_id: str) -> str:
    return next(sid for sid, qid in _ledger(p, "payment").items() if qid == qbo_id)


def _ledger(p: Pipeline, source_type: str) -> dict[str, str]:
    rows = p.runtime().ledger.rows(source_type=source_type, statuses=[LedgerStatus.SYNCED])
    return {r.source_id: str(r.qbo_id) for r in rows if r.qbo_id}


def _targets(p: Pipeline) -> dict[str, Any]:
    """An invoice no payment is applied to (void), a paid invoice (delete), a payment applied to another
    invoice (amount edit), a customer (rename)."""
    bills = _ledger(p, "bill")
    payments = {qid: sid for sid, qid in _ledger(p, "payment").items()}
    applied: dict[str, str] = {}  # invoice id -> a payment applied to it
    for pm in p.qbo_all("Payment"):
        for ln in pm.get("Line") or []:
            for link in ln["LinkedTxn"]:
                if str(pm["Id"]) in payments:
                    applied.setdefault(str(link["TxnId"]), str(pm["Id"]))
    free = sorted((sid for sid, qid in bills.items() if qid not in applied), key=int)
    paid = sorted((sid for sid, qid in bills.items() if qid in applied), key=int)
    assert free and len(paid) >= 2, (free, paid)
    payment = applied[bills[paid[1]]]
    customers = _ledger(p, "customer")
    cust_sid = sorted(customers, key=int)[0]
    return {
        "void": (free[0], bills[free[0]]),
        "delete": (paid[0], bills[paid[0]]),
        "payment": (payments[payment], payment),
        "customer": (cust_sid, customers[cust_sid]),
        "relink": applied[bills[paid[0]]],  # the payment applied to the deleted invoice
    }


def _someone_else(qbo: QBOClient, t: dict[str, Any]) -> dict[str, Any]:
    """An accountant's edits in QBO (plain API calls with the current SyncToken)."""
    rid = lambda: uuid.uuid4().hex[:20]  # noqa: E731
    inv = qbo.read("Invoice", t["void"][1])
    before = {"void_total": to_decimal(inv["TotalAmt"])}
    qbo.void_invoice(inv["Id"], inv["SyncToken"], request_id=rid())
    gone = qbo.read("Invoice", t["delete"][1])
    before["delete_total"] = to_decimal(gone["TotalAmt"])
    before["delete_doc"] = gone["DocNumber"]
    qbo.delete("Invoice", gone["Id"], gone["SyncToken"], request_id=rid())
    pay = qbo.read("Payment", t["payment"][1])
    before["payment_total"] = to_decimal(pay["TotalAmt"])
    body = {"Id": pay["Id"], "SyncToken": pay["SyncToken"], "TotalAmt": to_decimal(pay["TotalAmt"]) + 10}
    qbo.update("Payment", body, request_id=rid())
    cust = qbo.read("Customer", t["customer"][1])
    before["name"] = cust["DisplayName"]
    qbo.update(
        "Customer",
        {"Id": cust["Id"], "SyncToken": cust["SyncToken"], "DisplayName": "Renamed By Hand"},
        request_id=rid(),
    )
    return before


def _changes(d: Any) -> dict[str, tuple[Any, Any]]:
    return {c["field"]: (c["from"], c["to"]) for c in d.changes}


@pytest.mark.slow
def test_drift_detected_recorded_alerted_once_and_restored(world, capsys) -> None:
    p, receiver, slack = world
    rt = p.runtime()
    notifier = Notifier([SlackChannel(slack.url)], rt.engine)

    # the sync itself (creates, payment applications bumping invoice SyncTokens) is not drift
    used = _requests(p)
    quiet = detect_drift(rt, notifier=notifier)
    assert _requests(p) - used == 5  # one CDC call per entity, no read: every change was revqb's
    assert quiet.new == [] and quiet.examined >= 0 and quiet.notifications > 0, quiet
    assert quiet.cdc_objects > 0 and quiet.own_writes > 0 and slack.messages == []

    _unsigned_forged_and_replayed(p, receiver)

    t = _targets(p)
    stored = receiver.store.notification_count()
    before = _someone_else(p.runtime().qbo, t)
    receiver.settle(stored + 4)
    receiver.wait_for(p.sb.qbo.realm_id, "Customer", t["customer"][1])  # the last edit's delivery

    # pass 1: the signed webhooks only
    used = _requests(p)
    first = detect_drift(rt, notifier=notifier, use_cdc=False)
    assert _requests(p) - used <= 3  # one batched read per entity (a deleted invoice needs none)
    found = {(d.source_type, d.source_id): d for d in first.new}
    assert set(found) == {("bill", t["void"][0]), ("bill", t["delete"][0]), ("payment", t["payment"][0]),
                          ("customer", t["customer"][0])}, first  # fmt: skip
    assert all(d.detected_by == "webhook" for d in first.new)
    voided = found[("bill", t["void"][0])]
    assert voided.kind == "voided"
    assert _changes(voided)["TotalAmt"] == (f"{before['void_total']:.2f}", "0.00")
    assert _changes(voided)["PrivateNote"][1].startswith("Voided")
    deleted = found[("bill", t["delete"][0])]
    assert deleted.kind == "deleted" and _changes(deleted)["TotalAmt"] == (
        f"{before['delete_total']:.2f}",
        None,
    )
    paid = found[("payment", t["payment"][0])]
    assert paid.kind == "changed"
    assert _changes(paid)["TotalAmt"] == (
        f"{before['payment_total']:.2f}",
        f"{before['payment_total'] + 10:.2f}",
    )
    renamed = found[("customer", t["customer"][0])]
    assert renamed.kind == "changed" and _changes(renamed) == {
        "DisplayName": (before["name"], "Renamed By Hand")
    }
    assert len(slack.messages) == 1 and "QuickBooks drift (4)" in slack.messages[0]
    assert "Renamed By Hand" in slack.messages[0] and "voided in QBO" in slack.messages[0]

    # pass 2: CDC sees the same four drifts: not recorded, not alerted again
    second = detect_drift(rt, notifier=notifier, use_webhooks=False)
    assert second.new == [] and second.known == 4, second
    third = detect_drift(rt, notifier=notifier)
    assert third.new == [] and len(slack.messages) == 1

    # report (the default policy) repairs nothing
    loads = load_functions(entities.STEPS)
    assert restore_drift(rt, loads).restored == {}

    # the CLI shows it: `revqb status` lists the open drift, `revqb reconcile` fails while it is open
    from revqb_pipeline.cli import main

    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["drift"]
    assert {(d["source_type"], d["source_id"], d["kind"]) for d in shown} == {
        (st, sid, found[(st, sid)].kind) for st, sid in found
    }
    assert main(["reconcile"]) == 1
    assert "QBO drift: 4 open (see revqb status)" in capsys.readouterr().out

    # restore: re-posted from Rev.io through the ledger
    mapping = Path(p.home.parent / "restore.yaml")
    default = Path(entities.__file__).parent.parent / "mapping" / "default.yaml"
    mapping.write_text(default.read_text() + RESTORE_ALL)
    rt2 = Runtime(RevqbSettings.from_env({**p.env, "REVQB_MAPPING_FILE": str(mapping)}))
    used = _requests(p)
    done = restore_drift(rt2, loads)
    assert _requests(p) - used <= 20, _requests(p) - used  # 13 measured: 4 load runs incl. the re-apply
    assert done.failed == {} and len(done.restored) == 4, done
    assert all(d.resolution == "restored" for d in DriftStore(rt.engine).drifts())

    qbo = p.runtime().qbo
    bills = {str(b["bill_id"]): b for b in p.revio().iter_records("Bills")}
    for key in ("void", "delete"):
        sid = t[key][0]
        docs = qbo.query_rows(f"SELECT * FROM Invoice WHERE DocNumber = 'RV-{sid}'")
        assert len(docs) == 1, docs  # no duplicate
        assert to_decimal(docs[0]["TotalAmt"]) == to_decimal(bills[sid]["invoice_amount"])
        assert not str(docs[0].get("PrivateNote", "")).startswith("Voided")
    assert _ledger(p, "bill")[t["void"][0]] == t["void"][1]
    new_id = _ledger(p, "bill")[t["delete"][0]]
    assert new_id != t["delete"][1]  # recreated (a new requestid: the old one would replay a dead id)
    assert qbo.read("Invoice", new_id)["DocNumber"] == before["delete_doc"]
    revio_payment = next(
        x for x in p.revio().iter_records("Payments") if str(x["payment_id"]) == t["payment"][0]
    )
    assert to_decimal(qbo.read("Payment", t["payment"][1])["TotalAmt"]) == to_decimal(revio_payment["amount"])
    assert qbo.read("Customer", t["customer"][1])["DisplayName"] == before["name"]
    relinked = qbo.read("Payment", t["relink"])  # re-applied to the recreated invoice
    assert [link["TxnId"] for ln in relinked["Line"] for link in ln["LinkedTxn"]] == [new_id]
    assert ("payment", payments_sid(p, t["relink"])) in done.relinked
    disagree = [r.as_dict() for r in entities.reconcile(rt2) if not r.agrees]
    assert disagree == []  # Rev.io and QBO agree to the cent: counts, totals, balances
    named = qbo.query_rows(f"SELECT * FROM Customer WHERE DisplayName = '{before['name']}'")
    assert len(named) == 1

    # the restore's own writes are not drift; nothing more is alerted
    receiver.settle(1)
    after = detect_drift(rt, notifier=notifier)
    assert after.new == [] and len(slack.messages) == 1, after
    assert DriftStore(rt.engine).drifts(open_only=True) == []


def _unsigned_forged_and_replayed(p: Pipeline, receiver: QBOWebhookReceiver) -> None:
    """Over HTTP: unsigned and forged deliveries are 401 and store nothing; a replay stores nothing new;
    a change to a document revqb never posted is no drift."""
    realm = p.sb.qbo.realm_id
    body = (
        f'{{"eventNotifications":[{{"realmId":"{realm}","dataChangeEvent":{{"entities":[{{"name":"Invoice",'
        '"id":"999999","operation":"Update","lastUpdated":"2026-01-02T00:00:00Z"}]}}]}'
    ).encode()
    before = receiver.store.notification_count()
    unsigned = httpx.post(receiver.url, content=body)
    forged = httpx.post(receiver.url, content=body, headers={"intuit-signature": signature_of(body, "wrong")})
    assert (unsigned.status_code, forged.status_code) == (401, 401)
    assert receiver.store.notification_count() == before
    signed = {"intuit-signature": signature_of(body, TOKEN)}
    first = httpx.post(receiver.url, content=body, headers=signed)
    replay = httpx.post(receiver.url, content=body, headers=signed)
    assert first.json() == {"stored": 1, "duplicates": 0, "ignored": 0}
    assert replay.status_code == 200 and replay.json() == {"stored": 0, "duplicates": 1, "ignored": 0}
    assert receiver.store.notification_count() == before + 1
    report = detect_drift(p.runtime(), use_cdc=False)
    assert report.new == [] and report.notifications == 1 and report.examined == 0
