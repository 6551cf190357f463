"""Settings: environment and ./.env alike (the environment wins), the same names as always, no default
pointing at production, secrets never in repr, a malformed value named by its variable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revqb_pipeline.preflight import PreflightFailed, load_settings
from revqb_pipeline.settings import (
    DEFAULT_DB_URL,
    PRODUCTION_URLS,
    RevqbSettings,
    env_name,
    load_dotenv_into_environ,
    parse_flag,
    safe_db_url,
)


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in [k for k in os.environ if k.startswith(("REVQB_", "REVIO_", "QBO_"))]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_from_a_mapping_reads_only_the_mapping(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBO_REALM_ID", "from-os-environ")
    (clean_env / ".env").write_text("REVIO_USERNAME=from-dotenv\n")
    s = RevqbSettings.from_env(
        {"REVIO_PASSWORD": "pw", "QBO_THROTTLE_BACKOFF_S": "2.5", "REVQB_MAPPING_FILE": ""}
    )
    assert s.revio_password == "pw" and s.qbo_throttle_backoff_s == 2.5
    assert s.qbo_realm_id == "" and s.revio_username == ""  # neither os.environ nor .env
    assert s.mapping_file is None  # empty counts as unset
    assert s.db_url == DEFAULT_DB_URL


def test_environment_and_dotenv_alike_and_the_environment_wins(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_env / ".env").write_text(
        "# revqb settings\nREVIO_USERNAME=dotenv-user\nQBO_REALM_ID=dotenv-realm\n"
        "REVQB_TOKEN_KEY='abc'\nREVQB_MAPPING_FILE=\nQBO_THROTTLE_BACKOFF_S=7\n"
    )
    monkeypatch.setenv("QBO_REALM_ID", "env-realm")
    s = RevqbSettings.from_env()
    assert s.revio_username == "dotenv-user"
    assert s.qbo_realm_id == "env-realm"
    assert s.token_key == "abc" and s.qbo_throttle_backoff_s == 7.0 and s.mapping_file is None
    # the CLI copies .env into os.environ for Dagster's EnvVar resources, never over a real variable
    added = load_dotenv_into_environ()
    try:
        assert os.environ["QBO_REALM_ID"] == "env-realm"
        assert os.environ["REVIO_USERNAME"] == "dotenv-user" and "REVIO_USERNAME" in added
        assert "REVQB_MAPPING_FILE" not in added
    finally:
        for key in added:  # not monkeypatch.delenv: it would put the .env value back at teardown
            os.environ.pop(key, None)


def test_no_default_points_at_production(clean_env: Path) -> None:
    s = RevqbSettings.from_env()
    for field in ("revio_base_url", "qbo_base_url", "qbo_token_url"):
        assert getattr(s, field) == ""
    dumped = " ".join(str(v) for v in s.model_dump().values())
    for url in PRODUCTION_URLS.values():
        assert url not in dumped
    assert s.db_url.startswith("sqlite:///")


def test_secrets_never_in_repr() -> None:
    s = RevqbSettings.from_env(
        {
            "REVIO_PASSWORD": "pw-123",
            "REVIO_SUBSCRIPTION_KEY": "apim-456",
            "QBO_CLIENT_SECRET": "secret-789",
            "QBO_REFRESH_TOKEN": "rt-abc",
            "REVQB_TOKEN_KEY": "key-def",
            "REVQB_DB_URL": "postgresql+psycopg2://revqb:db-pass@db.example/revqb",
        }
    )
    text = repr(s) + str(s)
    for secret in ("pw-123", "apim-456", "secret-789", "rt-abc", "key-def", "db-pass"):
        assert secret not in text
    assert "revqb:***@db.example" in text
    assert safe_db_url("not a url") == "not a url:..."


def test_env_names_are_unchanged() -> None:
    assert env_name("revio_password") == "REVIO_PASSWORD"
    assert env_name("qbo_throttle_backoff_s") == "QBO_THROTTLE_BACKOFF_S"
    assert env_name("db_url") == "REVQB_DB_URL"
    assert env_name("token_key") == "REVQB_TOKEN_KEY"
    assert {env_name(f) for f in RevqbSettings.model_fields} == {
        "REVQB_DB_URL",
        "REVQB_MAPPING_FILE",
        "REVQB_TOKEN_KEY",
        "REVIO_BASE_URL",
        "REVIO_CLIENT_CODE",
        "REVIO_USERNAME",
        "REVIO_PASSWORD",
        "REVIO_SUBSCRIPTION_KEY",
        "QBO_BASE_URL",
        "QBO_TOKEN_URL",
        "QBO_REALM_ID",
        "QBO_CLIENT_ID",
        "QBO_CLIENT_SECRET",
        "QBO_REFRESH_TOKEN",
        "QBO_THROTTLE_BACKOFF_S",
        "REVQB_REVIO_WRITEBACK",
        "REVQB_AUTOMATION",
        "REVQB_LIMITER",
        "REVQB_LIMITS_DB_URL",
    }


@pytest.mark.parametrize(
    ("value", "expected"), [(None, True), ("true", True), ("1", True), ("false", False), ("off", False)]
)
def test_revio_writeback_is_on_unless_switched_off(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"REVQB_REVIO_WRITEBACK": value}
    assert RevqbSettings.from_env(env).revio_writeback is expected
    assert parse_flag("REVQB_REVIO_WRITEBACK", value or "", True) is expected


def test_a_malformed_writeback_flag_names_its_variable() -> None:
    with pytest.raises(PreflightFailed) as exc:
        load_settings({"REVQB_REVIO_WRITEBACK": "maybe"})
    assert str(exc.value).startswith("REVQB_REVIO_WRITEBACK: ")
    with pytest.raises(ValueError, match="REVQB_REVIO_WRITEBACK: 'maybe' is not a boolean"):
        parse_flag("REVQB_REVIO_WRITEBACK", "maybe", True)


def test_readme_lists_every_setting() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for field in RevqbSettings.model_fields:
        assert f"`{env_name(field)}`" in readme, env_name(field)
    for alert in ("REVQB_SLACK_WEBHOOK_URL", "REVQB_SMTP_HOST", "REVQB_ALERT_EMAIL_TO", "DAGSTER_HOME"):
        assert f"`{alert}`" in readme


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "Input should be a valid number"), ("0", "Input should be greater than 0")],
)
def test_a_malformed_value_names_its_variable(value: str, message: str) -> None:
    with pytest.raises(PreflightFailed) as exc:
        load_settings({"QBO_THROTTLE_BACKOFF_S": value})
    assert str(exc.value).startswith(f"QBO_THROTTLE_BACKOFF_S: {message}")
    assert len(str(exc.value).splitlines()) == 1


def test_env_example_names_every_setting_and_sets_no_production_url(clean_env: Path) -> None:
    example = Path(__file__).parents[2] / ".env.example"
    text = example.read_text()
    for field in RevqbSettings.model_fields:
        assert env_name(field) in text, env_name(field)
    (clean_env / ".env").write_text(text)  # used as is, it configures nothing (production URLs are comments)
    s = RevqbSettings.from_env()
    assert s.revio_base_url == s.qbo_base_url == s.qbo_token_url == ""
