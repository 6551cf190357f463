"""A full run over both sandboxes (sync job, status job with alerts, a failed run and its alert) leaves no
secret in the captured logs (DEBUG), stdout/stderr, the Dagster event log or the Dagster instance's files:
OAuth access/refresh tokens, client secret, Rev.io password, APIM key, webhook URL, SMTP password. The
Dagster UI (GraphQL: resources, run configs, tags, event logs) shows none either, nor the DB password of a
PostgreSQL URL or the token encryption key; the staging DB holds the OAuth tokens encrypted only."""

import json
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
from cryptography.fernet import Fernet

from revqb_pipeline.cli import run_partitions
from revqb_pipeline.defs.alerts.resources import notifier_from_env
from revqb_pipeline.defs.alerts.sensors import run_failure_alerts
from revqb_pipeline.defs.resources import StagingResource
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.tokens import SqlTokenStore
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests._receivers import SMTP_PASSWORD, WEBHOOK_PATH, SlackReceiver, SmtpReceiver
from revqb_sandbox.servers import sandboxes

pytestmark = pytest.mark.slow

WRONG_PASSWORD = "Wr0ng-Revio-Passw0rd-42"


def _status_job() -> Any:
    from revqb_pipeline.definitions import defs

    return defs().resolve_job_def("customer_status_job")


def test_no_secret_in_logs_event_log_or_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capfd: Any
) -> None:
    caplog.set_level("DEBUG")
    slack, smtp = SlackReceiver(), SmtpReceiver()
    try:
        with sandboxes(seed=5, customers=4, months=1) as sb:
            env = {
                **sb.env(),
                **smtp.env(),
                "REVQB_SLACK_WEBHOOK_URL": slack.url,
                "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
                "QBO_THROTTLE_BACKOFF_S": "1",
            }
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            (tmp_path / "dagster").mkdir()
            (tmp_path / "dagster" / "dagster.yaml").touch()
            with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
                assert run_partitions(["2026-01-01"], instance=instance)
                httpx.post(
                    f"{sb.revio_url}/_admin/customers/1001/status",
                    json={"amount_overdue": "99.99", "suspended": True},
                ).raise_for_status()
                assert _status_job().execute_in_process(instance=instance).success
                # a run that fails on bad credentials, and its run-failure alert
                monkeypatch.setenv("REVIO_PASSWORD", WRONG_PASSWORD)
                failed = _status_job().execute_in_process(instance=instance, raise_on_error=False)
                assert not failed.success
                ctx = dg.build_run_status_sensor_context(
                    sensor_name="run_failure_alerts",
                    dagster_event=failed.get_run_failure_event(),
                    dagster_instance=instance,
                    dagster_run=failed.dagster_run,
                    resources={
                        "staging": StagingResource(db_url=env["REVQB_DB_URL"]),
                        "notifier": notifier_from_env(),
                    },
                ).for_run_failure()
                run_failure_alerts(ctx)
                event_log = [
                    dg.serialize_value(entry)
                    for run in instance.get_runs()
                    for entry in instance.all_logs(run.run_id)
                ]
            oauth = sb.qbo_app.state.sandbox.oauth
            tokens = {*oauth._access, *oauth._refresh}
            settings = RevqbSettings.from_env()
            rt = Runtime(settings)
            stored = SqlTokenStore(rt.engine, settings.token_key).load(settings.qbo_realm_id)
            assert stored is not None
            tokens |= {stored.access_token, stored.refresh_token}
            # and the database holds them encrypted only
            raw = rt.engine.connect().exec_driver_sql("select access_token, refresh_token from oauth_tokens")
            assert all(v.startswith("fernet:") for row in raw for v in row if v)
            secrets = {
                "QBO token": tokens,
                "QBO client secret": {env["QBO_CLIENT_SECRET"]},
                "Rev.io password": {env["REVIO_PASSWORD"], WRONG_PASSWORD},
                "APIM key": {env["REVIO_SUBSCRIPTION_KEY"]},
                "webhook URL": {slack.url, WEBHOOK_PATH, WEBHOOK_PATH.rsplit("/", 1)[-1]},
                "SMTP password": {SMTP_PASSWORD},
            }
    finally:
        slack.stop()
        smtp.stop()

    # the run really exercised the secrets' paths
    assert len(slack.messages) == 2 and "SUSPENDED" in slack.messages[0] and "/runs/" in slack.messages[1]
    assert len(smtp.messages) == 2
    assert len(tokens) >= 2 and event_log

    out, err = capfd.readouterr()
    files = [p for p in (tmp_path / "dagster").rglob("*") if p.is_file()]
    sources: dict[str, str] = {
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "stdout/stderr": out + err,
        "Dagster event log": "\n".join(event_log),
        "Dagster instance files": "\n".join(p.read_bytes().decode("utf-8", "replace") for p in files),
    }
    assert "customer_status_job" in sources["Dagster event log"] and caplog.records
    assert "HTTP Request: POST ***" in sources["logs"]  # httpx logged the webhook call, redacted
    leaks = [
        f"{what} in {where}"
        for where, text in sources.items()
        for what, values in secrets.items()
        for value in values
        if value and value in text
    ]
    assert leaks == []


# --------------------------------------------------------------------------- the Dagster UI (GraphQL)

DB_PASSWORD = "S3cret-DB-Passw0rd"
REPOS_QUERY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
RESOURCES_QUERY = """
query Resources($sel: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $sel) {
    __typename
    ... on ResourceDetailsList {
      results {
        name description configuredValues { key value type } configFields { name defaultValueAsJson }
      }
    }
  }
  utilizedEnvVarsOrError(repositorySelector: $sel) {
    __typename
    ... on EnvVarWithConsumersList { results { envVarName } }
  }
}
"""
RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId status runConfigYaml tags { key value } } } } }"
LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message }
        ... on ExecutionStepFailureEvent { error { message stack } failureMetadata { description } }
      }
    }
  }
}
"""


def test_dagster_ui_graphql_and_event_log_show_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a good run and a run that fails on an unreachable PostgreSQL (URL with a password), the
    resources, run configs, tags and event logs that the Dagster UI reads over GraphQL hold no secret."""
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    token_key = Fernet.generate_key().decode()
    pg_url = f"postgresql+psycopg2://revqb:{DB_PASSWORD}@127.0.0.1:1/revqb"  # nothing listens on port 1
    with sandboxes(seed=6, customers=3, months=1) as sb:
        env = {
            **sb.env(),
            "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
            "REVQB_TOKEN_KEY": token_key,
            "QBO_THROTTLE_BACKOFF_S": "1",
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        (tmp_path / "dagster").mkdir()
        (tmp_path / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            assert run_partitions(["2026-01-01"], instance=instance)
            settings = RevqbSettings.from_env(env)
            stored = SqlTokenStore(Runtime(settings).engine, token_key).load(settings.qbo_realm_id)
            assert stored is not None and stored.access_token
            monkeypatch.setenv("REVQB_DB_URL", pg_url)
            started = time.monotonic()
            assert not run_partitions(["2026-01-02"], instance=instance)  # fails at once: DB unreachable
            db_failure_s = time.monotonic() - started
            definitions = str(Path(__file__).parents[2] / "revqb_pipeline" / "definitions.py")
            with define_out_of_process_context(definitions, "defs", instance) as ctx:
                repo = execute_dagster_graphql(ctx, REPOS_QUERY).data["repositoriesOrError"]["nodes"][0]
                sel = {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"]}
                resources = execute_dagster_graphql(ctx, RESOURCES_QUERY, {"sel": sel}).data
                runs = execute_dagster_graphql(ctx, RUNS_QUERY).data["runsOrError"]["results"]
                logs = [execute_dagster_graphql(ctx, LOGS_QUERY, {"runId": r["runId"]}).data for r in runs]
        oauth = sb.qbo_app.state.sandbox.oauth
        tokens = {*oauth._access, *oauth._refresh, stored.access_token, stored.refresh_token}

    shown = {"resources": json.dumps(resources), "runs": json.dumps(runs), "event logs": json.dumps(logs)}
    values = {
        v["key"]: v
        for r in resources["allTopLevelResourceDetailsOrError"]["results"]
        for v in r["configuredValues"]
    }
    # the UI shows which variable feeds each secret, never its value
    for key, var in {
        "password": "REVIO_PASSWORD",
        "subscription_key": "REVIO_SUBSCRIPTION_KEY",
        "client_secret": "QBO_CLIENT_SECRET",
        "refresh_token": "QBO_REFRESH_TOKEN",
        "db_url": "REVQB_DB_URL",
        "token_key": "REVQB_TOKEN_KEY",
    }.items():
        assert values[key] == {"key": key, "value": var, "type": "ENV_VAR"}, values[key]
    failed = [r for r in runs if r["status"] == "FAILURE"]
    assert len(failed) == 1 and "REVQB_DB_URL" in shown["event logs"] and "revqb:***@" in shown["event logs"]
    assert db_failure_s < 20, db_failure_s
    secrets = {
        "DB password": {DB_PASSWORD},
        "Rev.io password": {env["REVIO_PASSWORD"]},
        "APIM key": {env["REVIO_SUBSCRIPTION_KEY"]},
        "QBO client secret": {env["QBO_CLIENT_SECRET"]},
        "QBO token": tokens,
        "token key": {token_key},
    }
    leaks = [
        f"{what} in {where}"
        for where, text in shown.items()
        for what, found in secrets.items()
        for value in found
        if value and value in text
    ]
    assert leaks == []
