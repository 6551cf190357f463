"""The connections file: one error naming file, connection and field; per-connection settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from revqb_pipeline import connections
from revqb_pipeline.connections.config import ConnectionsError, connection_settings, load_connections
from revqb_pipeline.connections.locations import workspace_yaml


def _conn(name: str, realm: str, db: str, **extra: object) -> dict[str, object]:
    up = name.upper()
    return {
        "name": name,
        "revio": {
            "base_url": "http://revio.example/v1",
            "client_code": f"{up}CODE",
            "username": {"env": f"{up}_REVIO_USER"},
            "password": {"env": f"{up}_REVIO_PASSWORD"},
            "subscription_key": {"env": f"{up}_REVIO_KEY"},
        },
        "qbo": {
            "base_url": "http://qbo.example",
            "token_url": "http://qbo.example/oauth2/v1/tokens/bearer",
            "realm_id": realm,
            "client_id": "app",
            "client_secret": {"env": "QBO_APP_SECRET"},
            "refresh_token": {"env": f"{up}_QBO_REFRESH"},
        },
        "db_url": db,
        **extra,
    }


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _error(tmp_path: Path, data: object) -> str:
    with pytest.raises(ConnectionsError) as info:
        load_connections(_write(tmp_path, data))
    return str(info.value)


def test_a_valid_file_gives_each_connection_its_own_settings(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "connections": [
                _conn(
                    "acme", "111", "sqlite:///acme.db", start_date="2025-03-01", timezone="America/New_York"
                ),
                _conn("globex", "222", {"env": "GLOBEX_DB"}, mapping_file="globex.yaml"),
            ]
        },
    )
    file = load_connections(path)
    assert [c.name for c in file.connections] == ["acme", "globex"]
    env = {
        "ACME_REVIO_USER": "api",
        "ACME_REVIO_PASSWORD": "pw-acme",
        "ACME_REVIO_KEY": "key-acme",
        "QBO_APP_SECRET": "secret",
        "ACME_QBO_REFRESH": "rt-acme",
        "GLOBEX_DB": "sqlite:///globex.db",
        "REVQB_LIMITER": "db",
        "QBO_REALM_ID": "999",  # the environment mode's realm never leaks into a file connection
    }
    acme = connection_settings(file.get("acme"), file, env)
    assert (acme.qbo_realm_id, acme.revio_client_code, acme.revio_password) == ("111", "ACMECODE", "pw-acme")
    assert (acme.qbo_refresh_token, acme.db_url, acme.limiter) == ("rt-acme", "sqlite:///acme.db", "db")
    globex = connection_settings(file.get("globex"), file, env)
    assert (globex.qbo_realm_id, globex.db_url, globex.mapping_file) == (
        "222",
        "sqlite:///globex.db",
        "globex.yaml",
    )
    assert globex.revio_password == ""  # unset variable: reported by the preflight, like the environment mode
    assert file.get("acme").timezone == "America/New_York"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda c: c["qbo"].pop("realm_id"), "connection 'globex', field qbo.realm_id: Field required"),
        (
            lambda c: c["revio"].__setitem__("password", "hunter2"),
            "connection 'globex', field revio.password: Input should be",
        ),
        (
            lambda c: c["qbo"].__setitem__("refresh_token", "AB11"),
            "connection 'globex', field qbo.refresh_token: refresh_token is a credential",
        ),
        (
            lambda c: c.__setitem__("timezone", "Mars/Base"),
            "connection 'globex', field timezone: 'Mars/Base'",
        ),
        (lambda c: c.__setitem__("start_date", "March"), "connection 'globex', field start_date:"),
        (
            lambda c: c.__setitem__("name", "Globex Inc"),
            "connection 'Globex Inc', field name: must be lowercase",
        ),
        (lambda c: c.__setitem__("colour", "red"), "connection 'globex', field colour: Extra inputs"),
        (
            lambda c: c["qbo"].__setitem__("realm_id", "111"),
            "connection 'globex': qbo.realm_id '111' is used",
        ),
    ],
)
def test_a_bad_file_is_one_error_naming_file_connection_and_field(tmp_path: Path, change, expected) -> None:
    bad = _conn("globex", "222", "sqlite:///globex.db")
    change(bad)
    message = _error(tmp_path, {"connections": [_conn("acme", "111", "sqlite:///acme.db"), bad]})
    assert message.startswith(f"{tmp_path / 'connections.yaml'}: ")
    assert expected in message
    assert "\n" not in message


def _load_error(path: Path) -> str:
    with pytest.raises(ConnectionsError) as info:
        load_connections(path)
    return str(info.value)


def test_unreadable_or_empty_files_are_one_error(tmp_path: Path) -> None:
    assert "cannot read" in _load_error(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("connections: [\n", encoding="utf-8")
    assert "not valid YAML (line" in _load_error(tmp_path / "broken.yaml")
    assert "field connections: List should have at least 1 item" in _error(tmp_path, {"connections": []})
    assert "expected a mapping" in _error(tmp_path, ["acme"])


def test_without_a_file_the_environment_is_the_one_connection_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REVQB_CONNECTIONS_FILE", raising=False)
    monkeypatch.delenv("REVQB_CONNECTION", raising=False)
    assert connections.current() is None
    assert connections.selected_name() == "default"
    assert (connections.asset_prefix(), connections.pool("qbo"), connections.pool("revio")) == (
        [],
        "qbo_api",
        "revio_api",
    )
    assert connections.run_tags() == {}
    env = {"QBO_REALM_ID": "42", "REVIO_CLIENT_CODE": "X"}
    assert connections.settings_for(environ=env).qbo_realm_id == "42"


def test_a_selected_file_connection_prefixes_keys_and_pools_by_realm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        {"connections": [_conn("acme", "111", "sqlite:///a.db"), _conn("globex", "222", "sqlite:///g.db")]},
    )
    monkeypatch.setenv("REVQB_CONNECTIONS_FILE", str(path))
    monkeypatch.setenv("REVQB_CONNECTION", "globex")
    monkeypatch.setattr(connections, "_selected", None)
    assert connections.asset_prefix() == ["globex"]
    assert (connections.pool("qbo"), connections.pool("revio")) == ("qbo/222", "revio/GLOBEXCODE")
    assert connections.run_tags() == {"revqb/connection": "globex"}
    monkeypatch.setenv("REVQB_CONNECTION", "initech")
    with pytest.raises(ConnectionsError, match="no connection named 'initech'"):
        connections.current()
    workspace = yaml.safe_load(workspace_yaml(load_connections(path)))
    assert [e["python_module"]["attribute"] for e in workspace["load_from"]] == ["acme", "globex"]
    assert {e["python_module"]["module_name"] for e in workspace["load_from"]} == {
        "revqb_pipeline.connections.locations"
    }


def test_a_connections_alerts_name_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from revqb_pipeline.defs.alerts.resources import NotifierResource
    from revqb_pipeline.notify import Alert
    from revqb_pipeline_tests._receivers import SlackReceiver

    path = _write(tmp_path, {"connections": [_conn("acme", "111", "sqlite:///a.db")]})
    monkeypatch.setattr(connections, "_selected", None)
    slack = SlackReceiver()
    try:
        alert = [Alert(key="k1", kind="run_failure", text="revqb_sync_job run 1 failed")]
        NotifierResource(slack_webhook_url=slack.url).notifier(None).send("revqb: Dagster run failed", alert)
        monkeypatch.setenv("REVQB_CONNECTIONS_FILE", str(path))
        monkeypatch.setenv("REVQB_CONNECTION", "acme")
        NotifierResource(slack_webhook_url=slack.url).notifier(None).send("revqb: Dagster run failed", alert)
    finally:
        slack.served.stop()
    assert slack.messages[0].startswith("*revqb: Dagster run failed (1)*")
    assert slack.messages[1].startswith("*[acme] revqb: Dagster run failed (1)*")


def test_the_shipped_example_is_valid_and_gives_a_workspace() -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "connections.example.yaml"
    file = load_connections(example)
    assert [c.name for c in file.connections] == ["acme", "acme_west"]
    workspace = yaml.safe_load(workspace_yaml(file))
    assert [e["python_module"]["location_name"] for e in workspace["load_from"]] == ["acme", "acme_west"]


def test_the_workspace_command_names_the_module() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "revqb_pipeline.connections.locations", "deploy/connections.example.yaml"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    entries = yaml.safe_load(out.stdout)["load_from"]
    assert {e["python_module"]["module_name"] for e in entries} == {"revqb_pipeline.connections.locations"}
