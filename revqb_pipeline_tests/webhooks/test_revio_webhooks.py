"""Webhooks in, over both sandboxes: registration, delivery, the plan into days, and the day's sync."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from revqb_pipeline.staging.events import EventStore
from revqb_pipeline.sync.webhook_events import CUSTOMER_NOTE, commit_plan, plan_events
from revqb_pipeline.webhooks import DEFAULT_EVENT_RESOURCES, Receiver, receiver_url, register, start_receiver
from revqb_pipeline_tests._books import BILL_DAY, assert_books_agree
from revqb_pipeline_tests._harness import Pipeline

pytestmark = pytest.mark.slow
SECRET = "wh-secret"


@pytest.fixture
def hooked(env: Pipeline) -> Iterator[tuple[Pipeline, Receiver, EventStore]]:
    store = EventStore(env.runtime().engine)
    rec = start_receiver(store, SECRET, DEFAULT_EVENT_RESOURCES, port=0)
    try:
        register(env.revio(), receiver_url(rec.base_url, SECRET), DEFAULT_EVENT_RESOURCES)
        yield env, rec, store
    finally:
        rec.stop()


def wait_for(store: EventStore, n: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(store.counts().values()) < n:
        assert time.monotonic() < deadline, f"only {store.counts()} of {n} events arrived"
        time.sleep(0.05)


def bill_and_wait(env: Pipeline, store: EventStore) -> list[int]:
    """Run the billing cycle of BILL_DAY; wait until its bills' webhook events are stored; the bill ids."""
    env.clock(f"{BILL_DAY}T01:00:00")
    bill_ids: list[int] = env.admin("/billing-cycle", {"cycle_date": BILL_DAY})["bill_ids"]
    wait_for(store, len(bill_ids))
    return bill_ids


def test_registration_is_idempotent_and_activates_the_receiver(env: Pipeline) -> None:
    store = EventStore(env.runtime().engine)
    rec = start_receiver(store, SECRET, DEFAULT_EVENT_RESOURCES, port=0)
    try:
        url = receiver_url(rec.base_url, SECRET)
        first = register(env.revio(), url, DEFAULT_EVENT_RESOURCES)
        assert first.created_receiver and sorted(first.created_subscriptions) == sorted(
            DEFAULT_EVENT_RESOURCES
        )
        again = register(env.revio(), url, DEFAULT_EVENT_RESOURCES)
        assert not again.created_receiver and again.created_subscriptions == []
        assert again.receiver_id == first.receiver_id and again.subscriptions == first.subscriptions
        receivers = list(env.revio().iter_records("WebhookReceivers"))
        assert [(r["url"], r["active"]) for r in receivers] == [(url, True)]
    finally:
        rec.stop()


def test_a_billing_run_syncs_through_webhooks_exactly_the_affected_day(
    hooked: tuple[Pipeline, Receiver, EventStore],
) -> None:
    env, rec, store = hooked
    bill_ids = bill_and_wait(env, store)
    assert {e.object_id for e in store.pending()} == {str(b) for b in bill_ids}

    # A delivery replayed by someone holding the secret is stored once; a forged one never.
    delivered = httpx.get(f"{env.sb.revio_url}/_admin/webhooks").json()["deliveries"]
    replay = {k: delivered[0][k] for k in ("event_id", "event_type", "created_date", "object_id")}
    url = f"{rec.base_url}/revio/events"
    assert httpx.post(url, params={"token": SECRET}, content=json.dumps(replay)).json()["stored"] is False
    forged = {**replay, "event_id": "forged-1", "object_id": 999999}
    assert httpx.post(url, params={"token": "x"}, content=json.dumps(forged)).status_code == 401
    assert httpx.post(url, content=json.dumps(forged)).status_code == 401

    plan = plan_events(store, env.revio(), lambda d: True)
    assert list(plan.days) == [BILL_DAY] and len(plan.days[BILL_DAY]) == len(bill_ids)
    assert plan.rereads == 0  # creation events carry their day
    key = plan.run_key(BILL_DAY)
    commit_plan(store, plan)
    assert store.pending() == [] and store.counts() == {"planned": len(bill_ids)}
    assert {e.run_key for e in store.get(plan.days[BILL_DAY])} == {key}
    assert plan_events(store, env.revio(), lambda d: True).days == {}  # nothing twice

    env.execute(BILL_DAY)
    assert_books_agree(env, ("invoices",))  # Rev.io vs QBO, to the cent
    rt = env.runtime()
    qbo_ids = {rt.ledger.get("bill", b).qbo_id for b in bill_ids}  # type: ignore[union-attr]
    ours = [i for i in env.qbo_all("Invoice") if str(i.get("DocNumber", "")).startswith("RV-")]
    assert len(ours) == len(bill_ids) and {i["Id"] for i in ours} == qbo_ids


def test_payment_events_name_their_day_and_customer_events_request_nothing(
    hooked: tuple[Pipeline, Receiver, EventStore],
) -> None:
    env, _rec, store = hooked
    bill_ids = bill_and_wait(env, store)
    commit_plan(store, plan_events(store, env.revio(), lambda d: True))
    cid = min(env.bills())
    env.clock("2026-01-06T10:00:00")
    pid = env.pay(cid, Decimal("12.34"), None)
    env.admin(f"/customers/{cid}/status", {"suspended": True})
    wait_for(store, len(bill_ids) + 2)

    plan = plan_events(store, env.revio(), lambda d: True, trust_created_date=False)
    assert list(plan.days) == ["2026-01-06"] and plan.rereads == 1
    [payment_event] = store.get(plan.days["2026-01-06"])
    assert payment_event.resource == "Payments" and payment_event.object_id == str(pid)
    assert list(plan.ignored.values()) == [CUSTOMER_NOTE]
    # a day that is not a partition yet waits for a later tick, untouched
    waiting = plan_events(store, env.revio(), lambda d: False)
    assert waiting.days == {} and len(waiting.waiting) == 1


def test_the_sensor_requests_one_run_per_day_once(hooked: tuple[Pipeline, Receiver, EventStore]) -> None:
    import dagster as dg

    from revqb_pipeline.defs.automation.webhooks import revio_webhook_sensor

    env, _rec, store = hooked
    bill_ids = bill_and_wait(env, store)
    resources = env.sensor_resources()

    def tick() -> dg.SensorResult:
        with dg.build_sensor_context(instance=env.instance, resources=resources) as ctx:
            result = revio_webhook_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        return result

    first = tick()
    [request] = first.run_requests or []
    assert request.partition_key == BILL_DAY and request.run_key.startswith(f"{BILL_DAY}:webhook:")
    assert request.tags["revqb/events"] == str(len(bill_ids))
    again = tick()
    assert not again.run_requests and again.skip_reason is not None
    env.job.execute_in_process(partition_key=BILL_DAY, instance=env.instance, tags=request.tags)
    assert_books_agree(env, ("invoices",))
