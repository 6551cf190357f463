"""``sync/writer.send_batches`` against the QBO sandbox over real HTTP: chunks of at most 30, the chunk's
requestid reused when the chunk is retried, and per-chunk errors yielded (the other chunks still sent)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from revqb_pipeline.clients.errors import QBODuplicateName, QBOError
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.qbo import BatchOp, QBOClient
from revqb_pipeline.clients.ratelimit import QBORateLimiter
from revqb_pipeline.sync.writer import BATCH_LIMIT, ChunkOutcome, chunk_request_id, send_batches
from revqb_pipeline_tests._qbo_support import fresh_client
from revqb_sandbox.harness import ServedApp
from revqb_sandbox.qbo.settings import QBOSandboxSettings

pytestmark = pytest.mark.slow


@dataclass
class Sandbox:
    served: ServedApp
    settings: QBOSandboxSettings
    oauth: OAuthClient
    qbo: QBOClient

    def faults(self, *rules: dict[str, Any]) -> None:
        httpx.post(f"{self.served.url}/_admin/faults", json=list(rules)).raise_for_status()

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.served.url}/_admin/stats").json()["realms"][self.settings.realm_id])

    def client(self, **kw: Any) -> QBOClient:
        return QBOClient(self.served.url, self.settings.realm_id, self.oauth, limiter=QBORateLimiter(), **kw)


@pytest.fixture
def sandbox(empty_realm: tuple[ServedApp, QBOSandboxSettings]) -> Iterator[Sandbox]:
    with fresh_client(*empty_realm) as (qbo, oauth):
        yield Sandbox(*empty_realm, oauth, qbo)


def _op(i: int, name: str) -> BatchOp:
    return BatchOp(bid=f"b{i}", operation="create", entity="Customer", body={"DisplayName": name})


class RequestIds:
    """The ``request_id`` callback: derives the chunk's id from its members and remembers each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str]] = []

    def __call__(self, chunk: list[str]) -> str:
        rid = chunk_request_id(chunk)
        self.calls.append((chunk, rid))
        return rid


def _names(n: int, prefix: str = "Batch") -> list[str]:
    return [f"{prefix} {i:03d}" for i in range(n)]


def _customer_count(sb: Sandbox) -> int:
    return len(sb.qbo.query_rows("SELECT * FROM Customer MAXRESULTS 1000"))


def test_chunks_of_at_most_30(sandbox: Sandbox) -> None:
    ids = RequestIds()
    names = _names(65)

    outcomes = list(send_batches(sandbox.qbo, names, _op, ids))

    assert [len(o.items) for o in outcomes] == [30, 30, 5]
    assert [o.items for o in outcomes] == [names[:30], names[30:60], names[60:]]
    assert [chunk for chunk, _ in ids.calls] == [o.items for o in outcomes]
    assert all(o.error is None for o in outcomes)
    for o in outcomes:
        assert sorted(o.results) == sorted(f"b{i}" for i in range(len(o.items)))
        created = [o.results[f"b{i}"].body["DisplayName"] for i in range(len(o.items))]  # type: ignore[index]
        assert created == o.items
    assert sandbox.stats()["batch_requests"] == 3
    assert _customer_count(sandbox) == 65


@pytest.mark.parametrize(("chunk_size", "sizes"), [(10, [10, 10, 5]), (100, [BATCH_LIMIT, 5]), (0, [1] * 3)])
def test_chunk_size_is_capped_at_the_batch_limit(sandbox: Sandbox, chunk_size: int, sizes: list[int]) -> None:
    names = _names(sum(sizes), prefix=f"Size {chunk_size}")

    outcomes = list(send_batches(sandbox.qbo, names, _op, RequestIds(), chunk_size=chunk_size))

    assert [len(o.items) for o in outcomes] == sizes


def test_a_retried_chunk_reuses_its_requestid_and_writes_once(sandbox: Sandbox) -> None:
    ids = RequestIds()
    names = _names(3, prefix="Once")
    # the first /batch commits, then its response is cut: the client retries with the same requestid
    sandbox.faults({"kind": "drop_after_commit", "count": 1, "path_regex": r"/batch$"})

    [outcome] = list(send_batches(sandbox.qbo, names, _op, ids))

    assert len(ids.calls) == 1  # the requestid is derived once per chunk, not per attempt
    assert outcome.error is None and all(r.ok for r in outcome.results.values())
    assert sandbox.stats()["batch_requests"] == 2
    assert _customer_count(sandbox) == 3

    # the same chunk sent again (a later run) carries the same requestid: replayed, nothing new written
    again = RequestIds()
    [replayed] = list(send_batches(sandbox.qbo, names, _op, again))
    assert again.calls[0][1] == ids.calls[0][1]
    first_ids = {b: r.body["Id"] for b, r in outcome.results.items()}  # type: ignore[index]
    assert {b: r.body["Id"] for b, r in replayed.results.items()} == first_ids  # type: ignore[index]
    assert _customer_count(sandbox) == 3


def test_item_errors_are_per_item_and_chunk_errors_per_chunk(sandbox: Sandbox) -> None:
    client = sandbox.client(max_retries=1, backoff_base_s=0.01)
    names = _names(31, prefix="Mixed")
    names[1] = names[0]  # a duplicate DisplayName in the first chunk: one item fails, the others are written
    outcomes: list[ChunkOutcome[str]] = []
    for outcome in send_batches(client, names, _op, RequestIds()):  # a chunk is sent when it is asked for
        outcomes.append(outcome)
        # the second chunk's call fails on every attempt: the error is that chunk's, the first one stands
        sandbox.faults({"kind": "http_500", "count": 10, "path_regex": r"/batch$"})

    first, second = outcomes
    assert first.error is None
    assert isinstance(first.results["b1"].error, QBODuplicateName)
    assert sum(r.ok for r in first.results.values()) == 29
    assert second.items == [names[30]] and second.results == {}
    assert isinstance(second.error, QBOError) and second.error.transient
    assert _customer_count(sandbox) == 29
    client.close()
