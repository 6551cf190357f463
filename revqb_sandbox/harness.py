"""Run ASGI apps on loopback in background threads (for tests, the demo and ``revqb sandbox serve``)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from revqb_sandbox.tls import TLSFiles


class _HideInjectedCuts(logging.Filter):
    """Injected connection cuts are the point of a fault test, not a server error worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return type(exc).__name__ != "ConnectionCut"


logging.getLogger("uvicorn.error").addFilter(_HideInjectedCuts())


@dataclass
class ServedApp:
    """One app served on ``url`` until :meth:`stop`."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = field(repr=False, default=None)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve_app(app: Any, host: str = "127.0.0.1", port: int = 0, tls: TLSFiles | None = None) -> ServedApp:
    """Start ``app`` with uvicorn on ``host:port`` (0 = a free port) and wait until it accepts connections.

    With ``tls`` the server speaks HTTPS with ``tls.cert``/``tls.key`` (clients trust ``tls.ca``).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound_port = sock.getsockname()[1]
    ssl = {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)} if tls else {}
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30, **ssl
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("sandbox server did not start")
        time.sleep(0.01)
    scheme = "https" if tls else "http"
    return ServedApp(url=f"{scheme}://{host}:{bound_port}", server=server, thread=thread, app=app)
