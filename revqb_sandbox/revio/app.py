"""Rev.io REST sandbox (Starlette): ``/v1/...`` API surface and ``/_admin/...`` scenario controls.

API: Basic ``login@client_code:password`` + ``Ocp-Apim-Subscription-Key`` (missing/wrong -> 401, APIM-style
body for the key); ``rate_per_minute`` per tenant -> 429 + ``Retry-After`` + APIM body; daily quota -> 403.
Paths are case-insensitive. Errors are ``{"ok": false, "message": ..., "errors": [...]}`` (never a traceback).
See :mod:`~revqb_sandbox.revio.query` (search params), :mod:`~revqb_sandbox.revio.state` (amounts,
bounce/refund/reversal representation, custom fields), :mod:`~revqb_sandbox.revio.webhooks` (events) and
:mod:`~revqb_sandbox.revio.catalog` (tax classes, geocodes, product type codes, credit kinds).

Admin (no auth, not rate limited, no faults): ``POST /_admin/billing-cycle``, ``/_admin/payments``,
``/_admin/payments/{id}/bounce``, ``/_admin/payments/{id}/refund``, ``/_admin/credits``,
``/_admin/customers/{id}/status``, ``/_admin/customers/{id}/services``, ``/_admin/services/{id}/cancel``,
``/_admin/products``, ``/_admin/bills/{id}/reverse``, ``/_admin/clock`` (GET too),
``/_admin/faults`` (GET too), ``/_admin/reset``,
``/_admin/records/{table}/{id}`` (raw overwrite, for malformed-data tests);
``GET /_admin/summary``, ``GET /_admin/webhooks``.
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revqb_sandbox.faults import FaultInjector, FaultMiddleware, FaultRule, parse_fault_spec
from revqb_sandbox.revio import resources
from revqb_sandbox.revio.generator import generate
from revqb_sandbox.revio.jsonenc import dumps, loads
from revqb_sandbox.revio.patch import apply_patch
from revqb_sandbox.revio.query import search
from revqb_sandbox.revio.settings import RevioSandboxSettings
from revqb_sandbox.revio.state import PK, RevioState, SandboxError, fmt
from revqb_sandbox.revio.webhooks import WebhookHub

# lower-case path name -> (table, canonical name, allowed methods)
RESOURCES: dict[str, tuple[str, str, frozenset[str]]] = {
    "customers": ("customers", "Customers", frozenset({"GET", "POST", "PATCH"})),
    "bills": ("bills", "Bills", frozenset({"GET", "POST", "PATCH"})),
    "charges": ("charges", "Charges", frozenset({"GET", "POST"})),
    "credits": ("credits", "Credits", frozenset({"GET", "POST"})),
    "payments": ("payments", "Payments", frozenset({"GET", "POST"})),
    "products": ("products", "Products", frozenset({"GET", "POST", "PATCH"})),
    "producttypes": ("product_types", "ProductTypes", frozenset({"GET"})),
    "paymentmethods": ("payment_methods", "PaymentMethods", frozenset({"GET"})),
    "serviceproduct": ("service_products", "ServiceProduct", frozenset({"GET"})),
    "billprofiles": ("bill_profiles", "BillProfiles", frozenset({"GET"})),
}
CREATORS: dict[str, Callable[[RevioState, dict[str, Any], datetime], dict[str, Any]]] = {
    "customers": resources.create_customer,
    "bills": resources.create_bill,
    "charges": resources.create_charge,
    "credits": resources.create_credit,
    "payments": resources.create_payment,
    "products": resources.create_product,
}
PROTECTED: dict[str, set[str]] = {
    "customers": {"customer_id", "created_date"},
    "bills": {
        "bill_id",
        "customer_id",
        "created_date",
        "invoice_amount",
        "credit_memo_amount",
        "amount_due",
        "is_reversed",
        "reversed_date",
    },
    "products": {"product_id", "created_date"},
}
CUSTOMER_STATUSES = ("OPEN", "PENDING", "CLOSED", "PROSPECT")
APIM_MISSING = (
    "Access denied due to missing subscription key. Make sure to include subscription key when making "
    "requests to an API."
)
APIM_INVALID = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an "
    "active subscription."
)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps(data), status_code=status, headers=headers, media_type="application/json; charset=utf-8"
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"ok": False, "message": message, "errors": [message]}, status, headers)


class SandboxClock:
    """Sandbox 'now': starts at an anchor and ticks with real time unless frozen."""

    def __init__(self, start: datetime, frozen: bool = False) -> None:
        self.frozen = frozen
        self.set(start)

    def set(self, moment: datetime) -> None:
        self._anchor = moment.replace(microsecond=0, tzinfo=None)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        if self.frozen:
            return self._anchor
        return (self._anchor + timedelta(seconds=time.monotonic() - self._t0)).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        self.set(self.now() + timedelta(seconds=seconds))


class RateLimiter:
    """Fixed windows per tenant: ``per_minute`` per 60*time_scale s, ``per_day`` per 86400*time_scale s.

    ``Retry-After`` and the message carry real seconds (rounded up, at least 1)."""

    def __init__(self, per_minute: int, per_day: int, time_scale: float) -> None:
        self.per_minute, self.per_day = per_minute, per_day
        self.minute_s, self.day_s = 60.0 * time_scale, 86400.0 * time_scale
        self.lock = threading.Lock()
        self.windows: dict[str, list[float]] = {}
        self.admitted = 0  # counters over every key (``GET /_admin/summary``: rate_limit)
        self.throttled_429 = 0
        self.peak_per_minute = 0

    def stats(self) -> dict[str, int]:
        """Calls admitted, 429s sent, and the most calls admitted within one minute window."""
        with self.lock:
            return {
                "admitted": self.admitted,
                "throttled_429": self.throttled_429,
                "peak_per_minute": self.peak_per_minute,
            }

    def check(self, key: str) -> tuple[int, int] | None:
        """None if allowed, else (status, seconds to wait)."""
        now = time.monotonic()
        with self.lock:
            w = self.windows.setdefault(key, [now, 0, now, 0])
            if now - w[0] >= self.minute_s:
                w[0], w[1] = now, 0
            if now - w[2] >= self.day_s:
                w[2], w[3] = now, 0
            if w[3] >= self.per_day:
                return 403, max(1, math.ceil(w[2] + self.day_s - now))
            if w[1] >= self.per_minute:
                self.throttled_429 += 1
                return 429, max(1, math.ceil(w[0] + self.minute_s - now))
            w[1] += 1
            w[3] += 1
            self.admitted += 1
            self.peak_per_minute = max(self.peak_per_minute, w[1])
            return None


def _error_for_fault(status: int, rule: FaultRule) -> tuple[bytes, dict[str, str]]:
    headers = {"content-type": "application/json; charset=utf-8"}
    if status == 429:
        wait = rule.retry_after_s or 1
        body = {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {wait} seconds."}
        headers["Retry-After"] = str(wait)
    else:
        body = {"ok": False, "message": "An error has occurred.", "errors": [f"HTTP {status}"]}
    return dumps(body).encode(), headers


class RevioSandbox:
    """All mutable sandbox state behind one lock."""

    def __init__(self, settings: RevioSandboxSettings) -> None:
        self.lock = threading.RLock()
        self.injector = FaultInjector(
            [], seed=settings.fault_seed if settings.fault_seed is not None else settings.seed
        )
        self.hub: WebhookHub | None = None
        self.load(settings)

    def load(self, settings: RevioSandboxSettings) -> None:
        """(Re)build the tenant from ``settings``."""
        with self.lock:
            self.settings = settings
            ds = generate(
                settings.seed, settings.customers, settings.start, settings.months, bills=settings.bills
            )
            self.clock = SandboxClock(settings.now or datetime.fromisoformat(ds.clock), settings.freeze_clock)
            if self.hub is not None:
                self.hub.close()
            self.hub = WebhookHub(
                settings.event_names, lambda: fmt(self.clock.now()), settings.webhook_timeout_s
            )
            self.state = RevioState.from_dataset(
                ds,
                bounce_mode=settings.bounce_mode,
                refund_mode=settings.refund_mode,
                bill_reversal_mode=settings.bill_reversal_mode,
                on_event=self.hub.enqueue,
            )
            self.limiter = RateLimiter(settings.rate_per_minute, settings.daily_quota, settings.time_scale)
            rules = parse_fault_spec(settings.faults).get("revio", []) if settings.faults else []
            self.injector.set_rules(rules)

    # ---------------------------------------------------------------- access control
    def check_access(self, request: Request) -> Response | None:
        s = self.settings
        key = request.headers.get("Ocp-Apim-Subscription-Key")
        if not key:
            return json_response({"statusCode": 401, "message": APIM_MISSING}, 401)
        if key != s.subscription_key:
            return json_response({"statusCode": 401, "message": APIM_INVALID}, 401)
        limited = self.limiter.check(key)
        if limited is not None:
            status, wait = limited
            if status == 429:
                msg = f"Rate limit is exceeded. Try again in {wait} seconds."
            else:
                msg = f"Out of call volume quota. Quota will be replenished in {timedelta(seconds=wait)}."
            return json_response({"statusCode": status, "message": msg}, status, {"Retry-After": str(wait)})
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        try:
            user, sep, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, sep, password = "", "", ""
        expected = f"{s.login}@{s.client_code}".lower()
        if scheme.lower() != "basic" or not sep or user.lower() != expected or password != s.password:
            return error(
                401,
                "Authorization has been denied for this request.",
                {"WWW-Authenticate": 'Basic realm="Rev.io"'},
            )
        return None

    # ---------------------------------------------------------------- API
    def api(
        self, method: str, parts: list[str], params: list[tuple[str, str]], body: bytes, base: str
    ) -> Response:
        name = parts[0].lower()
        if name not in RESOURCES:
            raise SandboxError(
                f"No HTTP resource was found that matches the request URI '/v1/{'/'.join(parts)}'.", 404
            )
        table, canonical, allowed = RESOURCES[name]
        pk = PK[table]
        if (
            method not in allowed
            or len(parts) > 2
            or (method == "POST" and len(parts) == 2)
            or (method == "PATCH" and len(parts) == 1)
        ):
            return error(405, f"The requested resource does not support http method '{method}'.")
        st = self.state
        if len(parts) == 2:
            rid = _path_id(parts[1])
            if method == "GET":
                return json_response(self._single(table, canonical, st.get(table, rid), base))
            ops = _json(body)
            rec = st.get(table, rid)
            patched = apply_patch(rec, ops, PROTECTED[table])
            _validate_patched(table, patched)
            rec.clear()
            rec.update(patched)
            if table == "customers":
                rec["updated_date"] = fmt(self.clock.now())
                st.emit("customer_updated", rid)
            return json_response(self._single(table, canonical, rec, base))
        if method == "GET":
            rows = st.tables[table]
            records = [rows[rid] for rid in sorted(rows)]  # by key: the keys are unique, no record compares
            env = search(
                records,
                params,
                pk,
                over_limit=self.settings.page_size_over_limit,
                name_search=table == "customers",
            )
            return json_response(env)
        payload = _json(body)
        if not isinstance(payload, dict):
            raise SandboxError("request body must be a JSON object")
        rec = CREATORS[table](st, payload, self.clock.now())
        if table == "customers":
            st.emit("customer_updated", rec[pk])
        location = f"{base}/v1/{canonical}/{rec[pk]}"
        return json_response({"ok": True, "id": rec[pk]}, 201, {"Location": location})

    def _single(self, table: str, canonical: str, rec: dict[str, Any], base: str) -> dict[str, Any]:
        rid = rec[PK[table]]
        return {"ok": True, **rec, "links": [{"rel": "self", "href": f"{base}/v1/{canonical.lower()}/{rid}"}]}

    # ---------------------------------------------------------------- admin
    def billing_cycle(self, body: dict[str, Any]) -> dict[str, Any]:
        cycle = resources.as_date(resources.need(body, "cycle_date"), "cycle_date")
        start_of_run = datetime.combine(cycle, datetime.min.time()) + timedelta(hours=2)
        if self.clock.now() < start_of_run:
            self.clock.set(start_of_run)
        at = self.clock.now()
        st = self.state
        ids = body.get("customer_ids")
        if ids is None:
            profile = body.get("bill_profile_id")
            ids = [
                cid
                for cid, c in sorted(st.tables["customers"].items())
                if c["activated_date"] and (profile is None or c["finance"]["bill_profile_id"] == profile)
            ]
        else:
            if not isinstance(ids, list):
                raise SandboxError("customer_ids must be a list of ids")
            ids = [resources.as_int(i, "customer_ids") for i in ids]
            for cid in ids:
                st.get("customers", cid)
        rng = random.Random(f"{self.settings.seed}:{cycle.isoformat()}")
        bill_ids = st.run_billing_cycle(cycle, at, rng, ids)
        return {"ok": True, "cycle_date": fmt(cycle), "created_date": fmt(at), "bill_ids": bill_ids}

    def admin_payment(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "payment": resources.create_payment(self.state, body, self.clock.now())}

    def admin_credit(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "credit": resources.create_credit(self.state, body, self.clock.now())}

    def admin_product(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "product": resources.create_product(self.state, body, self.clock.now())}

    def customer_status(self, cid: int, body: dict[str, Any]) -> dict[str, Any]:
        allowed = {"status", "suspended", "amount_overdue", "collection_step"}
        unknown = set(body) - allowed
        if unknown:
            raise SandboxError(f"unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        if body.get("amount_overdue") is not None:
            body["amount_overdue"] = resources.as_dec(body["amount_overdue"], "amount_overdue")
        cust = self.state.set_customer_status(cid, self.clock.now(), **body)
        return {"ok": True, "customer": cust}

    def add_service(self, cid: int, body: dict[str, Any]) -> dict[str, Any]:
        at = self.clock.now()
        activated = resources.as_date(body.get("activated_date") or at.date().isoformat(), "activated_date")
        sp = self.state.add_service_product(
            cid,
            resources.as_int(resources.need(body, "product_id"), "product_id"),
            resources.as_dec(body.get("quantity", 1), "quantity"),
            activated,
            at,
        )
        return {"ok": True, "service_product": sp}

    def cancel_service(self, sp_id: int, body: dict[str, Any]) -> dict[str, Any]:
        at = self.clock.now()
        canceled = resources.as_date(body.get("canceled_date") or at.date().isoformat(), "canceled_date")
        self.state.cancel_service(sp_id, canceled, at)
        return {"ok": True, "service_product": self.state.get("service_products", sp_id)}

    def set_clock(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("now") is not None:
            self.clock.set(resources.as_datetime(body["now"], "now"))
        seconds = resources.as_dec(
            body.get("advance_seconds") or 0, "advance_seconds"
        ) + 86400 * resources.as_dec(body.get("advance_days") or 0, "advance_days")
        if seconds:
            self.clock.advance(float(seconds))
        return {"ok": True, "now": fmt(self.clock.now())}

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        if "rules" in body:
            rules = [FaultRule.model_validate(r) for r in body["rules"] or []]
        else:
            spec = body.get("spec") or ""
            try:
                rules = parse_fault_spec(spec).get("revio", [])
            except ValueError as exc:
                raise SandboxError(str(exc)) from None
        self.injector.set_rules(rules, seed=body.get("seed"))
        return self.faults()

    def faults(self) -> dict[str, Any]:
        return {
            "ok": True,
            "rules": [r.model_dump() for r in self.injector.rules],
            "injected": dict(self.injector.injected),
        }

    def reset(self, body: dict[str, Any]) -> dict[str, Any]:
        allowed = {"seed", "customers", "months", "start", "bills", "now"}
        unknown = set(body) - allowed
        if unknown:
            raise SandboxError(f"unknown fields {sorted(unknown)}; allowed: {sorted(allowed)}")
        settings = RevioSandboxSettings.model_validate({**self.settings.model_dump(), **body})
        self.load(settings)
        return {"ok": True, "now": fmt(self.clock.now()), "summary": self.state.summary()}

    def summary(self) -> dict[str, Any]:
        assert self.hub is not None
        return {
            "ok": True,
            "now": fmt(self.clock.now()),
            **self.state.summary(),
            "rate_limit": self.limiter.stats(),
            "webhooks": {
                "receivers": len(self.hub.receivers),
                "subscriptions": len(self.hub.subscriptions),
                "deliveries": len(self.hub.deliveries),
            },
        }


def _path_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SandboxError(f"invalid id {text!r}") from None


def _json(body: bytes) -> Any:
    if not body.strip():
        raise SandboxError("request body is required")
    try:
        return loads(body)
    except ValueError:
        raise SandboxError("request body is not valid JSON") from None


def _validate_patched(table: str, rec: dict[str, Any]) -> None:
    fields = rec.get("fields")
    if fields is not None and not (
        isinstance(fields, list) and all(isinstance(f, dict) and "field_id" in f for f in fields)
    ):
        raise SandboxError("fields must stay an array of {field_id, label, value}")
    if table == "customers":
        status = rec.get("status")
        if not isinstance(status, str) or status.upper() not in CUSTOMER_STATUSES:
            raise SandboxError(f"status must be one of {list(CUSTOMER_STATUSES)}")
        rec["status"] = status.upper()
        if not isinstance(rec.get("suspended"), bool):
            raise SandboxError("suspended must be true or false")
    for key in ("rate", "cost", "buy_rate"):
        if table == "products" and not isinstance(rec.get(key), int | Decimal | type(None)):
            raise SandboxError(f"{key} must be a number")


class _CaseInsensitiveV1:
    """ASGI middleware: ``/V1/...`` -> ``/v1/...`` (resource names are matched case-insensitively later)."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path[:4].lower() == "/v1/" and not path.startswith("/v1/"):
            scope = {**scope, "path": "/v1/" + path[4:]}
        await self.app(scope, receive, send)


def _overwrite(state: RevioState, table: str, rid: int, fields: dict[str, Any]) -> dict[str, Any]:
    """Set raw fields on a stored record, unvalidated: simulates malformed data from a misbehaving tenant."""
    if table not in state.tables:
        raise SandboxError(f"unknown table {table!r}", 404)
    record = state.get(table, rid)
    record.update(fields)
    return record


def create_app(settings: RevioSandboxSettings | None = None) -> Starlette:
    """The Rev.io sandbox ASGI app; ``app.state.sandbox`` is the :class:`RevioSandbox`."""
    sandbox = RevioSandbox(settings or RevioSandboxSettings())

    def guarded(fn: Callable[[], Any]) -> Response:
        try:
            with sandbox.lock:
                out = fn()
        except SandboxError as exc:
            return error(exc.status, str(exc))
        except ValidationError as exc:
            return error(400, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))
        return out if isinstance(out, Response) else json_response(out)

    async def body_of(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        data = _json(raw)
        if not isinstance(data, dict):
            raise SandboxError("request body must be a JSON object")
        return data

    async def api(request: Request) -> Response:
        denied = sandbox.check_access(request)
        if denied is not None:
            return denied
        parts = [p for p in request.path_params["path"].split("/") if p]
        if not parts:
            return error(404, "No HTTP resource was found that matches the request URI '/v1/'.")
        body = await request.body()
        base = str(request.base_url).rstrip("/")
        if parts[0].lower() in ("webhookreceivers", "webhooksubscriptions"):
            return await webhooks(request.method, parts, body)
        return guarded(
            lambda: sandbox.api(request.method, parts, list(request.query_params.multi_items()), body, base)
        )

    async def webhooks(method: str, parts: list[str], body: bytes) -> Response:
        hub = sandbox.hub
        assert hub is not None
        receivers = parts[0].lower() == "webhookreceivers"
        try:
            if len(parts) == 1 and method == "GET":
                with hub.lock:
                    rows = list((hub.receivers if receivers else hub.subscriptions).values())
                return json_response(
                    {"ok": True, "has_more": False, "record_count": len(rows), "records": rows}
                )
            if len(parts) == 1 and method == "POST":
                payload = _json(body)
                if not isinstance(payload, dict):
                    raise SandboxError("request body must be a JSON object")
                if receivers:
                    rec, _ = hub.add_receiver(payload.get("url"), payload.get("description"))
                    await hub.handshake(rec["webhook_receiver_id"])
                    rid = rec["webhook_receiver_id"]
                    return json_response(
                        {"ok": True, "id": rid}, 201, {"Location": f"/v1/WebhookReceivers/{rid}"}
                    )
                sub = hub.add_subscription(payload.get("webhook_receiver_id"), payload.get("event_type"))
                sid = sub["webhook_subscription_id"]
                return json_response(
                    {"ok": True, "id": sid}, 201, {"Location": f"/v1/WebhookSubscriptions/{sid}"}
                )
            if len(parts) >= 2:
                rid = _path_id(parts[1])
                table = hub.receivers if receivers else hub.subscriptions
                if len(parts) == 3 and receivers and parts[2].lower() == "activate" and method == "POST":
                    payload = _json(body) if body.strip() else {}
                    code = payload.get("code") if isinstance(payload, dict) else None
                    return json_response({"ok": True, **hub.activate(rid, code)})
                if len(parts) == 2 and method == "GET":
                    if rid not in table:
                        raise SandboxError(
                            f"webhook {'receiver' if receivers else 'subscription'} {rid} does not exist", 404
                        )
                    return json_response({"ok": True, **table[rid]})
                if len(parts) == 2 and method == "DELETE":
                    (hub.delete_receiver if receivers else hub.delete_subscription)(rid)
                    return json_response({"ok": True})
            return error(405, f"The requested resource does not support http method '{method}'.")
        except SandboxError as exc:
            return error(exc.status, str(exc))

    def admin(fn: Callable[[Request, dict[str, Any]], Any]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = await body_of(request)
            except SandboxError as exc:
                return error(exc.status, str(exc))
            return guarded(lambda: fn(request, body))

        return endpoint

    def pid(request: Request) -> int:
        return _path_id(request.path_params["id"])

    def webhook_admin(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        hub = sandbox.hub
        assert hub is not None
        with hub.lock:
            return {
                "ok": True,
                "receivers": list(hub.receivers.values()),
                "subscriptions": list(hub.subscriptions.values()),
                "deliveries": list(hub.deliveries),
            }

    s = sandbox
    routes = [
        Route("/v1/{path:path}", api, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Route("/_admin/billing-cycle", admin(lambda r, b: s.billing_cycle(b)), methods=["POST"]),
        Route("/_admin/payments", admin(lambda r, b: s.admin_payment(b)), methods=["POST"]),
        Route(
            "/_admin/payments/{id}/bounce",
            admin(lambda r, b: {"ok": True, "payments": s.state.bounce_payment(pid(r), s.clock.now())}),
            methods=["POST"],
        ),
        Route(
            "/_admin/payments/{id}/refund",
            admin(
                lambda r, b: {
                    "ok": True,
                    "payment": s.state.refund_payment(
                        pid(r),
                        s.clock.now(),
                        resources.as_dec(b["amount"], "amount") if b.get("amount") is not None else None,
                    ),
                }
            ),
            methods=["POST"],
        ),
        Route("/_admin/credits", admin(lambda r, b: s.admin_credit(b)), methods=["POST"]),
        Route(
            "/_admin/customers/{id}/status",
            admin(lambda r, b: s.customer_status(pid(r), b)),
            methods=["POST"],
        ),
        Route(
            "/_admin/customers/{id}/services", admin(lambda r, b: s.add_service(pid(r), b)), methods=["POST"]
        ),
        Route(
            "/_admin/services/{id}/cancel", admin(lambda r, b: s.cancel_service(pid(r), b)), methods=["POST"]
        ),
        Route("/_admin/products", admin(lambda r, b: s.admin_product(b)), methods=["POST"]),
        Route(
            "/_admin/bills/{id}/reverse",
            admin(lambda r, b: {"ok": True, "bill": s.state.reverse_bill(pid(r), s.clock.now())}),
            methods=["POST"],
        ),
        Route("/_admin/clock", admin(lambda r, b: s.set_clock(b)), methods=["GET", "POST"]),
        Route(
            "/_admin/faults",
            admin(lambda r, b: s.set_faults(b) if r.method == "POST" else s.faults()),
            methods=["GET", "POST"],
        ),
        Route("/_admin/reset", admin(lambda r, b: s.reset(b)), methods=["POST"]),
        Route(
            "/_admin/records/{table}/{id}",
            admin(
                lambda r, b: {"ok": True, "record": _overwrite(s.state, r.path_params["table"], pid(r), b)}
            ),
            methods=["POST"],
        ),
        Route("/_admin/summary", admin(lambda r, b: s.summary()), methods=["GET"]),
        Route("/_admin/webhooks", admin(webhook_admin), methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            return error(405, f"The requested resource does not support http method '{request.method}'.")
        if exc.status_code == 404:
            return error(
                404, f"No HTTP resource was found that matches the request URI '{request.url.path}'."
            )
        return error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        return error(500, "An error has occurred.")

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(_CaseInsensitiveV1),
            Middleware(FaultMiddleware, injector=sandbox.injector, error_response=_error_for_fault),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.sandbox = sandbox
    return app


__all__ = ["RevioSandbox", "SandboxClock", "create_app"]
