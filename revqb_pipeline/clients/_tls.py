"""One TLS context per process for every HTTP client (building one loads the CA bundle: ~40 ms)."""

from __future__ import annotations

import ssl
import threading

import httpx

_lock = threading.Lock()
_context: ssl.SSLContext | None = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process's TLS context, as httpx builds it by default (certifi, ``SSL_CERT_FILE``/``_DIR``)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context


def new_http_client(timeout: float, connect_timeout: float) -> httpx.Client:
    """An ``httpx.Client`` with these timeouts over the shared TLS context."""
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), verify=shared_ssl_context())


def forget_ssl_context() -> None:
    """Drop the shared context (the next client builds a new one; for benchmarks and tests)."""
    global _context
    with _lock:
        _context = None
