"""Run the real pipeline (Dagster job, clients, ledger) against the sandbox servers, for end-to-end tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from revqb_pipeline.cli import activity_dates, run_partitions
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.runtime import Runtime
from revqb_sandbox.faults import FaultRule
from revqb_sandbox.servers import Sandboxes, sandboxes


@dataclass
class Pipeline:
    """One sandbox pair + one staging database + one Dagster instance."""

    sb: Sandboxes
    env: dict[str, str]
    instance: dg.DagsterInstance
    home: Path
    _runtime: Runtime | None = field(default=None, repr=False)

    # -- running -----------------------------------------------------------------------------------------
    def settings(self) -> RevqbSettings:
        return RevqbSettings.from_env(self.env)

    def runtime(self) -> Runtime:
        """A fresh Runtime (new clients) over the same database."""
        return Runtime(self.settings())

    def partitions(self) -> list[str]:
        return activity_dates(self.settings(), date(2000, 1, 1), date(2100, 1, 1))

    def run(self, partitions: list[str] | None = None, job: str = "revqb_sync_job") -> bool:
        return run_partitions(partitions or self.partitions(), job_name=job, instance=self.instance)

    # -- QBO side ----------------------------------------------------------------------------------------
    def qbo_query(self, sql: str) -> list[dict[str, Any]]:
        return self.runtime().qbo.query_rows(sql)

    def qbo_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        return list(self.runtime().qbo.query_all(entity, where=where))

    def qbo_faults(self, rules: list[FaultRule]) -> None:
        r = httpx.post(f"{self.sb.qbo_url}/_admin/faults", json=[x.model_dump() for x in rules])
        r.raise_for_status()

    # -- Rev.io side -------------------------------------------------------------------------------------
    def revio(self) -> RevioClient:
        return self.runtime().revio

    def revio_admin(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        r = httpx.request(method, f"{self.sb.revio_url}/_admin/{path.lstrip('/')}", json=body)
        r.raise_for_status()
        return r.json()


@contextmanager
def pipeline(db_url: str, tmp_path: Path, **sandbox_kwargs: Any) -> Iterator[Pipeline]:
    """Sandboxes + environment + a temporary Dagster instance; restores os.environ afterwards."""
    saved = dict(os.environ)
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    try:
        with sandboxes(**sandbox_kwargs) as sb:
            env = {**sb.env(), "REVQB_DB_URL": db_url, "QBO_THROTTLE_BACKOFF_S": "0.5"}
            os.environ.update(env)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                yield Pipeline(sb=sb, env=env, instance=instance, home=home)
    finally:
        os.environ.clear()
        os.environ.update(saved)
