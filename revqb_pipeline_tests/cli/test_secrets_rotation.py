"""`revqb tokens rotate`: prepend a new key to REVQB_TOKEN_KEY, rotate, drop the old key: still readable."""

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from revqb_pipeline.cli import main
from revqb_pipeline.models.tokens import OAuthTokens
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline.staging.tokens import SqlTokenStore, TokenKeyError

TOKENS = OAuthTokens(
    access_token="AT-x", refresh_token="RT-x", access_expires_at=datetime(2030, 1, 1, tzinfo=UTC)
)


def test_tokens_rotate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("REVQB_", "REVIO_", "QBO_")):
            monkeypatch.delenv(name)
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'revqb.db'}"
    engine = make_engine(url)
    create_schema(engine)
    SqlTokenStore(engine, old).save("realm-1", TOKENS)
    monkeypatch.setenv("REVQB_DB_URL", url)
    monkeypatch.setenv("REVQB_TOKEN_KEY", f"{new},{old}")
    assert main(["tokens", "rotate"]) == 0
    assert "1 realm(s)" in capsys.readouterr().out
    assert SqlTokenStore(engine, new).load("realm-1") == TOKENS
    with pytest.raises(TokenKeyError):
        SqlTokenStore(engine, old).load("realm-1")
    with engine.connect() as conn:
        raw = conn.execute(sa.text("select refresh_token from oauth_tokens")).scalar_one()
    assert raw.startswith("fernet:") and "RT-x" not in raw
    engine.dispose()
