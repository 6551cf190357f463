"""Shared fixtures of the test suite; the helpers behind them live in the private ``_*.py`` modules.

- ``db_url`` / ``sqlite_url`` / ``pg_url``: a staging database for SQLite and for the real PostgreSQL server.
  PostgreSQL tests fail (never skip) when ``CI=true`` and the server is unreachable; each gets its own schema.
  ``sqlite_engine``: an engine on ``sqlite_url`` with the staging schema created.
- ``env``: the end-to-end harness (``_harness.Pipeline``) over both sandboxes, six customers, frozen clock.
- ``qbo`` / ``module_qbo``: a logged-in client of one QBO sandbox per module (``_qbo_support``).
- ``qbo_client`` / ``empty_realm``: revqb's own ``QBOClient`` on a freshly reset QBO sandbox holding reference
  data only, one sandbox per module (``_qbo_support``).
- ``slack`` / ``smtp``: local alert receivers (``_receivers``).

Hypothesis: the ``revqb`` profile (300 examples) for the whole suite, ``revqb-fast`` (40) when the run
selects ``-m "not slow"``; ``--hypothesis-profile`` overrides both.
"""

from __future__ import annotations

import os

# The partitions' start is read when the definitions load (REVQB_START_DATE, else the first activity recorded
# in the staging DB): pinned before anything imports them, so no local DB changes which partitions exist.
os.environ.setdefault("REVQB_START_DATE", "2025-01-01")

import uuid
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from revqb_pipeline.clients.qbo import QBOClient
from revqb_pipeline.staging.db import create_schema, make_engine
from revqb_pipeline_tests._harness import Pipeline, pipeline
from revqb_pipeline_tests._postgres import PG_URL, require_postgres
from revqb_pipeline_tests._qbo_support import QBO, fresh_client, sandbox, served_empty_realm
from revqb_pipeline_tests._receivers import SlackReceiver, SmtpReceiver
from revqb_sandbox.harness import ServedApp
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.revio.settings import RevioSandboxSettings

_HYPOTHESIS = {
    "deadline": None,
    "derandomize": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("revqb", max_examples=300, **_HYPOTHESIS)
settings.register_profile("revqb-fast", max_examples=40, **_HYPOTHESIS)


def pytest_configure(config: pytest.Config) -> None:
    """Fewer hypothesis examples in the fast suite (``-m "not slow"``)."""
    if config.getoption("hypothesis_profile", None):
        return
    fast = "not slow" in (config.getoption("markexpr", "") or "")
    settings.load_profile("revqb-fast" if fast else "revqb")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema."""
    require_postgres()
    schema = f"revqb_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'create schema "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'drop schema "{schema}" cascade'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'revqb.db'}"


def _staging_engine(url: str) -> Iterator[sa.Engine]:
    """An engine on ``url`` with the staging schema created (``create_schema``), disposed after."""
    engine = make_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    """An engine on ``sqlite_url`` with the staging schema created."""
    yield from _staging_engine(sqlite_url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request) -> str:
    """The staging database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    """An engine on ``db_url`` (SQLite, then PostgreSQL) with the staging schema created."""
    yield from _staging_engine(db_url)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Pipeline]:
    """Both sandboxes: six Rev.io customers without bills, the Rev.io clock frozen at 2026-01-01; SQLite."""
    revio = RevioSandboxSettings(
        customers=6, bills=False, freeze_clock=True, now=datetime(2026, 1, 1, 0, 0), start=date(2026, 1, 1)
    )
    with pipeline(f"sqlite:///{tmp_path / 'revqb.db'}", tmp_path, revio_settings=revio, customers=6) as p:
        yield p


@pytest.fixture(scope="module")
def module_qbo() -> Iterator[QBO]:
    """One relaxed QBO sandbox per test module, with a logged-in client."""
    with sandbox() as (client, _):
        yield client


@pytest.fixture
def qbo(module_qbo: QBO) -> QBO:
    """A client on a freshly reset sandbox (shared server per module)."""
    assert module_qbo.admin("reset").status_code == 200
    module_qbo.admin("faults", [])
    return module_qbo


@pytest.fixture(scope="module")
def empty_realm() -> Iterator[tuple[ServedApp, QBOSandboxSettings]]:
    """One QBO sandbox per test module with reference data only and relaxed limits."""
    with served_empty_realm() as served:
        yield served


@pytest.fixture
def qbo_client(empty_realm: tuple[ServedApp, QBOSandboxSettings]) -> Iterator[QBOClient]:
    """revqb's own ``QBOClient`` logged in to the ``empty_realm`` sandbox, reset (no documents, no faults)."""
    with fresh_client(*empty_realm) as (client, _oauth):
        yield client


@pytest.fixture
def slack() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.stop()
