"""The production instance config (deploy/dagster.yaml): Dagster instance storage on PostgreSQL from
DAGSTER_PG_* variables, the queued run coordinator with one slot per pool, run retries."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest
import sqlalchemy as sa

from revqb_pipeline_tests._postgres import PG_URL, require_postgres

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@dg.op
def add_cents() -> int:
    return 1999 + 1


@dg.job
def tiny_job() -> None:
    add_cents()


@pytest.mark.postgres
def test_production_instance_config_runs_on_postgres(tmp_path, monkeypatch) -> None:
    require_postgres()
    url = urlparse(PG_URL.replace("postgresql+psycopg2", "postgresql"))
    db = f"revqb_dagster_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{db}"'))
    try:
        home = tmp_path / "dagster_home"
        home.mkdir()
        shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
        monkeypatch.setenv("DAGSTER_PG_HOST", url.hostname or "127.0.0.1")
        monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
        monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "trust-auth-ignores-this")
        monkeypatch.setenv("DAGSTER_PG_DB", db)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
            result = tiny_job.execute_in_process(instance=instance)
            assert result.success and result.output_for_node("add_cents") == 2000
            assert instance.get_run_by_id(result.run_id) is not None
        probe = sa.create_engine(PG_URL.rsplit("/", 1)[0] + f"/{db}")
        with probe.connect() as conn:
            assert conn.execute(sa.text("select count(*) from runs")).scalar() == 1
        probe.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{db}" with (force)'))
        admin.dispose()
