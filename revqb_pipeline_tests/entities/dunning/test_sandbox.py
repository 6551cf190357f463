"""Account status over both sandboxes, through the Dagster job: OPEN -> DUNNING -> SUSPENDED -> COLLECTIONS
-> RECOVERED gives exactly four QBO note changes and four alerts (Slack + email), and nothing on a repeat."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import httpx
import pytest

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.entities.customers.sync import sync_customers
from revqb_pipeline.entities.dunning.sync import SOURCE_TYPE, sync_collection_status
from revqb_pipeline.mapping.normalize import normalize_customer
from revqb_pipeline.notify import Notifier
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.failures import alert_new_failures, failure_queue
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests._receivers import SlackReceiver, SmtpReceiver
from revqb_sandbox.servers import Sandboxes, sandboxes

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Sandboxes (4 customers, no bills), Slack + SMTP receivers, env set, QBO customers linked."""
    slack, smtp = SlackReceiver(), SmtpReceiver()
    try:
        with sandboxes(seed=3, customers=4, bills=False) as sb:
            env = {
                **sb.env(),
                **smtp.env(),
                "REVQB_SLACK_WEBHOOK_URL": slack.url,
                "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
                "QBO_THROTTLE_BACKOFF_S": "1",
            }
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            rt = Runtime(RevqbSettings.from_env())
            rows = [normalize_customer(r) for r in rt.revio.customers()]
            assert sync_customers(rt.qbo, rt.ledger, rows, rt.mapping).counts["created"] == 4
            yield {"sb": sb, "rt": rt, "slack": slack, "smtp": smtp, "env": env}
    finally:
        slack.stop()
        smtp.stop()


def set_status(sb: Sandboxes, cid: int, **changes: Any) -> dict[str, Any]:
    resp = httpx.post(f"{sb.revio_url}/_admin/customers/{cid}/status", json=changes)
    resp.raise_for_status()
    return resp.json()["customer"]


def run_status_job(instance: dg.DagsterInstance) -> dict[str, Any]:
    from revqb_pipeline.definitions import defs

    result = defs().resolve_job_def("customer_status_job").execute_in_process(instance=instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("quickbooks__customer_collection_status")
    return {k: v.value for k, v in mat.metadata.items()}


def test_status_transitions_update_notes_and_alert_once_each(world: dict[str, Any]) -> None:
    sb, rt, slack, smtp = world["sb"], world["rt"], world["slack"], world["smtp"]
    cid = 1001
    qbo_id = rt.ledger.get("customer", cid).qbo_id
    # a person's own note in QBO must survive every change
    current = rt.qbo.read("Customer", qbo_id)
    rt.qbo.update(
        "Customer",
        {"Id": qbo_id, "SyncToken": current["SyncToken"], "Notes": current["Notes"] + "\nPrefers email"},
        request_id="human-edit-1",
    )

    def customer() -> dict[str, Any]:
        return rt.qbo.read("Customer", qbo_id)

    with dg.instance_for_test() as instance:
        baseline = run_status_job(instance)
        assert (baseline["customers"], baseline["transitions"], baseline["notes_updated"]) == (4, 0, 0)
        assert baseline["alerts_sent"] == 0 and not slack.messages and not smtp.messages
        token = int(customer()["SyncToken"])

        steps = [
            ({"amount_overdue": "1234.56", "collection_step": "Reminder Email"}, "DUNNING (Reminder Email)"),
            ({"suspended": True, "collection_step": "2-Way Suspend"}, "SUSPENDED"),
            ({"collection_step": "Collections Agency"}, "COLLECTIONS"),
            ({"suspended": False, "amount_overdue": "0", "collection_step": ""}, None),
        ]
        notes_seen: list[str] = []
        for n, (changes, state) in enumerate(steps, 1):
            record = set_status(sb, cid, **changes)
            meta = run_status_job(instance)
            assert (meta["transitions"], meta["notes_updated"], meta["alerts_sent"]) == (1, 1, 1)
            cust = customer()
            assert int(cust["SyncToken"]) == token + n  # exactly one QBO write per transition
            notes = cust["Notes"]
            notes_seen.append(notes)
            lines = notes.split("\n")
            assert lines[0] == "revio:account:1001" and lines[-1] == "Prefers email"
            if state is None:
                assert lines == ["revio:account:1001", "Prefers email"]
            else:
                day = (record["suspended_date"] if state == "SUSPENDED" else record["updated_date"])[:10]
                assert lines[1] == f"revio:status: {state} since {day} (overdue $1,234.56)"
            assert len(slack.messages) == n and len(smtp.messages) == n
            assert "1 " in slack.messages[-1].split("\n")[0] or "(1)" in slack.messages[-1]
        kinds = ["DUNNING", "SUSPENDED", "COLLECTIONS", "RECOVERED"]
        for kind, text, mail in zip(kinds, slack.messages, smtp.messages, strict=True):
            assert f": {kind}: " in text and "Rev.io 1001" in text
            assert f": {kind}: " in mail.get_payload()
        assert len(set(notes_seen)) == 4

        # nothing more when the run repeats
        again = run_status_job(instance)
        assert (again["transitions"], again["notes_updated"], again["alerts_sent"]) == (0, 0, 0)
        assert int(customer()["SyncToken"]) == token + 4
        assert len(slack.messages) == 4 and len(smtp.messages) == 4
        row = rt.ledger.get(SOURCE_TYPE, cid)
        assert row is not None and row.status == "synced" and row.qbo_id == qbo_id


def test_transient_503_is_retried_without_an_alert(world: dict[str, Any]) -> None:
    sb, rt, slack = world["sb"], world["rt"], world["slack"]
    cid = 1002
    qbo_id = rt.ledger.get("customer", cid).qbo_id
    with dg.instance_for_test() as instance:
        run_status_job(instance)
        set_status(sb, cid, amount_overdue="10.00")
        # the next 2 customer writes get a 503: the client retries them with backoff
        rule = {"kind": "http_503", "count": 2, "method": "POST", "path_regex": "/customer"}
        httpx.post(f"{sb.qbo_url}/_admin/faults", json={"rules": [rule]}).raise_for_status()
        meta = run_status_job(instance)
        assert (meta["transitions"], meta["notes_updated"], meta["failed"]) == (1, 1, 0)
        assert "revio:status: DUNNING" in rt.qbo.read("Customer", qbo_id)["Notes"]
        # one alert: the transition itself; the 503s produced none
        assert len(slack.messages) == 1 and "503" not in slack.messages[0]

        # 503s beyond the client's retries: the record is 'failed' (no alert), and synced on the next run
        set_status(sb, cid, suspended=True)
        rule = {"kind": "http_503", "count": 2, "method": "POST", "path_regex": "/customer"}
        httpx.post(f"{sb.qbo_url}/_admin/faults", json={"rules": [rule]}).raise_for_status()
        impatient = QBOClient(
            rt.qbo.base_url, rt.qbo.realm_id, rt.qbo.oauth, max_retries=1, backoff_base_s=0.01
        )
        notifier = Notifier.from_os_env(rt.engine)
        customers = list(rt.revio.customers())
        report = sync_collection_status(impatient, rt.ledger, rt.mapping, customers, notifier)
        assert len(report.transitions) == 1 and report.notes_updated == 0 and list(report.failed) == ["1002"]
        row = rt.ledger.get(SOURCE_TYPE, cid)
        assert row.status == "failed" and row.last_error_code == "10000"  # QBO 503 body
        assert [i.source_id for i in failure_queue(rt.ledger)] == ["1002"]
        assert alert_new_failures(rt.ledger, notifier).sent == 0  # transient: no alert
        assert len(slack.messages) == 2  # the SUSPENDED transition only

        meta = run_status_job(instance)
        assert (meta["transitions"], meta["notes_updated"], meta["failed"]) == (0, 1, 0)
        assert "revio:status: SUSPENDED" in rt.qbo.read("Customer", qbo_id)["Notes"]
        assert rt.ledger.get(SOURCE_TYPE, cid).status == "synced"
        assert len(slack.messages) == 2 and failure_queue(rt.ledger) == []


def test_revqb_dunning_command_runs_the_status_job(
    world: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from revqb_pipeline.cli import main

    sb, rt = world["sb"], world["rt"]
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["dunning"]) == 0
    set_status(sb, 1003, status="CLOSED")
    assert main(["dunning"]) == 0
    assert "transitions=1" in capsys.readouterr().out
    qbo_id = rt.ledger.get("customer", 1003).qbo_id
    assert "revio:status: CLOSED since" in rt.qbo.read("Customer", qbo_id)["Notes"]
    assert len(world["slack"].messages) == 1
