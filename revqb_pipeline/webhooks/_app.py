"""The receiver: a small ASGI app (Starlette) that stores webhook notifications and answers at once.

``POST /revio/events``: a Rev.io notification. The shared secret (``?token=`` in the registered URL, or an
``X-Revqb-Token`` header) must match, else 401 and nothing is stored. Rev.io's confirmation request (an
``X-Hook-Secret`` header) is answered by echoing the header, which activates the receiver. A notification is
stored once per event id (202 ``{"stored": true}``; a duplicate or replay: 200 ``{"stored": false}``).
``POST /qbo/webhooks``: QBO notifications, handed to a handler that verifies ``intuit-signature`` (optional).
``GET /healthz``: the stored events per status.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from revqb_pipeline.staging.events import EventStore
from revqb_pipeline.webhooks._events import MAX_BODY_BYTES, EventError, parse_event, token_ok

log = logging.getLogger(__name__)

#: ``(raw body, intuit-signature header) -> (status, JSON body)``: the QBO notification handler.
QboHandler = Callable[[bytes, str | None], tuple[int, dict[str, object]]]


def build_app(
    store: EventStore,
    secret: str,
    events: dict[str, str],
    qbo_handler: QboHandler | None = None,
) -> Starlette:
    """The receiver app over ``store``; ``events`` maps event types to the Rev.io resource they name."""
    if not secret:
        raise ValueError("REVQB_WEBHOOK_SECRET is empty: the receiver would accept anyone's notifications")

    async def body_of(request: Request) -> bytes | None:
        size = request.headers.get("content-length")
        if size is not None and size.isdigit() and int(size) > MAX_BODY_BYTES:
            return None
        body = await request.body()
        return body if len(body) <= MAX_BODY_BYTES else None

    async def revio_events(request: Request) -> Response:
        presented = request.query_params.get("token") or request.headers.get("x-revqb-token")
        if not token_ok(presented, secret):
            log.warning("rejected a Rev.io notification without the shared secret from %s", request.client)
            return JSONResponse({"error": "missing or wrong token"}, status_code=401)
        hook_secret = request.headers.get("x-hook-secret")
        if hook_secret is not None:  # Rev.io's confirmation request: echo the code to activate
            return JSONResponse({"confirmed": True}, headers={"X-Hook-Secret": hook_secret})
        body = await body_of(request)
        if body is None:
            return JSONResponse({"error": f"body exceeds {MAX_BODY_BYTES} bytes"}, status_code=413)
        try:
            event = parse_event(body)
        except EventError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        stored = await run_in_threadpool(
            store.record,
            event.event_id,
            event.event_type,
            event.resource(events),
            event.object_id,
            event.created_date,
        )
        status = 202 if stored else 200
        return JSONResponse({"stored": stored, "event_id": event.event_id}, status_code=status)

    async def qbo_webhooks(request: Request) -> Response:
        if qbo_handler is None:
            return JSONResponse({"error": "QBO webhooks are not configured"}, status_code=404)
        body = await body_of(request)
        if body is None:
            return JSONResponse({"error": f"body exceeds {MAX_BODY_BYTES} bytes"}, status_code=413)
        status, payload = await run_in_threadpool(qbo_handler, body, request.headers.get("intuit-signature"))
        return JSONResponse(payload, status_code=status)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True, "events": await run_in_threadpool(store.counts)})

    return Starlette(
        routes=[
            Route("/revio/events", revio_events, methods=["POST"]),
            Route("/qbo/webhooks", qbo_webhooks, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
