"""``revqb --connection NAME``: the company of the connections file a command works on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.cli._common import settings_or_exit

FILE = """\
connections:
  - name: acme
    revio: {base_url: "http://127.0.0.1:9/v1", client_code: ACME, username: U, password: {env: ACME_PW},
            subscription_key: {env: ACME_KEY}}
    qbo: {base_url: "http://127.0.0.1:9", token_url: "http://127.0.0.1:9/t", realm_id: "111",
          client_id: c, client_secret: {env: ACME_QBO_SECRET}}
    db_url: "sqlite:///%(db)s"
"""


@pytest.fixture
def connections_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "connections.yaml"
    path.write_text(FILE % {"db": tmp_path / "acme.db"})
    monkeypatch.setenv("REVQB_CONNECTIONS_FILE", str(path))
    monkeypatch.setenv("ACME_PW", "secret")
    monkeypatch.setenv("ACME_KEY", "apim-key")
    monkeypatch.setenv("ACME_QBO_SECRET", "qbo-secret")
    monkeypatch.delenv("REVQB_CONNECTION", raising=False)
    return path


def test_an_unknown_connection_is_one_line_and_exit_2(
    connections_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--connection", "nope", "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "Traceback" not in err[0]
    assert "REVQB_CONNECTION" not in os.environ  # the option holds for that command only


def test_the_connection_gives_the_commands_its_settings(
    connections_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVQB_CONNECTION", "acme")
    settings = settings_or_exit()
    assert settings.qbo_realm_id == "111" and settings.revio_client_code == "ACME"
    assert settings.revio_password == "secret" and str(tmp_path / "acme.db") in settings.db_url


def test_without_a_file_a_named_connection_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REVQB_CONNECTIONS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env here
    assert main(["--connection", "acme", "status"]) == 2
    assert "REVQB_CONNECTIONS_FILE" in capsys.readouterr().err
