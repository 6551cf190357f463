"""QuickBooks Online v3 Accounting API client: queries, idempotent writes, batch, retries, throttling."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients._tls import new_http_client
from revqb_pipeline.clients.errors import (
    QBOAuthError,
    QBOError,
    QBOThrottled,
    QBOTransportError,
    config_error_from_transport,
    fault_error,
    parse_qbo_fault,
)
from revqb_pipeline.clients.oauth import OAuthClient
from revqb_pipeline.clients.ratelimit import RateLimiter, limiter_for
from revqb_pipeline.clients.retry import RetryingClient

log = logging.getLogger("revqb.qbo")

MAX_BATCH_ITEMS = 30
MAX_REQUEST_ID = 50
MAX_BATCH_REQUEST_ID = 36
MAX_PAGE_SIZE = 1000
_QUERY_META = frozenset({"startPosition", "maxResults", "totalCount"})


# --------------------------------------------------------------------------- query helpers (pure)


def quote_value(value: object) -> str:
    """A quoted query literal: ``O'Brien \\ Sons`` -> ``'O\\'Brien \\\\ Sons'`` (``\\`` first, then ``'``)."""
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def in_clause(values: Iterable[object]) -> str:
    """``('a', 'b')`` for ``Field IN (...)``; raises ValueError for no values (QBO rejects ``IN ()``)."""
    quoted = [quote_value(v) for v in values]
    if not quoted:
        raise ValueError("IN clause needs at least one value")
    return f"({', '.join(quoted)})"


def build_query(
    entity: str,
    where: Iterable[str] | str | None = None,
    order_by: str | None = None,
    start: int | None = None,
    max_results: int | None = None,
    *,
    count: bool = False,
) -> str:
    """``SELECT * FROM <entity> [WHERE a AND b] [ORDERBY x] [STARTPOSITION n] [MAXRESULTS m]``."""
    conditions = [where] if isinstance(where, str) else list(where or [])
    conditions = [c.strip() for c in conditions if c and c.strip()]
    parts = [f"SELECT {'COUNT(*)' if count else '*'} FROM {entity}"]
    if conditions:
        parts.append("WHERE " + " AND ".join(conditions))
    if order_by:
        parts.append(f"ORDERBY {order_by}")
    if start is not None:
        parts.append(f"STARTPOSITION {max(1, int(start))}")
    if max_results is not None:
        parts.append(f"MAXRESULTS {min(MAX_PAGE_SIZE, max(1, int(max_results)))}")
    return " ".join(parts)


def rows_of(query_response: dict[str, Any]) -> list[dict[str, Any]]:
    """The entity rows of a ``QueryResponse`` object (``[]`` when it is empty)."""
    for key, value in query_response.items():
        if key not in _QUERY_META and isinstance(value, list):
            return value
    return []


def _entity_of(data: dict[str, Any], entity: str) -> dict[str, Any]:
    """The ``{"Customer": {...}, "time": ...}`` payload, matching the entity name case-insensitively."""
    if entity in data and isinstance(data[entity], dict):
        return data[entity]
    low = entity.lower()
    for key, value in data.items():
        if key.lower() == low and isinstance(value, dict):
            return value
    for key, value in data.items():
        if key != "time" and isinstance(value, dict):
            return value
    raise QBOError(200, message=f"response has no {entity} object", raw=jsonutil.dumps(data)[:2000])


# --------------------------------------------------------------------------- batch models


class BatchOp(BaseModel):
    """One item of a ``/batch`` request; ``bid`` correlates it with its response item."""

    bid: str = Field(min_length=1)
    operation: Literal["create", "update", "delete"]
    entity: str = Field(min_length=1)
    body: dict[str, Any]
    options_data: str | None = None

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {"bId": self.bid, "operation": self.operation, self.entity: self.body}
        if self.options_data:
            item["optionsData"] = self.options_data
        return item


@dataclass
class BatchItemResult:
    """The outcome of one batch item: the entity ``body`` or a typed ``error``."""

    bid: str
    entity_name: str
    body: dict[str, Any] | None = None
    error: QBOError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.body is not None


# --------------------------------------------------------------------------- client


class QBOClient(RetryingClient):
    """A QBO v3 client for one realm. Thread-safe; share one per realm and process.

    Every request passes the realm's limiter (in-process :class:`QBORateLimiter` by default, or one
    shared through the staging database). Writes carry ``?requestid=`` and are retried
    with the same requestid and body on network errors, 429 and 5xx; a 401 refreshes the token once.
    """

    _log = log

    def __init__(
        self,
        base_url: str,
        realm_id: str,
        oauth: OAuthClient,
        *,
        minor_version: int = 75,
        limiter: RateLimiter | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        throttle_backoff_s: float = 60.0,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.realm_id = realm_id
        self.oauth = oauth
        self.minor_version = minor_version
        self.limiter: RateLimiter = limiter or limiter_for(realm_id)
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.throttle_backoff_s = throttle_backoff_s
        self._http = http or new_http_client(timeout, connect_timeout)
        self._owns_http = http is None
        self._sleep = sleep
        self._prefix = f"/v3/company/{realm_id}"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> QBOClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _throttle_delay(self, err: QBOThrottled) -> float:
        delay = err.retry_after if err.retry_after is not None else self.throttle_backoff_s
        return delay * (1.0 + 0.2 * random.random())

    @staticmethod
    def _retry_delay(err: BaseException) -> float | None:
        """No sleep after a 429: :meth:`_before_retry` paused the realm's limiter, which makes us wait."""
        return 0.0 if isinstance(err, QBOThrottled) else None

    def _before_retry(self, err: BaseException) -> None:
        """A 429 pauses every caller of the realm (Retry-After, else ``throttle_backoff_s``)."""
        if isinstance(err, QBOThrottled):
            self.limiter.penalize(self._throttle_delay(err))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        text_body: str | None = None,
        batch: bool = False,
    ) -> dict[str, Any]:
        """Send one API call under ``/v3/company/{realm}`` with limits and retries; return the JSON body.

        Every try sends the same URL (``requestid`` included) and body; a 401 refreshes the token once.
        """
        query = {**(params or {}), "minorversion": self.minor_version}
        headers = {"Accept": "application/json"}
        content: bytes | None = None
        if json_body is not None:
            content = jsonutil.dumps_bytes(json_body)
            headers["Content-Type"] = "application/json"
        elif text_body is not None:
            content = text_body.encode("utf-8")
            headers["Content-Type"] = "application/text"
        url = f"{self.base_url}{self._prefix}{path}"
        refreshed = False

        def attempt() -> dict[str, Any]:
            nonlocal refreshed
            while True:
                token = self.oauth.access_token()
                try:
                    return self._send(method, url, path, query, content, {**headers}, token, batch)
                except QBOAuthError as err:
                    if err.status != 401 or refreshed:
                        raise
                    refreshed = True
                    self.oauth.refresh(stale_access_token=token)

        return self._with_retries(
            attempt,
            f"{method} {path}",
            lambda e: isinstance(e, QBOError) and e.transient,
            delay_for=self._retry_delay,
            on_retry=self._before_retry,
        )

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        query: dict[str, Any],
        content: bytes | None,
        headers: dict[str, str],
        token: str,
        batch: bool,
    ) -> dict[str, Any]:
        """One try: the JSON body of a 2xx, else a typed QBOError (QBOTransportError: outcome unknown)."""
        headers["Authorization"] = f"Bearer {token}"
        try:
            with self.limiter.acquire(batch=batch):
                resp = self._http.request(method, url, params=query, content=content, headers=headers)
            status, body = resp.status_code, resp.content
            data = jsonutil.loads(body) if 200 <= status < 300 else None
        except (httpx.TransportError, httpx.DecodingError, ValueError) as exc:
            config = config_error_from_transport(exc, "QBO_BASE_URL", self.base_url)
            if config is not None:
                raise config from None
            raise QBOTransportError(
                f"{method} {path}: {type(exc).__name__}: {exc} (outcome unknown)", cause=exc
            ) from exc
        tid = resp.headers.get("intuit_tid")
        if data is not None and isinstance(data, dict):
            if "Fault" not in data or batch:
                log.debug("%s %s -> %s tid=%s", method, path, status, tid)
                return data
            err = fault_error(data, status, intuit_tid=tid, raw=body.decode("utf-8", "replace"))
        else:
            err = parse_qbo_fault(status, body, resp.headers)
        log.warning("%s %s -> %s code=%s tid=%s", method, path, status, err.code, tid)
        raise err

    def _write(
        self, entity: str, body: Any, request_id: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        _check_request_id(request_id, MAX_REQUEST_ID)
        params = {"requestid": request_id, **(extra or {})}
        return self.request("POST", f"/{entity.lower()}", params=params, json_body=body)

    # ------------------------------------------------------------------ queries

    def query(self, sql: str) -> dict[str, Any]:
        """Run a query (POST ``application/text``); returns the whole response (``QueryResponse`` inside)."""
        return self.request("POST", "/query", text_body=sql)

    def query_rows(self, sql: str) -> list[dict[str, Any]]:
        """The entity rows of a query (``[]`` for none)."""
        return rows_of(self.query(sql).get("QueryResponse") or {})

    def query_all(
        self, entity: str, where: str = "", order_by: str = "Id", page_size: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``entity`` matching ``where``, paging with STARTPOSITION until a short page."""
        page_size = min(MAX_PAGE_SIZE, max(1, page_size))
        start = 1
        while True:
            rows = self.query_rows(build_query(entity, where, order_by, start, page_size))
            yield from rows
            if len(rows) < page_size:
                return
            start += page_size

    def query_all_many(self, entity: str, wheres: list[str]) -> list[list[dict[str, Any]]]:
        """Every row of ``entity`` for each condition in ``wheres`` (e.g. one ``IN`` chunk each), in order."""
        return self.query_all_each([(entity, w) for w in wheres])

    def query_all_each(self, queries: list[tuple[str, str]]) -> list[list[dict[str, Any]]]:
        """Every row for each ``(entity, where)`` in ``queries``, in order, ordered by Id.

        Several queries travel as query items of one ``/batch`` call (up to 30 per call, no requestid:
        reads change nothing); a single one is a plain query. A query whose first page comes back full is
        paged on with plain queries, so no result is ever cut at ``MAXRESULTS``.
        """
        sqls = [build_query(entity, where, "Id", 1, MAX_PAGE_SIZE) for entity, where in queries]
        out: list[list[dict[str, Any]]] = []
        if len(sqls) == 1:
            out.append(self.query_rows(sqls[0]))
        for start in range(0, len(sqls) if len(sqls) > 1 else 0, MAX_BATCH_ITEMS):
            group = sqls[start : start + MAX_BATCH_ITEMS]
            items = [{"bId": str(i), "Query": sql} for i, sql in enumerate(group)]
            data = self.request("POST", "/batch", json_body={"BatchItemRequest": items}, batch=True)
            if "Fault" in data:
                raise fault_error(data, 200, raw=jsonutil.dumps(data)[:4000])
            by_bid = {str(item.get("bId", "")): item for item in data.get("BatchItemResponse") or []}
            for i in range(len(group)):
                item = by_bid.get(str(i))
                if item is None:
                    raise QBOTransportError(f"batch query: no response item for bId {i}")
                if "Fault" in item:
                    raise fault_error(item, 200, raw=jsonutil.dumps(item)[:4000])
                out.append(rows_of(item.get("QueryResponse") or {}))
        for rows, (entity, where) in zip(out, queries, strict=True):
            page, start = rows, 1
            while len(page) >= MAX_PAGE_SIZE:
                start += MAX_PAGE_SIZE
                page = self.query_rows(build_query(entity, where, "Id", start, MAX_PAGE_SIZE))
                rows.extend(page)
        return out

    def count(self, entity: str, where: str = "") -> int:
        """``SELECT COUNT(*)``."""
        response = self.query(build_query(entity, where, count=True)).get("QueryResponse") or {}
        return int(response.get("totalCount", 0))

    # ------------------------------------------------------------------ entities

    def read(self, entity: str, id: str) -> dict[str, Any]:
        """``GET /{entity}/{id}``: the entity object."""
        return _entity_of(self.request("GET", f"/{entity.lower()}/{id}"), entity)

    def create(self, entity: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Create ``entity`` (no ``Id`` in ``body``); returns the created object."""
        if body.get("Id"):
            raise ValueError("create() body must not carry an Id; use update()")
        return _entity_of(self._write(entity, body, request_id), entity)

    def update(
        self, entity: str, body: dict[str, Any], request_id: str, sparse: bool = True
    ) -> dict[str, Any]:
        """Update ``entity`` (``body`` has ``Id`` and ``SyncToken``); sparse by default."""
        if not body.get("Id") or body.get("SyncToken") is None:
            raise ValueError("update() body needs Id and SyncToken")
        return _entity_of(self._write(entity, {**body, "sparse": sparse}, request_id), entity)

    def delete(self, entity: str, id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Delete a transaction (``operation=delete``); returns QBO's ``{"status": "Deleted", ...}``."""
        body = {"Id": str(id), "SyncToken": str(sync_token)}
        return _entity_of(self._write(entity, body, request_id, {"operation": "delete"}), entity)

    def void_invoice(self, id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Void an invoice (``operation=void``); returns the voided invoice."""
        body = {"Id": str(id), "SyncToken": str(sync_token)}
        return _entity_of(self._write("Invoice", body, request_id, {"operation": "void"}), "Invoice")

    def void_payment(self, id: str, sync_token: str, request_id: str) -> dict[str, Any]:
        """Void a payment (``operation=update&include=void``, sparse body); returns the voided payment."""
        body = {"Id": str(id), "SyncToken": str(sync_token), "sparse": True}
        extra = {"operation": "update", "include": "void"}
        return _entity_of(self._write("Payment", body, request_id, extra), "Payment")

    def batch(self, ops: list[BatchOp], request_id: str) -> dict[str, BatchItemResult]:
        """Send up to 30 operations in one ``/batch`` call; results keyed by ``bid``.

        Items succeed or fail independently. An item missing from the response gets a
        :class:`QBOTransportError` (outcome unknown).
        """
        if not ops:
            return {}
        if len(ops) > MAX_BATCH_ITEMS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_ITEMS} operations, got {len(ops)}")
        _check_request_id(request_id, MAX_BATCH_REQUEST_ID)
        bids = [op.bid for op in ops]
        if len(set(bids)) != len(bids):
            raise ValueError("batch bIds must be unique")
        for bid in bids:
            if len(request_id) + len(bid) > MAX_REQUEST_ID:
                raise ValueError(f"requestid + bId must be <= {MAX_REQUEST_ID} characters (bId {bid!r})")
        data = self.request(
            "POST",
            "/batch",
            params={"requestid": request_id},
            json_body={"BatchItemRequest": [op.to_item() for op in ops]},
            batch=True,
        )
        if "Fault" in data:
            raise fault_error(data, 200, raw=jsonutil.dumps(data)[:4000])
        by_bid = {op.bid: op for op in ops}
        results: dict[str, BatchItemResult] = {}
        for item in data.get("BatchItemResponse") or []:
            bid = str(item.get("bId", ""))
            op = by_bid.get(bid)
            if op is None:
                log.warning("batch %s: response item with unknown bId %r", request_id, bid)
                continue
            if "Fault" in item:
                error = fault_error(item, 200, raw=jsonutil.dumps(item))
                results[bid] = BatchItemResult(bid, op.entity, error=error)
                continue
            body = next((v for k, v in item.items() if k.lower() == op.entity.lower()), None)
            if body is None:
                body = next((v for k, v in item.items() if k != "bId" and isinstance(v, dict)), None)
            results[bid] = BatchItemResult(bid, op.entity, body=body)
        for op in ops:
            if op.bid not in results:
                missing = QBOTransportError(f"batch {request_id}: no response item for bId {op.bid}")
                results[op.bid] = BatchItemResult(op.bid, op.entity, error=missing)
        return results

    # ------------------------------------------------------------------ company

    def preferences(self) -> dict[str, Any]:
        """The company's ``Preferences`` object."""
        return _entity_of(self.request("GET", "/preferences"), "Preferences")

    def company_info(self) -> dict[str, Any]:
        """The company's ``CompanyInfo`` object."""
        return _entity_of(self.request("GET", f"/companyinfo/{self.realm_id}"), "CompanyInfo")


def _check_request_id(request_id: str, limit: int) -> None:
    if not request_id or len(request_id) > limit:
        raise ValueError(f"requestid must be 1..{limit} characters")
