"""A run of a day with no Rev.io activity sends no QBO request (issue 10: the fixed cost of a quiet run)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from revqb_pipeline.sync.reference_data import clear_reference_cache
from revqb_pipeline_tests._harness import Pipeline, pipeline

pytestmark = pytest.mark.slow


def _qbo_requests(p: Pipeline) -> int:
    return int(p.qbo_stats()["realms"][p.sb.qbo.realm_id]["requests"])


def _quiet_day(active: list[str]) -> str:
    days = {date.fromisoformat(d) for d in active}
    day = min(days) + timedelta(days=1)
    while day in days:
        day += timedelta(days=1)
    return day.isoformat()


def test_a_day_without_activity_makes_no_qbo_request(db_url: str, tmp_path: Path) -> None:
    with pipeline(db_url, tmp_path, customers=6, seed=5) as p:
        active = p.partitions()
        assert p.run(active[:1])
        quiet = _quiet_day(active)
        clear_reference_cache()  # as in a new `revqb sync` process: nothing verified yet
        before = _qbo_requests(p)
        assert p.run([quiet])
        assert _qbo_requests(p) == before, "a quiet day sent QBO requests"
        later = [d for d in active if d > quiet]
        clear_reference_cache()
        before = _qbo_requests(p)
        assert p.run(later[:1])  # a busy day still reads (and writes) QBO
        assert _qbo_requests(p) > before
