"""``revqb webhooks serve`` as a user runs it: one clear line without a secret; with one, it registers
with the Rev.io sandbox and stores a notification sent to the registered URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_pipeline_tests._deployment import free_port
from revqb_sandbox.servers import Sandboxes, sandboxes

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandboxes]:
    with sandboxes(customers=2) as s:
        yield s


def env_for(sb: Sandboxes, tmp_path: Path, **extra: str) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    return {
        **env,
        "HOME": str(tmp_path),
        **sb.env(),
        "REVQB_DB_URL": f"sqlite:///{tmp_path / 'r.db'}",
        **extra,
    }


def test_without_a_secret_it_is_one_line_and_exit_2(sb: Sandboxes, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "revqb_pipeline.cli", "webhooks", "serve", "--port", "0"],
        env=env_for(sb, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "REVQB_WEBHOOK_SECRET" in line]
    assert len(lines) == 1 and "Traceback" not in proc.stderr


def test_serve_registers_and_stores_notifications(sb: Sandboxes, tmp_path: Path) -> None:
    port = free_port()
    env = env_for(sb, tmp_path, REVQB_WEBHOOK_SECRET="cli-secret")
    proc = subprocess.Popen(
        [sys.executable, "-m", "revqb_pipeline.cli", "webhooks", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while not any("webhook receiver" in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, (
                lines,
                proc.stderr and proc.stderr.read(),
            )
            lines.append(proc.stdout.readline())
        receivers = httpx.get(f"{sb.revio_url}/_admin/webhooks").json()["receivers"]
        url = f"http://127.0.0.1:{port}/revio/events?token=cli-secret"
        assert [(r["url"], r["active"]) for r in receivers] == [(url, True)]
        body = {
            "event_id": "cli-1",
            "event_type": "BILL_CREATED",
            "created_date": "2026-01-01",
            "object_id": 5,
        }
        assert httpx.post(url, content=json.dumps(body)).status_code == 202
        assert httpx.post(url.replace("cli-secret", "x"), content=json.dumps(body)).status_code == 401
        health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
        assert health["events"] == {"new": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
