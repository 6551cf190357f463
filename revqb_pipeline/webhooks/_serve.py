"""Run the receiver (uvicorn) and register it with Rev.io once it listens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import uvicorn

from revqb_pipeline.clients.revio import RevioClient
from revqb_pipeline.staging.events import EventStore
from revqb_pipeline.webhooks._app import QboHandler, build_app
from revqb_pipeline.webhooks._register import Registration, register


def receiver_url(base_url: str, secret: str) -> str:
    """The URL registered with Rev.io: ``<base>/revio/events?token=<secret>``."""
    return f"{base_url.rstrip('/')}/revio/events?token={quote(secret, safe='')}"


@dataclass
class Receiver:
    """A receiver listening in a background thread (``revqb webhooks serve`` runs one in the foreground)."""

    server: uvicorn.Server
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_receiver(
    store: EventStore,
    secret: str,
    events: dict[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    qbo_handler: QboHandler | None = None,
    timeout_s: float = 10.0,
) -> Receiver:
    """Start the receiver on ``host:port`` (0 = any free port) and wait until it accepts connections."""
    app = build_app(store, secret, events, qbo_handler)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="revqb-webhooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the webhook receiver did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1] if port == 0 else port
    return Receiver(server, thread, f"http://{host}:{bound}")


def serve(
    store: EventStore,
    secret: str,
    events: dict[str, str],
    *,
    host: str,
    port: int,
    public_url: str = "",
    revio: RevioClient | None = None,
    qbo_handler: QboHandler | None = None,
    on_registered: Callable[[Registration], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted; register with Rev.io first when ``revio`` is given."""
    receiver = start_receiver(store, secret, events, host=host, port=port, qbo_handler=qbo_handler)
    try:
        if revio is not None:
            reg = register(revio, receiver_url(public_url or receiver.base_url, secret), events)
            if on_registered is not None:
                on_registered(reg)
        while receiver.thread.is_alive():
            receiver.thread.join(timeout=1)
    finally:
        receiver.stop()
