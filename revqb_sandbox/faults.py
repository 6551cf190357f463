"""Seeded fault injection shared by the sandbox servers (pure ASGI middleware).

Kinds: ``http_429`` / ``http_500`` / ``http_503`` (app-shaped error body), ``slow`` (delay, then normal),
``timeout`` (hold the request until the client gives up; the app is not called),
``reset_before_write`` (connection dropped, app not called),
``drop_after_commit`` (app called so the write commits, then the response is cut mid-body).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal

from pydantic import BaseModel, Field

FaultKind = Literal[
    "http_429", "http_500", "http_503", "slow", "timeout", "reset_before_write", "drop_after_commit"
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorResponse = Callable[[int, "FaultRule"], tuple[bytes, dict[str, str]]]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WRITE_KINDS = frozenset({"reset_before_write", "drop_after_commit"})
STATUS_BY_KIND = {"http_429": 429, "http_500": 500, "http_503": 503}
TIMEOUT_SLEEP_S = 3600.0


class FaultRule(BaseModel):
    """One fault rule. ``count`` set = deterministic (the next N matching requests); else ``probability``."""

    kind: FaultKind
    probability: float = Field(
        0.0, ge=0.0, le=1.0, description="Chance per matching request (if count is None)."
    )
    count: int | None = Field(None, ge=0, description="Apply to exactly the next N matching requests.")
    method: str | None = Field(
        None, description="HTTP method to match; None = any (write kinds default to POST/PUT/PATCH/DELETE)."
    )
    path_regex: str | None = Field(
        None, description="re.search pattern against the request path; None = any."
    )
    delay_s: float = Field(0.0, ge=0.0, description="Delay for `slow`.")
    retry_after_s: int | None = Field(None, description="Retry-After header value for http_429/503.")

    def matches(self, method: str, path: str) -> bool:
        """True if this rule applies to ``method`` ``path`` (ignoring probability/count)."""
        m = method.upper()
        if self.method is not None:
            if self.method.upper() != m:
                return False
        elif self.kind in WRITE_KINDS and m not in WRITE_METHODS:
            return False
        return self.path_regex is None or re.search(self.path_regex, path) is not None


class FaultInjector:
    """Thread-safe, seeded decision maker over a list of rules (first firing rule wins)."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._seed = seed
        self._rules: list[FaultRule] = []
        self._remaining: list[int | None] = []
        self.injected: dict[str, int] = {}
        self.set_rules(rules or [])

    @property
    def rules(self) -> list[FaultRule]:
        """A copy of the current rules."""
        with self._lock:
            return list(self._rules)

    def set_rules(self, rules: list[FaultRule], seed: int | None = None) -> None:
        """Replace all rules (and reset deterministic counters; reseed if ``seed`` given)."""
        with self._lock:
            self._rules = [FaultRule.model_validate(r) if not isinstance(r, FaultRule) else r for r in rules]
            self._remaining = [r.count for r in self._rules]
            if seed is not None:
                self._seed = seed
                self._rng = random.Random(seed)

    def decide(self, method: str, path: str) -> FaultRule | None:
        """The rule to apply to this request, or None."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if not rule.matches(method, path):
                    continue
                left = self._remaining[i]
                if left is not None:
                    if left <= 0:
                        continue
                    self._remaining[i] = left - 1
                    fire = True
                else:
                    fire = rule.probability > 0 and self._rng.random() < rule.probability
                if fire:
                    self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
                    return rule
            return None


class ConnectionCut(Exception):
    """Raised to make the server abort a connection mid-response."""


class FaultMiddleware:
    """ASGI middleware applying :class:`FaultInjector` decisions to HTTP requests."""

    def __init__(self, app: ASGIApp, injector: FaultInjector, error_response: ErrorResponse) -> None:
        self.app = app
        self.injector = injector
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path.startswith("/_admin"):
            await self.app(scope, receive, send)
            return
        rule = self.injector.decide(scope.get("method", "GET"), path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        kind = rule.kind
        if kind in STATUS_BY_KIND:
            status = STATUS_BY_KIND[kind]
            body, headers = self.error_response(status, rule)
            hdrs = dict(headers)
            if rule.retry_after_s is not None:
                hdrs.setdefault("Retry-After", str(rule.retry_after_s))
            await _drain(receive)
            await _send_full(send, status, body, hdrs)
        elif kind == "slow":
            await asyncio.sleep(rule.delay_s)
            await self.app(scope, receive, send)
        elif kind == "timeout":
            await _drain(receive)
            if await _wait_disconnect(receive, rule.delay_s + TIMEOUT_SLEEP_S):
                return
            body, headers = self.error_response(504, rule)
            await _send_full(send, 504, body, headers)
        elif kind == "reset_before_write":
            await _drain(receive)
            await _cut(send)
        elif kind == "drop_after_commit":

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _cut(send)


async def _drain(receive: Receive) -> None:
    """Read the request body completely (so the server does not complain)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _wait_disconnect(receive: Receive, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for the client to go away; True if it did."""

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        await asyncio.wait_for(until_disconnect(), timeout_s)
    except TimeoutError:
        return False
    return True


async def _send_full(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _cut(send: Send) -> None:
    """Start a response promising more bytes than are sent, then abort the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"100000")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"partial": ', "more_body": True})
    raise ConnectionCut("fault injection: connection cut")


def parse_fault_spec(spec: str) -> dict[str, list[FaultRule]]:
    """Parse ``"qbo.drop_after_commit=0.2,revio.http_429=0.05"`` into rules per service.

    A value with a leading ``#`` (``qbo.http_500=#3``) is a deterministic count instead of a probability.
    """
    out: dict[str, list[FaultRule]] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        service, dot, kind = key.strip().partition(".")
        if not sep or not dot or not service or not kind:
            raise ValueError(f"bad fault spec {part!r}: expected service.kind=probability")
        value = value.strip()
        try:
            if value.startswith("#"):
                rule = FaultRule(kind=kind, count=int(value[1:]))  # type: ignore[arg-type]
            else:
                rule = FaultRule(kind=kind, probability=float(value))  # type: ignore[arg-type]
        except ValueError as exc:
            raise ValueError(f"bad fault spec {part!r}: {exc}") from exc
        out.setdefault(service.strip(), []).append(rule)
    return out
