"""The PostgreSQL server of the tests: its URL and the skip-locally / fail-in-CI rule."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("REVQB_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_error() -> str | None:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    """Skip locally, fail in CI, when PostgreSQL is unreachable."""
    err = _pg_error()
    if err is None:
        return
    msg = f"PostgreSQL at {PG_URL} is unreachable: {err}"
    if IN_CI:
        pytest.fail(msg)
    pytest.skip(msg)
