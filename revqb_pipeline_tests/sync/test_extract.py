"""Reading a bill date's children: credits issued later against the day's bills are found with one forward
read when many bills fall short, one read per bill when few do (issue 10: Rev.io calls per invoice)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.sync.extract import PER_BILL_READS_MAX, fetch_children_for_bills
from revqb_pipeline_tests._harness import Pipeline, pipeline

pytestmark = pytest.mark.slow


def _counting_client(p: Pipeline, seen: list[httpx.Request]) -> RevioClient:
    s = p.settings()
    http = httpx.Client(event_hooks={"request": [seen.append]}, timeout=30)
    return RevioClient(
        s.revio_base_url,
        s.revio_client_code,
        s.revio_username,
        s.revio_password,
        s.revio_subscription_key,
        http=http,
    )


def _busiest_day(p: Pipeline) -> tuple[datetime, list[dict[str, Any]]]:
    bills = list(p.revio().iter_records("Bills"))
    day = Counter(str(b["created_date"])[:10] for b in bills).most_common(1)[0][0]
    start = datetime.fromisoformat(day)
    return start, [b for b in bills if str(b["created_date"])[:10] == day]


def _credit_later(p: Pipeline, start: datetime, bills: list[dict[str, Any]]) -> set[int]:
    p.clock((start + timedelta(days=5)).isoformat())
    return {p.credit(int(b["customer_id"]), Decimal("1.25"), bill=int(b["bill_id"])) for b in bills}


def _children(p: Pipeline, start: datetime, seen: list[httpx.Request]) -> list[dict[str, Any]]:
    day = {int(b["bill_id"]) for b in _busiest_day(p)[1]}
    bills = [b for b in p.revio().iter_records("Bills") if int(b["bill_id"]) in day]  # re-read: new totals
    client = _counting_client(p, seen)
    return fetch_children_for_bills(
        client,
        "credits",
        bills,
        start,
        start + timedelta(days=1),
        primary_key="credit_memo_id",
        total_field="credit_memo_amount",
    )


@pytest.mark.parametrize("late", [PER_BILL_READS_MAX + 2, 2])
def test_late_credits_are_found_with_few_reads(db_url: str, tmp_path: Path, late: int) -> None:
    with pipeline(db_url, tmp_path, customers=12, seed=5) as p:
        start, bills = _busiest_day(p)
        assert len(bills) >= late
        issued = _credit_later(p, start, bills[:late])
        seen: list[httpx.Request] = []
        found = {int(c["credit_memo_id"]) for c in _children(p, start, seen)}
        assert issued <= found, "a credit issued later against the day's bills was missed"
        by_bill = [r for r in seen if r.url.params.get("search.bill_id")]
        windows = [r for r in seen if r.url.params.get("search.created_date_start")]
        if late > PER_BILL_READS_MAX:
            assert (len(windows), len(by_bill)) == (2, 0)  # the look-back and one forward read
        else:
            # the look-back and one read per short bill (the generated world may have short bills of its own)
            assert len(windows) == 1 and late <= len(by_bill) <= PER_BILL_READS_MAX
