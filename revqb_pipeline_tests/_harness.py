"""The one end-to-end harness: the real pipeline (Dagster job, clients, ledger) against both sandbox servers.

``pipeline(...)`` yields a ``Pipeline``; conftest exposes it as the ``env`` fixture (six customers, frozen
Rev.io clock) for the payments, credits and sensor tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from revqb_pipeline.cli import activity_dates, run_partitions
from revqb_pipeline.clients.jsonutil import loads
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
    @property
    def db_url(self) -> str:
        return self.env["REVQB_DB_URL"]

    def settings(self) -> RevqbSettings:
        return RevqbSettings.from_env(self.env)

    def runtime(self) -> Runtime:
        """A fresh Runtime (new clients) over the same database."""
        return Runtime(self.settings())

    def sensor_resources(self) -> dict[str, Any]:
        """The ``revio`` and ``staging`` resources of a sensor tick: this pipeline's sandbox and DB."""
        from revqb_pipeline.defs.resources import RevioResource, StagingResource

        vals = self.sb.env()
        return {
            "revio": RevioResource(
                base_url=vals["REVIO_BASE_URL"],
                client_code=vals["REVIO_CLIENT_CODE"],
                username=vals["REVIO_USERNAME"],
                password=vals["REVIO_PASSWORD"],
                subscription_key=vals["REVIO_SUBSCRIPTION_KEY"],
            ),
            "staging": StagingResource(db_url=self.db_url),
        }

    def partitions(self) -> list[str]:
        return activity_dates(self.settings(), date(2000, 1, 1), date(2100, 1, 1))

    def run(self, partitions: list[str] | None = None, job: str = "revqb_sync_job") -> bool:
        """Run ``job`` over ``partitions`` (default: every activity date) the way ``revqb sync`` does."""
        return run_partitions(partitions or self.partitions(), job_name=job, instance=self.instance)

    @property
    def job(self) -> dg.JobDefinition:
        from revqb_pipeline.definitions import defs

        return defs().resolve_job_def("revqb_sync_job")

    def execute(self, partition: str) -> dg.ExecuteInProcessResult:
        """One partition of the sync job in process; asserts success, naming the failed steps."""
        result = self.job.execute_in_process(
            partition_key=partition, instance=self.instance, raise_on_error=False
        )
        failures = [
            f"{e.step_key}: {e.event_specific_data.error.message[:400]}"
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        ]
        assert result.success, failures
        return result

    # -- QBO side ----------------------------------------------------------------------------------------
    def qbo_query(self, sql: str) -> list[dict[str, Any]]:
        return self.runtime().qbo.query_rows(sql)

    def qbo_all(self, entity: str, where: str = "") -> list[dict[str, Any]]:
        return list(self.runtime().qbo.query_all(entity, where=where))

    def qbo_faults(self, rules: list[FaultRule] | list[dict[str, Any]]) -> None:
        body = [x.model_dump() if isinstance(x, FaultRule) else x for x in rules]
        r = httpx.post(f"{self.sb.qbo_url}/_admin/faults", json=body)
        r.raise_for_status()

    def qbo_stats(self) -> dict[str, Any]:
        r = httpx.get(f"{self.sb.qbo_url}/_admin/stats")
        r.raise_for_status()
        return dict(r.json())

    def entity_counts(self) -> dict[str, int]:
        qbo = self.runtime().qbo
        return {e: qbo.count(e) for e in ("Payment", "CreditMemo", "Invoice", "Customer")}

    # -- Rev.io side -------------------------------------------------------------------------------------
    def revio(self) -> RevioClient:
        return self.runtime().revio

    def revio_admin(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        r = httpx.request(method, f"{self.sb.revio_url}/_admin/{path.lstrip('/')}", json=body)
        r.raise_for_status()
        return r.json()

    def admin(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to the Rev.io admin API; the answer parsed with Decimal amounts."""
        r = httpx.post(f"{self.sb.revio_url}/_admin/{path.lstrip('/')}", json=body or {}, timeout=30)
        assert r.status_code == 200, r.text
        return dict(loads(r.content))

    def clock(self, now: str) -> None:
        self.admin("/clock", {"now": now})

    def pay(self, customer: int, amount: Decimal, bill: int | None = None, method: str = "CHECK") -> int:
        body: dict[str, Any] = {"customer_id": customer, "amount": str(amount), "method": method}
        body["reference_number"] = f"REF-{customer}-{amount}"
        if bill is not None:
            body["bill_id"] = bill
        return int(self.admin("/payments", body)["payment"]["payment_id"])

    def credit(self, customer: int, amount: Decimal, bill: int | None = None, **kw: Any) -> int:
        body: dict[str, Any] = {"customer_id": customer, "amount": str(amount), **kw}
        if bill is not None:
            body["bill_id"] = bill
        return int(self.admin("/credits", body)["credit"]["credit_memo_id"])

    def bills(self) -> dict[int, dict[str, Any]]:
        """Rev.io bills by customer id."""
        return {int(b["customer_id"]): b for b in self.revio().iter_records("Bills")}


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
