"""Run the Rev.io and QuickBooks Online sandboxes together (tests, demo, ``revqb sandbox serve``)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from revqb_sandbox.faults import parse_fault_spec
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.qbo.app import create_app as create_qbo_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.revio.app import create_app as create_revio_app
from revqb_sandbox.revio.settings import RevioSandboxSettings
from revqb_sandbox.tls import TLSFiles, make_certificates

SERVE_LATENCY_S = 0.15
"""``serve``'s per-request latency: a serial client makes ~6 requests/s, under Intuit's 10/s and 500/min."""


@dataclass
class Sandboxes:
    """Both running sandboxes: base URLs, their settings, and the pipeline environment for them."""

    revio_url: str
    qbo_url: str
    revio: RevioSandboxSettings
    qbo: QBOSandboxSettings
    servers: list[ServedApp] = field(default_factory=list, repr=False)
    tls: TLSFiles | None = None

    def env(self) -> dict[str, str]:
        """Environment variables that point the revqb pipeline at these sandboxes."""
        return {
            "REVIO_BASE_URL": f"{self.revio_url}/v1",
            "REVIO_CLIENT_CODE": self.revio.client_code,
            "REVIO_USERNAME": self.revio.login,
            "REVIO_PASSWORD": self.revio.password,
            "REVIO_SUBSCRIPTION_KEY": self.revio.subscription_key,
            "QBO_BASE_URL": self.qbo_url,
            "QBO_TOKEN_URL": f"{self.qbo_url}/oauth2/v1/tokens/bearer",
            "QBO_REALM_ID": self.qbo.realm_id,
            "QBO_CLIENT_ID": self.qbo.client_id,
            "QBO_CLIENT_SECRET": self.qbo.client_secret,
            "QBO_REFRESH_TOKEN": self.qbo.initial_refresh_token,
        }

    @property
    def revio_app(self) -> Any:
        """The Rev.io Starlette app (``.state.sandbox`` for in-process inspection)."""
        return self.servers[0].app

    @property
    def qbo_app(self) -> Any:
        """The QBO Starlette app."""
        return self.servers[1].app


def build_settings(
    *,
    seed: int = 7,
    customers: int = 25,
    months: int = 1,
    start: date = date(2026, 1, 1),
    time_scale: float = 1.0,
    faults: str | None = None,
    qbo_empty: bool = False,
    bills: bool = True,
    qbo_latency_s: float = 0.0,
    qbo_sample_company: bool = False,
) -> tuple[RevioSandboxSettings, QBOSandboxSettings]:
    """Settings of both sandboxes from the shared knobs (``faults`` = ``"revio.kind=p,qbo.kind=#n"``)."""
    rules = parse_fault_spec(faults) if faults else {}
    unknown = set(rules) - {"revio", "qbo"}
    if unknown:
        raise ValueError(f"fault spec names unknown services {sorted(unknown)}; use revio.* or qbo.*")
    revio = RevioSandboxSettings(
        seed=seed,
        customers=customers,
        months=months,
        start=start,
        time_scale=time_scale,
        faults=faults if rules.get("revio") else None,
        bills=bills,
    )
    qbo = QBOSandboxSettings(
        seed=seed,
        time_scale=time_scale,
        empty=qbo_empty,
        faults=rules.get("qbo", []),
        request_latency_s=qbo_latency_s,
        sample_company=qbo_sample_company and not qbo_empty,
    )
    return revio, qbo


def start_sandboxes(
    revio: RevioSandboxSettings,
    qbo: QBOSandboxSettings,
    *,
    host: str = "127.0.0.1",
    revio_port: int = 0,
    qbo_port: int = 0,
    tls: TLSFiles | None = None,
) -> Sandboxes:
    """Start both apps (port 0 = a free port; ``tls``: HTTPS); call ``stop_sandboxes`` when done."""
    revio_srv = serve_app(create_revio_app(revio), host=host, port=revio_port, tls=tls)
    try:
        qbo_srv = serve_app(create_qbo_app(qbo), host=host, port=qbo_port, tls=tls)
    except BaseException:
        revio_srv.stop()
        raise
    return Sandboxes(revio_srv.url, qbo_srv.url, revio, qbo, [revio_srv, qbo_srv], tls)


def stop_sandboxes(sb: Sandboxes) -> None:
    """Stop both servers (and the Rev.io webhook worker)."""
    for srv in sb.servers:
        state = getattr(getattr(srv.app, "state", None), "sandbox", None)
        hub = getattr(state, "hub", None)
        if hub is not None and hasattr(hub, "close"):
            hub.close()
        srv.stop()


@contextmanager
def sandboxes(
    *,
    seed: int = 7,
    customers: int = 25,
    months: int = 1,
    start: date = date(2026, 1, 1),
    time_scale: float = 1.0,
    faults: str | None = None,
    qbo_empty: bool = False,
    bills: bool = True,
    revio_settings: RevioSandboxSettings | None = None,
    qbo_settings: QBOSandboxSettings | None = None,
) -> Iterator[Sandboxes]:
    """Run both sandboxes on free loopback ports for the duration of the ``with`` block.

    ``revio_settings`` / ``qbo_settings`` replace the settings built from the other arguments.
    """
    revio, qbo = build_settings(
        seed=seed,
        customers=customers,
        months=months,
        start=start,
        time_scale=time_scale,
        faults=faults,
        qbo_empty=qbo_empty,
        bills=bills,
    )
    sb = start_sandboxes(revio_settings or revio, qbo_settings or qbo)
    try:
        yield sb
    finally:
        stop_sandboxes(sb)


def describe(sb: Sandboxes) -> str:
    """Human-readable URLs, credentials and ``export`` lines."""
    lines = [
        f"Rev.io sandbox: {sb.revio_url}/v1   (admin: {sb.revio_url}/_admin/summary)",
        f"  Basic auth {sb.revio.login}@{sb.revio.client_code} / {sb.revio.password}, "
        f"Ocp-Apim-Subscription-Key: {sb.revio.subscription_key}",
        f"  dataset: seed={sb.revio.seed} customers={sb.revio.customers} months={sb.revio.months} "
        f"start={sb.revio.start}",
        f"QBO sandbox:    {sb.qbo_url}   (token URL {sb.qbo_url}/oauth2/v1/tokens/bearer)",
        f"  realm {sb.qbo.realm_id}, client {sb.qbo.client_id} / {sb.qbo.client_secret}, "
        f"refresh token {sb.qbo.initial_refresh_token}",
        f"  latency {sb.qbo.request_latency_s} s/request, limits {sb.qbo.per_second}/s "
        f"{sb.qbo.per_minute}/min {sb.qbo.max_concurrent} concurrent; "
        f"company: {_company(sb.qbo)}",
        *([f"TLS: clients trust the CA {sb.tls.ca} (REQUESTS_CA_BUNDLE)"] if sb.tls else []),
        "",
        "Environment for the pipeline:",
        *(f"export {k}={v!r}" for k, v in sb.env().items()),
    ]
    return "\n".join(lines)


def _company(qbo: QBOSandboxSettings) -> str:
    if qbo.empty:
        return "empty (reference data only)"
    return "Intuit-style sample company" if qbo.sample_company else "revqb test seed"


def serve_settings(
    *,
    seed: int = 7,
    customers: int = 25,
    time_scale: float = 1.0,
    faults: str | None = None,
    months: int = 1,
    latency: float = SERVE_LATENCY_S,
    empty: bool = False,
) -> tuple[RevioSandboxSettings, QBOSandboxSettings]:
    """``serve``'s settings: realistic latency and an Intuit-style sample company unless ``empty``."""
    return build_settings(
        seed=seed,
        customers=customers,
        months=months,
        time_scale=time_scale,
        faults=faults,
        qbo_empty=empty,
        qbo_latency_s=latency,
        qbo_sample_company=True,
    )


def serve(
    host: str = "127.0.0.1",
    revio_port: int = 8081,
    qbo_port: int = 8082,
    seed: int = 7,
    customers: int = 25,
    time_scale: float = 1.0,
    faults: str | None = None,
    months: int = 1,
    *,
    latency: float = SERVE_LATENCY_S,
    empty: bool = False,
    tls_dir: Path | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run both sandboxes until Ctrl-C (or ``stop`` is set), after printing URLs and credentials.

    ``tls_dir``: serve HTTPS with a CA and certificate generated there (the CA path is printed).
    """
    revio, qbo = serve_settings(
        seed=seed, customers=customers, months=months, time_scale=time_scale, faults=faults,
        latency=latency, empty=empty,
    )  # fmt: skip
    tls = make_certificates(tls_dir, (host, "localhost")) if tls_dir is not None else None
    sb = start_sandboxes(revio, qbo, host=host, revio_port=revio_port, qbo_port=qbo_port, tls=tls)
    print(describe(sb), flush=True)
    print("\nPress Ctrl-C to stop.", flush=True)
    stop = stop or threading.Event()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop_sandboxes(sb)
