"""Over both sandboxes, through Dagster: a QBO validation error (610, inactive reference) quarantines the
records (code + detail in the queue), they are alerted once, and ``revqb retry`` syncs them after the cause is
fixed in QBO."""

from collections.abc import Iterator
from typing import Any

import pytest

from revqb_pipeline.cli import local_instance, main, run_partitions
from revqb_pipeline.notify import Notifier
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.failures import alert_new_failures, failure_queue
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests._receivers import SlackReceiver, SmtpReceiver
from revqb_sandbox.servers import sandboxes

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    slack, smtp = SlackReceiver(), SmtpReceiver()
    try:
        with sandboxes(seed=5, customers=4, months=2) as sb:
            env = {
                **sb.env(),
                **smtp.env(),
                "REVQB_SLACK_WEBHOOK_URL": slack.url,
                "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
                "QBO_THROTTLE_BACKOFF_S": "1",
            }
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            monkeypatch.delenv("DAGSTER_HOME", raising=False)
            monkeypatch.chdir(tmp_path)  # the CLI's local Dagster instance lives under ./.revqb
            yield {"sb": sb, "slack": slack, "smtp": smtp, "rt": Runtime(RevqbSettings.from_env())}
    finally:
        slack.stop()
        smtp.stop()


def set_items_active(rt: Runtime, ids: list[str], active: bool) -> None:
    for item_id in ids:
        item = rt.qbo.read("Item", item_id)
        body = {"Id": item_id, "SyncToken": item["SyncToken"], "Name": item["Name"], "Active": active}
        rt.qbo.update("Item", body, request_id=f"item-{item_id}-{active}-{item['SyncToken']}")


def test_validation_error_is_quarantined_alerted_once_and_retried_after_the_fix(
    world: dict[str, Any],
) -> None:
    rt, slack, smtp = world["rt"], world["slack"], world["smtp"]
    january, february = "2026-01-01", "2026-02-01"
    with local_instance() as instance:
        assert run_partitions([january], instance=instance)
    assert failure_queue(rt.ledger) == []

    # someone makes the QBO items inactive: QBO refuses February's invoices (610, inactive reference)
    items = [str(i["Id"]) for i in rt.qbo.query_all("Item") if i.get("Type") != "Category"]
    set_items_active(rt, items, False)
    with local_instance() as instance:
        run_partitions([february], instance=instance)
    queue = failure_queue(rt.ledger)
    victims = {(i.source_type, i.source_id) for i in queue}
    feb_bills = {str(b["bill_id"]) for b in rt.store.rows("stg_bills", partition_key=february)}
    assert {("bill", b) for b in feb_bills} <= victims
    bill_item = next(i for i in queue if i.source_type == "bill")
    assert bill_item.status == "quarantined" and bill_item.code == "610" and "inactive" in bill_item.error
    assert bill_item.partition_key == february

    notifier = Notifier.from_os_env(rt.engine)
    first = alert_new_failures(rt.ledger, notifier)
    assert first.sent == len(victims) and first.channels == ["slack", "email"]
    assert alert_new_failures(rt.ledger, notifier).sent == 0  # once
    assert len(slack.messages) == 1 and len(smtp.messages) == 1
    assert f"bill {bill_item.source_id}: quarantined [QBO 610]" in slack.messages[0]

    # re-running without a fix writes nothing for them and alerts nothing
    with local_instance() as instance:
        run_partitions([february], instance=instance)
    assert {(i.source_type, i.source_id) for i in failure_queue(rt.ledger)} == victims
    assert alert_new_failures(rt.ledger, notifier).sent == 0

    # the fix: reactivate the items; `revqb retry` resets the records and re-runs their partition
    set_items_active(rt, items, True)
    assert main(["retry", "--type", "bill", "--dry-run"]) == 0
    assert rt.ledger.get("bill", bill_item.source_id).status == "quarantined"
    assert main(["retry"]) == 0
    for source_type, source_id in victims:
        row = rt.ledger.get(source_type, source_id)
        assert row.status == "synced" and row.qbo_id, (source_type, source_id, row.status)
        assert any(e.action == "retry" for e in rt.ledger.events(source_type, source_id))
    assert failure_queue(rt.ledger) == []
    assert main(["retry"]) == 0  # nothing left
    assert len(slack.messages) == 1 and len(smtp.messages) == 1  # no alert after the fix
