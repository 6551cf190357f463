"""Failure queue, its alerts (once per quarantined record and error), retry planning, and the two sensors."""

from collections.abc import Sequence
from typing import Any

import dagster as dg
import pytest

from revqb_pipeline.defs.alerts.resources import NotifierResource
from revqb_pipeline.defs.alerts.sensors import failure_queue_alerts, run_failure_alerts
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.notify import Notifier
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.ledger import Intent, Ledger
from revqb_pipeline.sync.failures import (
    alert_new_failures,
    failure_alerts,
    failure_queue,
    format_queue,
    plan_retry,
    reset_for_retry,
)
from revqb_pipeline_tests._receivers import SlackReceiver


class Collect:
    """A channel that keeps what it was asked to send."""

    name = "collect"

    def __init__(self) -> None:
        self.sent: list[tuple[str, list[str]]] = []

    def send(self, subject: str, lines: Sequence[str]) -> None:
        self.sent.append((subject, list(lines)))


@pytest.fixture
def db(db_url: str) -> Any:
    engine = make_engine(db_url)
    create_schema(engine)
    return engine


def fail(
    ledger: Ledger, source_type: str, sid: str, *, transient: bool, code: str, error: str, pk: str
) -> None:
    ledger.record_intents(
        [Intent(source_type, sid, "Invoice", "h" + sid, None, pk, f"req{sid}{source_type[:3]}")]
    )
    ledger.mark_failed(source_type, sid, code=code, error=error, transient=transient)


def test_queue_alerts_once_per_quarantined_record(db: Any) -> None:
    ledger = Ledger(db)
    fail(
        ledger,
        "bill",
        "77",
        transient=False,
        code="6000",
        error="6000 Business Validation Error: x",
        pk="2026-01-05",
    )
    fail(
        ledger,
        "payment",
        "5",
        transient=True,
        code="10000",
        error="10000 Service Unavailable",
        pk="2026-01-06",
    )
    ledger.quarantine("customer", "9", reason="customer 9 has no customer id", partition_key="2026-01-05")
    items = failure_queue(ledger)
    assert [(i.source_type, i.source_id, i.status, i.code) for i in items] == [
        ("bill", "77", "quarantined", "6000"),
        ("customer", "9", "quarantined", None),
        ("payment", "5", "failed", "10000"),
    ]
    assert "bill              77" in format_queue(items)
    assert [a.kind for a in failure_alerts(items)] == ["quarantine", "quarantine"]  # transient: no alert

    channel = Collect()
    notifier = Notifier([channel], db)
    assert alert_new_failures(ledger, notifier).sent == 2
    assert alert_new_failures(ledger, notifier).sent == 0
    (subject, lines), *_ = channel.sent
    assert subject == "revqb: records need attention (2)" and "[QBO 6000]" in lines[0]

    # quarantined again with the same error (e.g. after a retry that did not fix it): no new alert
    fail(
        ledger,
        "bill",
        "77",
        transient=False,
        code="6000",
        error="6000 Business Validation Error: x",
        pk="2026-01-05",
    )
    assert alert_new_failures(ledger, notifier).sent == 0
    # a different error on the same record is news
    fail(ledger, "bill", "77", transient=False, code="6140", error="6140 Duplicate Doc Num", pk="2026-01-05")
    assert alert_new_failures(ledger, notifier).sent == 1

    # a transient failure that keeps failing is alerted once as stuck
    for _ in range(5):
        fail(
            ledger,
            "payment",
            "5",
            transient=True,
            code="10000",
            error="10000 Service Unavailable",
            pk="2026-01-06",
        )
    assert [a.kind for a in failure_alerts(failure_queue(ledger, "payment"))] == ["stuck"]
    assert alert_new_failures(ledger, notifier).sent == 1
    assert alert_new_failures(ledger, notifier).sent == 0


def test_retry_resets_and_names_the_partitions(db: Any) -> None:
    ledger = Ledger(db)
    fail(ledger, "bill", "1", transient=False, code="6000", error="bad", pk="2026-01-05")
    fail(ledger, "bill", "2", transient=True, code="10000", error="down", pk="2026-01-07")
    fail(ledger, "customer_status", "3", transient=True, code="10000", error="down", pk="")
    plan = plan_retry(ledger, "bill")
    assert plan.partitions == ["2026-01-05", "2026-01-07"] and not plan.status_sync
    assert ledger.get("bill", "1").status == "quarantined"  # planning changes nothing
    one = reset_for_retry(ledger, "bill", "1")
    assert (one.reset, one.partitions) == (1, ["2026-01-05"])
    assert ledger.get("bill", "1").status == "pending" and ledger.get("bill", "2").status == "failed"
    rest = reset_for_retry(ledger)
    assert rest.reset == 2 and rest.status_sync and rest.partitions == ["2026-01-07"]
    assert failure_queue(ledger) == []


def test_failure_queue_sensor_alerts_through_slack(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    create_schema(engine)
    Ledger(engine).quarantine(
        "bill", "42", reason="product type XYZ is not mapped", partition_key="2026-01-05"
    )
    slack = SlackReceiver()
    try:
        resources = {
            "staging": StagingResource(db_url=sqlite_url),
            "notifier": NotifierResource(slack_webhook_url=slack.url),
        }
        with dg.instance_for_test() as instance:
            for _ in range(2):
                with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                    result = failure_queue_alerts(ctx)
                    assert isinstance(result, dg.SkipReason)
        assert len(slack.messages) == 1 and "bill 42: quarantined product type XYZ" in slack.messages[0]
    finally:
        slack.stop()


@dg.op
def explode() -> None:
    raise RuntimeError("boom: QBO said no")


@dg.job
def doomed_job() -> None:
    explode()


@pytest.mark.slow
def test_run_failure_sensor_sends_one_alert_with_the_run_link(sqlite_url: str) -> None:
    channel_messages: list[str] = []
    slack = SlackReceiver()
    try:
        resources = {
            "staging": StagingResource(db_url=sqlite_url),
            "notifier": NotifierResource(
                slack_webhook_url=slack.url, dagster_url="http://dagster.example:3000/"
            ),
        }
        with dg.instance_for_test() as instance:
            result = doomed_job.execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success
            failure = result.get_run_failure_event()
            for _ in range(2):  # a re-evaluation of the same failure does not alert twice
                ctx = dg.build_run_status_sensor_context(
                    sensor_name="run_failure_alerts",
                    dagster_event=failure,
                    dagster_instance=instance,
                    dagster_run=result.dagster_run,
                    resources=resources,
                ).for_run_failure()
                run_failure_alerts(ctx)
        channel_messages = slack.messages
    finally:
        slack.stop()
    assert len(channel_messages) == 1
    text = channel_messages[0]
    assert f"http://dagster.example:3000/runs/{result.run_id}" in text
    assert "doomed_job" in text and "boom: QBO said no" in text
