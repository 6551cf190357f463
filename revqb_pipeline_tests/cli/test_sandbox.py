"""`revqb sandbox serve` runs both sandboxes until stopped and prints their URLs and credentials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from revqb_pipeline_tests._deployment import free_port

pytestmark = pytest.mark.slow


def test_sandbox_serve_prints_urls_and_answers() -> None:
    revio_port, qbo_port = free_port(), free_port()
    cmd = [
        sys.executable, "-m", "revqb_pipeline.cli", "sandbox", "serve",
        "--revio-port", str(revio_port), "--qbo-port", str(qbo_port), "--customers", "3",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ)
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            lines.append(line)
            if "Press Ctrl-C" in line or not line:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{revio_port}/v1" in text and f"http://127.0.0.1:{qbo_port}" in text
        assert "QBO_REFRESH_TOKEN" in text
        r = httpx.get(
            f"http://127.0.0.1:{revio_port}/v1/Customers",
            auth=("INTEGRATIONS@sandbox", "sandbox-password"),
            headers={"Ocp-Apim-Subscription-Key": "sandbox-apim-key"},
        )
        assert r.status_code == 200 and r.json()["ok"] is True
        d = httpx.get(f"http://127.0.0.1:{qbo_port}/.well-known/openid_configuration").json()
        assert d["token_endpoint"] == f"http://127.0.0.1:{qbo_port}/oauth2/v1/tokens/bearer"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
