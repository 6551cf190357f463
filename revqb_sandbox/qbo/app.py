"""Starlette app of the QBO sandbox: API, OAuth, discovery and ``/_admin`` endpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from revqb_sandbox.faults import FaultInjector, FaultMiddleware, FaultRule, Message, Receive, Scope, Send
from revqb_sandbox.qbo.api import QBOApi
from revqb_sandbox.qbo.common import (
    JSON_CT,
    Clock,
    QBOError,
    auth_fault,
    dumps,
    fault_envelope,
    new_tid,
    system_error,
    throttle_body,
)
from revqb_sandbox.qbo.oauth import OAuthError, OAuthServer, discovery_document
from revqb_sandbox.qbo.seed import seed_realm
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.qbo.store import RealmStats, Store
from revqb_sandbox.qbo.throttle import Throttle
from revqb_sandbox.qbo.webhooks import WebhookEmitter

log = logging.getLogger(__name__)
API_PATH = re.compile(r"^/v3/company/([^/]+)(/.*)?$")
RULES = TypeAdapter(list[FaultRule])


class Sandbox:
    """All server state; ``app.state.sandbox`` holds it."""

    def __init__(self, settings: QBOSandboxSettings) -> None:
        self.settings = settings
        self.clock = Clock(settings.time_scale, settings.tz_offset_hours)
        self.store = Store(lambda realm: seed_realm(realm, settings, self.clock))
        self.api = QBOApi(settings, self.clock, self.store)
        self.oauth = OAuthServer(settings, self.clock)
        self.throttle = Throttle(settings, self.clock)
        self.injector = FaultInjector(settings.faults, settings.seed)
        self.webhooks = WebhookEmitter(settings.webhook_url, settings.webhook_verifier_token)
        self.stats: dict[str, RealmStats] = {}

    def realm_stats(self, realm_id: str) -> RealmStats:
        return self.stats.setdefault(realm_id, RealmStats())

    def fault_response(self, status: int, rule: FaultRule) -> tuple[bytes, dict[str, str]]:
        """Error bodies for injected faults, in the QBO shape."""
        if status == 429:
            body, ctype = throttle_body(self.clock, self.settings.xml_429)
            return body, {"content-type": ctype}
        err = system_error(status, "injected fault")
        return dumps(fault_envelope(err, self.clock)), {"content-type": JSON_CT}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status_code=status, media_type=JSON_CT, headers=headers)


def _fault(sb: Sandbox, err: QBOError) -> Response:
    return _json(fault_envelope(err, sb.clock), err.status)


Handler = Callable[[Request], Awaitable[Response]]


def _safe(fn: Handler) -> Handler:
    """Turn unexpected exceptions into a 500 Fault without a traceback in the body."""

    async def wrapper(request: Request) -> Response:
        sb: Sandbox = request.app.state.sandbox
        try:
            return await fn(request)
        except QBOError as err:
            return _fault(sb, err)
        except Exception:
            log.exception("qbo sandbox handler failed")
            return _fault(sb, system_error())

    return wrapper


async def api_endpoint(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    realm_id = request.path_params["realm"]
    rest = request.path_params.get("rest", "")
    problem = sb.oauth.check_bearer(request.headers.get("authorization"), realm_id)
    if problem is not None:
        return _json(auth_fault(problem), 401, {"WWW-Authenticate": 'Bearer realm="Intuit"'})
    stats = sb.realm_stats(realm_id)
    is_batch = rest.strip("/") == "batch"
    limit = sb.throttle.admit(realm_id, stats.in_flight, is_batch)
    if limit is not None:
        body, ctype = throttle_body(sb.clock, sb.settings.xml_429)
        headers = (
            {"Retry-After": str(sb.settings.retry_after_s)} if sb.settings.retry_after_s is not None else None
        )
        return Response(body, status_code=429, media_type=ctype, headers=headers)
    if sb.settings.request_latency_s:
        await asyncio.sleep(sb.settings.request_latency_s * sb.settings.time_scale)
    raw = await request.body()
    params = dict(request.query_params)
    result = sb.api.handle(realm_id, request.method, rest, params, raw)
    if is_batch:
        stats.batch_requests += 1
    stats.writes += result.writes
    sb.webhooks.emit(realm_id, result.events)
    return Response(result.body, status_code=result.status, media_type=JSON_CT)


async def token_endpoint(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    try:
        sb.oauth.check_client(request.headers.get("authorization"))
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        return _json(sb.oauth.token(form), headers={"Cache-Control": "no-store"})
    except OAuthError as err:
        return _json(err.body, err.status)


async def revoke_endpoint(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    try:
        sb.oauth.check_client(request.headers.get("authorization"))
    except OAuthError as err:
        return _json(err.body, err.status)
    raw = await request.body()
    token = ""
    if raw.strip().startswith(b"{"):
        try:
            token = str(json.loads(raw).get("token", ""))
        except ValueError:
            token = ""
    else:
        token = dict(parse_qsl(raw.decode("utf-8", "replace"))).get("token", "")
    if not token:
        return _json({"error": "invalid_request", "error_description": "token is required"}, 400)
    sb.oauth.revoke(token)
    return Response(b"", status_code=200)


async def discovery(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return _json(discovery_document(base))


async def authorize_redirect(request: Request) -> Response:
    """GET /connect/oauth2: consent is implicit; redirect back with code, state and realmId."""
    sb: Sandbox = request.app.state.sandbox
    realm_id = request.query_params.get("realmId") or sb.settings.realm_id
    code = sb.oauth.authorize(realm_id)
    params = {"code": code, "state": request.query_params.get("state", ""), "realmId": realm_id}
    target = request.query_params.get("redirect_uri") or sb.settings.redirect_uri
    return RedirectResponse(f"{target}?{urlencode(params)}", status_code=302)


async def admin_faults(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    if request.method == "GET":
        return _json([r.model_dump() for r in sb.injector.rules])
    data = json.loads(await request.body() or b"[]")
    seed = None
    if isinstance(data, dict):
        seed = data.get("seed")
        data = data.get("rules", [])
    try:
        rules = RULES.validate_python(data)
    except ValidationError as exc:
        return _json({"error": "invalid fault rules", "detail": exc.errors(include_url=False)}, 422)
    sb.injector.set_rules(rules, seed=seed)
    return _json({"rules": len(rules)})


async def admin_reset(request: Request) -> Response:
    """Forget all company data, requestids, throttle windows and stats (tokens survive unless ?oauth=true)."""
    sb: Sandbox = request.app.state.sandbox
    sb.store.reset()
    sb.throttle.reset()
    sb.stats.clear()
    if request.query_params.get("oauth", "").lower() == "true":
        sb.oauth.reset()
    return _json({"reset": True})


async def admin_expire(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    return _json({"expired": sb.oauth.expire_access_tokens()})


async def admin_authorize(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    realm_id = str(data.get("realm_id") or data.get("realmId") or sb.settings.realm_id)
    code = sb.oauth.authorize(realm_id)
    return _json({"code": code, "realmId": realm_id, "redirect_uri": sb.settings.redirect_uri})


async def admin_stats(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    out: dict[str, Any] = {}
    with sb.store.lock:
        realm_ids = set(sb.stats) | set(sb.store.realms) | set(sb.oauth.refresh_grants)
        for rid in sorted(realm_ids):
            st = sb.realm_stats(rid)
            realm = sb.store.realms.get(rid)
            out[rid] = {
                "requests": st.requests,
                "writes": st.writes,
                "batch_requests": st.batch_requests,
                "throttled_429": st.throttled_429,
                "peak_concurrency": st.peak_concurrency,
                **sb.throttle.peaks(rid),
                "oauth_refreshes": sb.oauth.refresh_grants.get(rid, 0),
                "status_counts": dict(st.status_counts),
                "entities": realm.entity_counts() if realm else {},
            }
    return _json({"realms": out, "faults_injected": dict(sb.injector.injected), "webhooks": {
        "delivered": sb.webhooks.delivered, "failed": sb.webhooks.failed}})  # fmt: skip


async def not_found(request: Request) -> Response:
    sb: Sandbox = request.app.state.sandbox
    err = QBOError(
        "2000", "Invalid or unsupported object name", f"No such resource: {request.url.path}", status=404
    )
    return _fault(sb, err)


async def http_error(request: Request, exc: Exception) -> Response:
    sb: Sandbox = request.app.state.sandbox
    status = getattr(exc, "status_code", 500)
    code = "500" if status == 405 else "2000"
    err = QBOError(
        code, "Unsupported Operation", f"{request.method} {request.url.path}: {exc}", status=status
    )
    return _fault(sb, err)


class Gate:
    """Outermost middleware: ``intuit_tid`` header, per-realm request/429/concurrency stats."""

    def __init__(self, app: Any, sandbox: Sandbox) -> None:
        self.app = app
        self.sb = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        m = API_PATH.match(scope.get("path", ""))
        stats = self.sb.realm_stats(m.group(1)) if m else None
        tid = new_tid().encode()

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*list(message["headers"]), (b"intuit_tid", tid)]
                if stats is not None:
                    status = int(message["status"])
                    stats.status_counts[str(status)] = stats.status_counts.get(str(status), 0) + 1
                    if status == 429:
                        stats.throttled_429 += 1
            await send(message)

        if stats is None:
            await self.app(scope, receive, send_wrapper)
            return
        stats.requests += 1
        stats.in_flight += 1
        stats.peak_concurrency = max(stats.peak_concurrency, stats.in_flight)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            stats.in_flight -= 1


def create_app(settings: QBOSandboxSettings | None = None) -> Starlette:
    """Build the QBO sandbox ASGI app (``app.state.sandbox`` exposes the state)."""
    settings = settings or QBOSandboxSettings()
    sb = Sandbox(settings)
    routes = [
        Route("/v3/company/{realm}/{rest:path}", _safe(api_endpoint), methods=["GET", "POST"]),
        Route("/oauth2/v1/tokens/bearer", _safe(token_endpoint), methods=["POST"]),
        Route("/oauth2/v1/tokens/revoke", _safe(revoke_endpoint), methods=["POST"]),
        Route("/v2/oauth2/tokens/revoke", _safe(revoke_endpoint), methods=["POST"]),
        Route("/connect/oauth2", _safe(authorize_redirect), methods=["GET"]),
        Route("/_admin/faults", _safe(admin_faults), methods=["GET", "POST"]),
        Route("/_admin/reset", _safe(admin_reset), methods=["POST"]),
        Route("/_admin/oauth/expire-access-tokens", _safe(admin_expire), methods=["POST"]),
        Route("/_admin/oauth/authorize", _safe(admin_authorize), methods=["POST"]),
        Route("/_admin/stats", _safe(admin_stats), methods=["GET"]),
    ]
    for name in ("openid_configuration", "openid_sandbox_configuration"):
        routes.append(Route(f"/.well-known/{name}", discovery, methods=["GET"]))
        routes.append(Route(f"/.well-known/{name}/", discovery, methods=["GET"]))
    routes.append(Route("/{path:path}", _safe(not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    app.state.sandbox = sb
    app.add_middleware(FaultMiddleware, injector=sb.injector, error_response=sb.fault_response)
    app.add_middleware(Gate, sandbox=sb)
    return app
