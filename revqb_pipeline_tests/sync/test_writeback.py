"""The Rev.io write-back (sync/writeback.py) over the Rev.io sandbox: threads, counts, the limiter."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients.ratelimit import reset_limiters, revio_limiter_for
from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.sync.writeback import INVOICE_ID_FIELD, WriteBack, write_back_ids
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.revio.app import create_app
from revqb_sandbox.revio.settings import RevioSandboxSettings

pytestmark = pytest.mark.slow

#: Counts every PATCH the sandbox receives (a zero-delay ``slow`` rule is counted in ``injected``).
COUNT_PATCHES = {"kind": "slow", "method": "PATCH", "count": 1_000_000, "delay_s": 0.02}


def _serve(**kw: Any) -> ServedApp:
    return serve_app(create_app(RevioSandboxSettings(customers=12, months=1, **kw)))


@pytest.fixture
def served() -> Iterator[ServedApp]:
    reset_limiters()
    app = _serve()
    yield app
    app.stop()
    reset_limiters()


def _client(served: ServedApp, **kw: Any) -> RevioClient:
    s = served.app.state.sandbox.settings
    kw.setdefault("backoff_base_s", 0.01)
    return RevioClient(served.url, s.client_code, s.login, s.password, s.subscription_key, **kw)


def _faults(served: ServedApp, *rules: dict[str, Any]) -> None:
    httpx.post(f"{served.url}/_admin/faults", json={"rules": list(rules)}).raise_for_status()


def _injected(served: ServedApp) -> dict[str, int]:
    return dict(httpx.get(f"{served.url}/_admin/faults").json()["injected"])


def _staged(client: RevioClient) -> list[dict[str, Any]]:
    """Bills as the staging table holds them: the id and the raw record."""
    return [{"bill_id": b["bill_id"], "raw_json": jsonutil.dumps(b)} for b in client.iter_records("Bills")]


def _field_values(client: RevioClient) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for bill in client.iter_records("Bills"):
        values = [f.get("value") for f in bill.get("fields") or [] if f.get("label") == INVOICE_ID_FIELD]
        out[str(bill["bill_id"])] = values[0] if values and values[0] not in (None, "") else None
    return out


def test_threads_write_every_id_once_and_a_second_pass_sends_nothing(served: ServedApp) -> None:
    client = _client(served)
    rows = _staged(client)
    assert len(rows) >= 8
    qbo_ids = {str(r["bill_id"]): f"Q{r['bill_id']}" for r in rows}
    _faults(served, COUNT_PATCHES)
    with WriteBack(client, "Bills", INVOICE_ID_FIELD, rows, "bill_id", threads=3) as wb:
        assert wb.submit(dict(list(qbo_ids.items())[:3])) == 3
        assert wb.submit(qbo_ids) == len(rows) - 3  # each bill queued once
        counts = wb.wait()
    assert counts == {"written": len(rows), "already_set": 0, "failed": 0}
    assert _field_values(client) == qbo_ids
    assert _injected(served) == {"slow": len(rows)}  # one PATCH per bill, no fallback read
    assert client.limiter.stats.max_in_flight >= 2  # the threads overlapped

    again = write_back_ids(client, "Bills", INVOICE_ID_FIELD, _staged(client), "bill_id", qbo_ids)
    assert again == {"written": 0, "already_set": len(rows), "failed": 0}
    assert _injected(served) == {"slow": len(rows)}


def test_switched_off_sends_no_patch(served: ServedApp) -> None:
    client = _client(served)
    rows = _staged(client)
    _faults(served, COUNT_PATCHES)
    with WriteBack(client, "Bills", INVOICE_ID_FIELD, rows, "bill_id", enabled=False) as wb:
        assert wb.submit({str(r["bill_id"]): "99" for r in rows}) == 0
        assert wb.wait() == {"written": 0, "already_set": 0, "failed": 0}
    assert _injected(served) == {}
    assert set(_field_values(client).values()) == {None}


def test_a_failing_patch_is_counted_and_logged(served: ServedApp, caplog: pytest.LogCaptureFixture) -> None:
    client = _client(served, max_retries=1)
    rows = _staged(client)
    bad = str(rows[1]["bill_id"])
    _faults(served, {"kind": "http_500", "method": "PATCH", "path_regex": f"/Bills/{bad}$", "count": 10})
    qbo_ids = {str(r["bill_id"]): f"Q{r['bill_id']}" for r in rows}
    with caplog.at_level(logging.WARNING, logger="revqb.sync"):
        counts = write_back_ids(client, "Bills", INVOICE_ID_FIELD, rows, "bill_id", qbo_ids)
    assert counts == {"written": len(rows) - 1, "already_set": 0, "failed": 1}
    values = _field_values(client)
    assert values[bad] is None
    assert all(values[sid] == qid for sid, qid in qbo_ids.items() if sid != bad)
    lines = [r.getMessage() for r in caplog.records if r.name == "revqb.sync"]
    assert any(f"Bills {bad}" in line and f"Q{bad}" in line for line in lines), lines


def test_threads_share_the_tenant_limiter_and_get_no_429(caplog: pytest.LogCaptureFixture) -> None:
    """The sandbox allows 6 calls per 1.2 s; the tenant limiter registered with the same scale paces the
    reads and three write-back threads alike, so the sandbox never answers 429."""
    reset_limiters()
    served = _serve(rate_per_minute=6, time_scale=0.02)
    try:
        s = served.app.state.sandbox.settings
        limiter = revio_limiter_for(served.url, s.client_code, per_minute=6, time_scale=0.02)
        client = _client(served)
        assert client.limiter is limiter
        rows = _staged(client)[:10]
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="revqb.revio"):
            counts = write_back_ids(
                client, "Bills", INVOICE_ID_FIELD, rows, "bill_id", {str(r["bill_id"]): "7" for r in rows}
            )
        elapsed = time.monotonic() - started
        assert counts == {"written": 10, "already_set": 0, "failed": 0}
        assert not [r for r in caplog.records if "-> 429" in r.getMessage()]
        assert elapsed >= 1.2  # 10 PATCHes (plus the reads' window) need at least a second window
    finally:
        served.stop()
        reset_limiters()
