"""Preflight: one line per problem naming what to fix, all of it under one deadline even when every host is
silent, the mapping file's bad keys with their YAML lines, and a QBO check that keeps the rotated token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from revqb_pipeline.mapping.config import MappingConfigError, load_mapping
from revqb_pipeline.preflight import PreflightFailed, Problem, ensure_ready, preflight, run_checks
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.runtime import build_qbo, engine_for
from revqb_sandbox.servers import Sandboxes, sandboxes


def test_problem_and_failure_are_one_line_each() -> None:
    p = Problem("REVIO_PASSWORD", "not set")
    assert str(p) == "REVIO_PASSWORD: not set"
    exc = PreflightFailed([p, Problem("QBO_REALM_ID", "not set", transient=True)])
    assert str(exc).splitlines() == ["REVIO_PASSWORD: not set", "QBO_REALM_ID: not set"]
    assert not exc.transient
    assert PreflightFailed([Problem("QBO_BASE_URL", "503", transient=True)]).transient


def test_mapping_errors_point_at_the_yaml_line(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\n"
        "accounts:\n"
        "  Sales: {type: Income}\n"
        "items: {}\n"
        "products:\n"
        "  default_item: Sales\n"
        "  colour: blue\n"
        "taxes:\n"
        "  rules:\n"
        "    - tax_class_id: 1\n"
        "      level: bogus\n"
    )
    with pytest.raises(MappingConfigError) as exc:
        load_mapping(path)
    issues = dict((msg.split(":", 1)[0], where) for where, msg in exc.value.issues)
    assert issues["products.colour"] == f"{path}:7"
    assert issues["taxes.rules[0].level"] == f"{path}:11"
    assert issues["credits"] == str(path)  # a missing section has no line
    problems = preflight(
        RevqbSettings.from_env({"REVQB_MAPPING_FILE": str(path)}),
        need_revio=False,
        need_qbo=False,
        need_mapping=True,
    )
    assert (
        Problem(f"{path}:11", "taxes.rules[0].level: Input should be 'federal', 'state' or 'local'")
        in problems
    )


def test_bad_token_key_and_urls_are_named(tmp_path: Path) -> None:
    settings = RevqbSettings.from_env(
        {
            "REVQB_TOKEN_KEY": "nope",
            "REVIO_BASE_URL": "api.revioapi.com/v1",
            "REVQB_DB_URL": f"sqlite:///{tmp_path / 'x.db'}",
        }
    )
    problems = {p.setting: p.message for p in preflight(settings, need_qbo=False, need_mapping=False)}
    assert problems["REVQB_TOKEN_KEY"].startswith("the key is not a Fernet key")
    assert problems["REVIO_BASE_URL"] == "'api.revioapi.com/v1' is not an http(s) URL"
    assert not (tmp_path / "x.db").exists()  # checking never creates the ledger file


@pytest.fixture
def sb() -> Iterator[Sandboxes]:
    with sandboxes(seed=3, customers=2) as running:
        yield running


@pytest.mark.slow
def test_every_host_silent_at_once_still_answers_within_15s(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    port = silent.getsockname()[1]
    try:
        env = {
            "REVIO_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "REVIO_CLIENT_CODE": "c",
            "REVIO_USERNAME": "u",
            "REVIO_PASSWORD": "p",
            "REVIO_SUBSCRIPTION_KEY": "k",
            "QBO_BASE_URL": f"http://127.0.0.1:{port}",
            "QBO_TOKEN_URL": f"http://127.0.0.1:{port}/token",
            "QBO_REALM_ID": "1",
            "QBO_CLIENT_ID": "i",
            "QBO_CLIENT_SECRET": "s",
            "QBO_REFRESH_TOKEN": "r",
            "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
        }
        started = time.monotonic()
        checks = run_checks(RevqbSettings.from_env(env))
        elapsed = time.monotonic() - started
        problems = {p.setting for c in checks for p in c.problems}
        assert {"REVIO_BASE_URL", "QBO_TOKEN_URL"} <= problems, checks
        assert elapsed < 15, elapsed
        # and the same through the CLI, with a silent PostgreSQL too (QBO is then skipped: no token store)
        env["REVQB_DB_URL"] = f"postgresql+psycopg2://u:pw@127.0.0.1:{port}/db"
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH")}
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "revqb_pipeline.cli", "sync"],
            env={**keep, **env},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - started < 15
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert [ln.split(":", 1)[0] for ln in lines] == ["REVQB_DB_URL", "REVIO_BASE_URL"], lines
    finally:
        silent.close()


@pytest.mark.slow
def test_qbo_check_keeps_the_rotated_token_and_passes_again(sb: Sandboxes, tmp_path: Path) -> None:
    settings = RevqbSettings.from_env({**sb.env(), "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}"})
    ensure_ready(settings)
    store = build_qbo(settings, engine_for(settings.db_url)).oauth._store
    first = store.load(settings.qbo_realm_id)
    assert first is not None and first.refresh_token != settings.qbo_refresh_token  # rotated, kept
    ensure_ready(settings)  # a run's check reuses the valid access token: no rotation per run or step
    again = store.load(settings.qbo_realm_id)
    assert again is not None and again.refresh_token == first.refresh_token
    ensure_ready(settings, verify_refresh=True)  # `revqb check` proves the refresh: rotated and kept
    second = store.load(settings.qbo_realm_id)
    assert second is not None and second.refresh_token != first.refresh_token
    raw = (tmp_path / "revqb.db").read_bytes()
    assert second.refresh_token.encode() not in raw  # encrypted at rest by the token store


@pytest.mark.slow
def test_a_503_burst_during_the_check_is_asked_again(sb: Sandboxes, tmp_path: Path) -> None:
    """A service answering 5xx / 429 for a moment is asked again (0.5 s, 1 s): e.g. the demo under faults."""
    import httpx

    rule = {"kind": "http_503", "count": 2, "path_regex": "companyinfo", "method": "GET"}
    httpx.post(f"{sb.qbo_url}/_admin/faults", json=[rule]).raise_for_status()
    revio_rule = {"kind": "http_503", "count": 1, "path_regex": "Customers", "method": "GET"}
    httpx.post(f"{sb.revio_url}/_admin/faults", json={"rules": [revio_rule]}).raise_for_status()
    settings = RevqbSettings.from_env({**sb.env(), "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}"})
    started = time.monotonic()
    checks = run_checks(settings)
    assert all(c.ok for c in checks), checks
    assert time.monotonic() - started < 15
    assert httpx.get(f"{sb.qbo_url}/_admin/stats").json()["faults_injected"] == {"http_503": 2}
    assert httpx.get(f"{sb.revio_url}/_admin/faults").json()["injected"] == {"http_503": 1}
