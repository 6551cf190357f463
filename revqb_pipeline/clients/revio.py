"""Rev.io Billing REST API client: Basic auth + APIM key, search paging, JSON Patch, retries."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import httpx

from revqb_pipeline.clients import jsonutil
from revqb_pipeline.clients._tls import new_http_client
from revqb_pipeline.clients.errors import (
    RevioAuthError,
    RevioError,
    RevioFieldMissing,
    RevioNotFound,
    RevioThrottled,
    RevioTransportError,
    config_error_from_transport,
    parse_retry_after,
)
from revqb_pipeline.clients.ratelimit import RateLimiter, revio_limiter_for
from revqb_pipeline.clients.retry import RetryingClient

log = logging.getLogger("revqb.revio")

MAX_PAGE_SIZE = 500
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

PRIMARY_KEYS: dict[str, str] = {
    "customers": "customer_id",
    "bills": "bill_id",
    "charges": "charge_id",
    "credits": "credit_memo_id",
    "payments": "payment_id",
    "products": "product_id",
    "producttypes": "product_type_id",
    "paymentmethods": "payment_method_id",
}

_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", re.IGNORECASE)
_FIRST_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def primary_key(resource: str) -> str | None:
    """The primary-key field of a collection (``Customers`` -> ``customer_id``), None if unknown."""
    return PRIMARY_KEYS.get(resource.replace("_", "").replace("-", "").lower())


def format_param(value: Any) -> str:
    """A query-string value: datetimes/dates as ``YYYY-MM-DDTHH:MM:SS``, booleans lower-case."""
    if isinstance(value, datetime):
        return value.strftime(DATE_FORMAT)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day).strftime(DATE_FORMAT)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def search_params(params: dict[str, Any] | None) -> dict[str, str]:
    """Prefix filter names with ``search.`` (unless they have it) and format the values; drop Nones."""
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        name = key if key.startswith("search.") else f"search.{key}"
        out[name] = format_param(value)
    return out


def _error_message(body: Any, fallback: str) -> str:
    """The most useful text in an (undocumented) Rev.io / APIM error body."""
    if isinstance(body, list):
        texts = [_error_message(item, "") for item in body]
        return "; ".join(t for t in texts if t) or fallback
    if isinstance(body, dict):
        for key in ("message", "Message", "error_description", "error", "detail", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict | list):
                nested = _error_message(value, "")
                if nested:
                    return nested
        errors = body.get("errors") or body.get("Errors")
        if errors:
            if isinstance(errors, dict):  # {"field": ["msg", ...]} (ASP.NET validation style)
                return "; ".join(f"{k}: {v}" for k, v in errors.items())
            return _error_message(errors, fallback)
    if isinstance(body, str) and body:
        return body
    return fallback


def retry_after_seconds(headers: httpx.Headers, message: str) -> float | None:
    """Seconds to wait after a 429: the ``Retry-After`` header, else the number in the APIM message."""
    seconds = parse_retry_after(headers.get("Retry-After"))
    if seconds is not None:
        return seconds
    match = _SECONDS.search(message) or _FIRST_NUMBER.search(message)
    return float(match.group(1)) if match else None


def parse_revio_error(resp: httpx.Response) -> RevioError:
    """A typed RevioError from any error response (JSON object, JSON array, or text)."""
    raw = resp.text
    try:
        body: Any = jsonutil.loads(resp.content) if resp.content else None
    except ValueError:
        body = raw.strip()
    message = _error_message(body, resp.reason_phrase or f"HTTP {resp.status_code}")
    status = resp.status_code
    if status == 429:
        return RevioThrottled(status, message, raw, retry_after=retry_after_seconds(resp.headers, message))
    if status in (401, 403):
        return RevioAuthError(status, message, raw)
    if status == 404:
        return RevioNotFound(status, message, raw)
    return RevioError(status, message, raw)


def _throttle_delay(err: BaseException) -> float | None:
    """A 429's ``Retry-After`` (header or APIM message) plus a little jitter; None: exponential backoff."""
    if isinstance(err, RevioThrottled) and err.retry_after is not None:
        return err.retry_after + random.uniform(0, max(0.05, 0.1 * err.retry_after))
    return None


class RevioClient(RetryingClient):
    """A Rev.io REST client. ``base_url`` is the API root with or without ``/v1``. Thread-safe (its only
    state is the shared ``httpx.Client`` and the tenant's limiter).

    Every call (each retry too) passes the tenant's limiter (``revio_limiter_for``: 500 calls/min, shared
    by every client of the same base URL + client code in the process) unless ``limiter`` is given.
    GET and PATCH are retried on 429 (Retry-After / APIM message seconds), 5xx and network errors.
    ``create`` (not idempotent) is retried only when the request surely did not land: 429, 503 and
    connection failures; otherwise it raises (a :class:`RevioTransportError` means "outcome unknown").
    """

    _log = log

    def __init__(
        self,
        base_url: str,
        client_code: str,
        username: str,
        password: str,
        subscription_key: str,
        *,
        page_size: int = MAX_PAGE_SIZE,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        limiter: RateLimiter | None = None,
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root if root.lower().endswith("/v1") else f"{root}/v1"
        self.page_size = min(MAX_PAGE_SIZE, max(1, page_size))
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self._auth = httpx.BasicAuth(f"{username}@{client_code}", password)
        self._headers = {"Ocp-Apim-Subscription-Key": subscription_key, "Accept": "application/json"}
        self._http = http or new_http_client(timeout, connect_timeout)
        self._owns_http = http is None
        self._sleep = sleep
        self._root = root
        self.limiter: RateLimiter = limiter or revio_limiter_for(self.base_url, client_code)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> RevioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        content_type: str = "application/json",
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send one call to ``<base>/v1<path>`` with retries; return the 2xx response or raise RevioError."""
        url = f"{self.base_url}{path}"
        headers = dict(self._headers)
        content = None
        if json_body is not None:
            content = jsonutil.dumps_bytes(json_body)
            headers["Content-Type"] = content_type

        def attempt() -> httpx.Response:
            return self._send(method, url, path, params, content, headers)

        def retryable(err: BaseException) -> bool:
            if isinstance(err, RevioTransportError):  # a create may have landed, unless never sent
                return idempotent or not err.landed
            if not isinstance(err, RevioError):
                return False
            return err.status in (429, 503) or (idempotent and err.status >= 500)

        return self._with_retries(attempt, f"{method} {path}", retryable, delay_for=_throttle_delay)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str],
    ) -> httpx.Response:
        """One try through the tenant's limiter: the 2xx response, else a typed RevioError."""
        try:
            with self.limiter.acquire():
                resp = self._http.request(
                    method, url, params=params, content=content, headers=headers, auth=self._auth
                )
        except httpx.TransportError as exc:
            config = config_error_from_transport(exc, "REVIO_BASE_URL", self._root)
            if config is not None:
                raise config from None
            landed = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            message = f"{method} {path}: {type(exc).__name__}: {exc}"
            raise RevioTransportError(message, cause=exc, landed=landed) from exc
        if resp.is_success:
            log.debug("%s %s -> %s", method, path, resp.status_code)
            return resp
        err = parse_revio_error(resp)
        log.warning("%s %s -> %s %s", method, path, err.status, err.message[:200])
        raise err

    def _json(self, resp: httpx.Response) -> Any:
        if not resp.content:
            return {}
        try:
            return jsonutil.loads(resp.content)
        except ValueError as exc:
            raise RevioError(resp.status_code, "response is not JSON", resp.text[:2000]) from exc

    def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._json(self.request("GET", path, params=params))

    # ------------------------------------------------------------------ reads

    def iter_records(
        self, resource: str, params: dict[str, Any] | None = None, sort: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record of ``resource`` matching ``params`` (``search.`` added), page by page.

        Offset paging can shift while new records arrive, so records are de-duplicated by primary key.
        """
        query = search_params(params)
        if sort:
            query["search.sort"] = sort
        query["search.page_size"] = str(self.page_size)
        pk = primary_key(resource)
        seen: set[Any] = set()
        page = 1
        while True:
            query["search.page"] = str(page)
            data = self.get_json(f"/{resource}", query)
            if isinstance(data, dict):
                records = data.get("records") or []
            else:
                records = data if isinstance(data, list) else []
            for record in records:
                key = record.get(pk) if pk else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                yield record
            if not (isinstance(data, dict) and data.get("has_more")) or not records:
                return
            page += 1

    def get(self, resource: str, id: int | str) -> dict[str, Any]:
        """One record by id (the response minus ``ok`` and ``links``)."""
        data = self.get_json(f"/{resource}/{id}")
        if not isinstance(data, dict):
            raise RevioError(200, f"unexpected {resource} body", str(data)[:2000])
        return {k: v for k, v in data.items() if k not in ("ok", "links")}

    def customers(
        self, updated_start: datetime | None = None, updated_end: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        params = {"updated_date_start": updated_start, "updated_date_end": updated_end}
        return self.iter_records("Customers", params)

    def bills(
        self,
        created_start: datetime | None = None,
        created_end: datetime | None = None,
        customer_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        params = {
            "created_date_start": created_start,
            "created_date_end": created_end,
            "customer_id": customer_id,
        }
        return self.iter_records("Bills", params)

    def _transactions(
        self,
        resource: str,
        bill_id: int | None,
        created_start: datetime | None,
        created_end: datetime | None,
        customer_id: int | None,
    ) -> Iterator[dict[str, Any]]:
        params = {
            "bill_id": bill_id,
            "created_date_start": created_start,
            "created_date_end": created_end,
            "customer_id": customer_id,
        }
        return self.iter_records(resource, params)

    def charges(
        self,
        bill_id: int | None = None,
        created_start: datetime | None = None,
        created_end: datetime | None = None,
        customer_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        return self._transactions("Charges", bill_id, created_start, created_end, customer_id)

    def credits(
        self,
        bill_id: int | None = None,
        created_start: datetime | None = None,
        created_end: datetime | None = None,
        customer_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        return self._transactions("Credits", bill_id, created_start, created_end, customer_id)

    def payments(
        self,
        bill_id: int | None = None,
        created_start: datetime | None = None,
        created_end: datetime | None = None,
        customer_id: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        return self._transactions("Payments", bill_id, created_start, created_end, customer_id)

    def products(self) -> Iterator[dict[str, Any]]:
        return self.iter_records("Products")

    def product_types(self) -> Iterator[dict[str, Any]]:
        return self.iter_records("ProductTypes")

    def payment_methods(self) -> Iterator[dict[str, Any]]:
        return self.iter_records("PaymentMethods")

    # ------------------------------------------------------------------ writes

    def patch(self, resource: str, id: int | str, ops: list[dict[str, Any]]) -> Any:
        """Apply an RFC 6902 JSON Patch to one record; returns the response body (may be ``{}``)."""
        resp = self.request(
            "PATCH", f"/{resource}/{id}", json_body=ops, content_type="application/json-patch+json"
        )
        return self._json(resp)

    def set_custom_field(
        self, resource: str, id: int | str, label: str, value: Any, *, known_index: int | None = None
    ) -> Any:
        """Set the custom field ``label`` of one record (patched by its index in ``fields``).

        With ``known_index`` (from a recent read) one PATCH guarded by a JSON Patch ``test`` of the label is
        tried first; if the fields moved since, the record is read again and patched by its current index.
        """
        if known_index is not None:
            ops = [
                {"op": "test", "path": f"/fields/{known_index}/label", "value": label},
                {"op": "replace", "path": f"/fields/{known_index}/value", "value": value},
            ]
            try:
                return self.patch(resource, id, ops)
            except RevioError as exc:
                if exc.status not in (400, 409, 422):
                    raise
        record = self.get(resource, id)
        fields = record.get("fields") or []
        for index, field in enumerate(fields):
            if isinstance(field, dict) and field.get("label") == label:
                return self.patch(
                    resource, id, [{"op": "replace", "path": f"/fields/{index}/value", "value": value}]
                )
        labels = [f.get("label") for f in fields if isinstance(f, dict)]
        raise RevioFieldMissing(404, f"{resource} {id} has no custom field {label!r} (fields: {labels})")

    def create(self, resource: str, body: dict[str, Any]) -> int:
        """Create a record (POST); the new id from ``{"ok": true, "id": N}`` or the Location header."""
        resp = self.request("POST", f"/{resource}", json_body=body, idempotent=False)
        data = self._json(resp)
        if isinstance(data, dict) and data.get("id") is not None:
            return int(data["id"])
        location = resp.headers.get("Location", "")
        tail = location.rstrip("/").rsplit("/", 1)[-1]
        if tail.isdigit():
            return int(tail)
        raise RevioError(resp.status_code, f"create {resource}: no id in the response", resp.text[:2000])
