"""The billing benchmark's world: both sandboxes, a staging database, the real sync job; public APIs only.

The test suite has its own, richer harness (``revqb_pipeline_tests/_harness.py``); the benchmarks do not
import the test package, so this is the small part of it they need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any
from unittest import mock

import dagster as dg

from revqb_pipeline.cli import activity_dates, run_partitions
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.runtime import Runtime
from revqb_sandbox.servers import Sandboxes, sandboxes


@dataclass
class SandboxRun:
    """Both sandboxes, the settings pointing at them, and a throwaway Dagster instance."""

    sb: Sandboxes
    settings: RevqbSettings
    instance: dg.DagsterInstance

    def runtime(self) -> Runtime:
        """A fresh Runtime (new clients) over the staging database."""
        return Runtime(self.settings)

    def partitions(self) -> list[str]:
        """Every day with Rev.io activity."""
        return activity_dates(self.settings, date(2000, 1, 1), date(2100, 1, 1))

    def run(self, partitions: list[str]) -> bool:
        """The sync job over ``partitions``, as ``revqb sync`` runs it; true when no run failed."""
        return bool(run_partitions(partitions, job_name="revqb_sync_job", instance=self.instance))


@contextmanager
def sandbox_run(db_url: str, **sandbox_kwargs: Any) -> Iterator[SandboxRun]:
    """Start both sandboxes (``sandboxes(**sandbox_kwargs)``); the process environment points at them."""
    with sandboxes(**sandbox_kwargs) as sb:
        env = {**sb.env(), "REVQB_DB_URL": db_url, "QBO_THROTTLE_BACKOFF_S": "0.5"}
        with mock.patch.dict(os.environ, env), dg.instance_for_test() as instance:
            yield SandboxRun(sb=sb, settings=RevqbSettings.from_env(env), instance=instance)
