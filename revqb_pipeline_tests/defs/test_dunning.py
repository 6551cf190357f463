"""Dagster definitions of the status sync and alerting: loaded, REVQB_AUTOMATION's default status, secrets as
EnvVar."""

import dagster as dg
import pytest

from revqb_pipeline.defs.alerts.resources import NotifierResource, notifier_from_env
from revqb_pipeline.defs.automation.status import schedule_status, sensor_status


def test_definitions_load_with_schedule_and_sensors() -> None:
    from revqb_pipeline.definitions import defs

    d = defs()
    job = d.resolve_job_def("customer_status_job")
    assert [n.name for n in job.nodes] == ["quickbooks__customer_collection_status"]
    schedule = d.resolve_schedule_def("customer_status_hourly")
    assert schedule.default_status == schedule_status()
    for name in ("failure_queue_alerts", "run_failure_alerts"):
        assert d.resolve_sensor_def(name).default_status == sensor_status()
    spec = d.resolve_assets_def(dg.AssetKey(["quickbooks", "customer_collection_status"]))
    assert spec.group_names_by_key[spec.key] == "dunning"


def test_unset_variables_disable_channels_and_secrets_are_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REVQB_SLACK_WEBHOOK_URL", "REVQB_SMTP_HOST", "REVQB_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert notifier_from_env().notifier(None).channels == []
    monkeypatch.setenv("REVQB_SLACK_WEBHOOK_URL", "https://hooks.example/services/T/B/secretvalue1")
    monkeypatch.setenv("REVQB_SMTP_PASSWORD", "secret-password-9")
    resource = notifier_from_env()
    assert isinstance(resource.slack_webhook_url, dg.EnvVar) and isinstance(resource.smtp_password, dg.EnvVar)
    assert resource.slack_webhook_url.env_var_name == "REVQB_SLACK_WEBHOOK_URL"  # resolved at launch
    built = NotifierResource(slack_webhook_url="https://hooks.example/services/T/B/secretvalue1")
    assert [c.name for c in built.notifier(None).channels] == ["slack"]
    assert "secretvalue1" not in repr(built.notifier(None))
    assert built.run_url("abc") == "http://localhost:3000/runs/abc"
