"""Benchmark 4: a naive per-record writer (lookup query + one POST per invoice) vs revqb's batched path.

Both are measured with :class:`QBOClient` against a fresh QBO sandbox, counting requests at the server.
The batched path is what :class:`LedgeredWriter` does for invoices: DocNumber ``IN`` lookups of 100, then
``/batch`` creates of 30.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import BATCH_ITEMS, QBOStats, figure, heading, limit_minimum_minutes, ratio
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import BatchOp, QBOClient, in_clause
from revqb_pipeline.clients.ratelimit import QBORateLimiter
from revqb_pipeline.models.tokens import MemoryTokenStore
from revqb_sandbox.harness import serve_app
from revqb_sandbox.qbo.app import create_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings

LOOKUP_CHUNK = 100


def _invoice(doc: str, customer_id: str, item_id: str) -> dict[str, Any]:
    return {
        "DocNumber": doc,
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "Amount": 42,
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": 42},
            }
        ],
    }


def naive_path(qbo: QBOClient, docs: list[str], body: Callable[[str], dict[str, Any]]) -> int:
    """One lookup and one create per invoice; returns how many were created."""
    created = 0
    for doc in docs:
        if not qbo.query_rows(f"SELECT * FROM Invoice WHERE DocNumber = '{doc}'"):
            qbo.create("Invoice", body(doc), request_id=f"naive-{doc}")
            created += 1
    return created


def batched_path(qbo: QBOClient, docs: list[str], body: Callable[[str], dict[str, Any]]) -> int:
    """``IN`` lookups of 100, then batch creates of 30 (revqb's LedgeredWriter shape)."""
    existing: set[str] = set()
    for start in range(0, len(docs), LOOKUP_CHUNK):
        chunk = docs[start : start + LOOKUP_CHUNK]
        rows = qbo.query_rows(f"SELECT * FROM Invoice WHERE DocNumber IN {in_clause(chunk)} MAXRESULTS 1000")
        existing |= {str(r.get("DocNumber")) for r in rows}
    todo = [d for d in docs if d not in existing]
    created = 0
    for start in range(0, len(todo), BATCH_ITEMS):
        chunk = todo[start : start + BATCH_ITEMS]
        ops = [
            BatchOp(bid=f"b{i}", operation="create", entity="Invoice", body=body(d))
            for i, d in enumerate(chunk)
        ]
        results = qbo.batch(ops, request_id=f"bench-{chunk[0]}")
        created += sum(1 for r in results.values() if r.ok)
    return created


def bench_naive(
    invoices: int = 120, revqb_per_invoice: tuple[float, float] | None = None, latency_s: float = 0.5
) -> None:
    """Requests per invoice of both paths; ``revqb_per_invoice`` = (requests, batches) from bench 1."""
    heading(
        f"4. Naive per-record writer vs revqb's batched path ({invoices} invoices each, QBOClient direct)"
    )
    time_scale = 0.01
    settings = QBOSandboxSettings(time_scale=time_scale)
    served = serve_app(create_app(settings))
    try:
        realm = settings.realm_id
        oauth = OAuthClient(
            f"{served.url}/oauth2/v1/tokens/bearer",
            settings.client_id,
            settings.client_secret,
            MemoryTokenStore(),
            realm,
        )
        oauth.bootstrap(settings.initial_refresh_token)
        limiter = QBORateLimiter(time_scale=time_scale)
        with QBOClient(served.url, realm, oauth, limiter=limiter) as qbo:
            customer = str(qbo.query_rows("SELECT * FROM Customer MAXRESULTS 1")[0]["Id"])
            item = str(qbo.query_rows("SELECT * FROM Item WHERE Type = 'Service' MAXRESULTS 1")[0]["Id"])

            def body(doc: str) -> dict[str, Any]:
                return _invoice(doc, customer, item)

            figures: dict[str, tuple[int, int, int, float]] = {}
            for name, path, prefix in (("naive", naive_path, "NV"), ("batched", batched_path, "BT")):
                docs = [f"{prefix}-{i:05d}" for i in range(invoices)]
                before = QBOStats.fetch(served.url, realm)
                started = time.monotonic()
                created = path(qbo, docs, body)
                elapsed = time.monotonic() - started
                delta = QBOStats.fetch(served.url, realm).minus(before)
                figures[name] = (created, delta.requests, delta.batches, elapsed)
    finally:
        served.stop()

    per: dict[str, tuple[float, float]] = {}
    for name, (created, requests, batches, _elapsed) in figures.items():
        per[name] = (ratio(requests, created), ratio(batches, created))
        figure(f"{name}: invoices created", created)
        figure(f"{name}: QBO requests", requests, f"{per[name][0]:.3f} per invoice, {batches} batch requests")
        minutes = limit_minimum_minutes(round(per[name][0] * 1000), round(per[name][1] * 1000))
        figure(f"{name}: QBO-limit minimum for 1000 invoices, minutes", minutes)
    naive_rpi, batched_rpi = per["naive"][0], per["batched"][0]
    figure("naive/batched requests per invoice (ratio)", ratio(naive_rpi, batched_rpi))
    naive_min = limit_minimum_minutes(round(naive_rpi * 1000), 0)
    batched_min = limit_minimum_minutes(round(batched_rpi * 1000), round(per["batched"][1] * 1000))
    figure("naive/batched minimum time (ratio)", ratio(naive_min, batched_min), "under QBO's limits")
    figure(
        "naive serial writer, 1000 invoices, minutes",
        max(naive_min, 1000 * naive_rpi * latency_s / 60),
        f"{latency_s} s per request, one at a time",
    )
    if revqb_per_invoice is not None:
        rq, bt = revqb_per_invoice
        figure(
            "revqb billing run (bench 1) requests per invoice",
            rq,
            f"incl. customers, payments, credits; {bt:.3f} batches per invoice",
        )
        figure("naive/revqb-run requests per invoice (ratio)", ratio(naive_rpi, rq))
