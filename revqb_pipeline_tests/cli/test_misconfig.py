"""Each misconfiguration of docs/operations.md "Misconfiguration", as a new user meets it: `revqb check` and
`revqb sync` as subprocesses against the sandboxes exit 2 within 15 s with one line naming what to fix, and
no traceback. The rows of the table are the ``CASES`` below."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_sandbox.servers import Sandboxes, sandboxes

pytestmark = pytest.mark.slow

BAD_MAPPING = """\
version: 1
accounts:
  Sales: {type: Income}
items: {}
products:
  default_item: Sales
taxes:
  rules:
    - {tax_class_id: 1, level: bogus}
"""


def closed_port() -> int:
    """A loopback port nobody listens on (connections are refused at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandboxes]:
    with sandboxes(seed=3, customers=2) as running:
        yield running


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers: only timeouts end a call."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def base_env(tmp_path: Path) -> dict[str, str]:
    """A clean process environment: no REVQB_/REVIO_/QBO_ variables, no DAGSTER_HOME."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["HOME"] = str(tmp_path)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str, float]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "revqb_pipeline.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started


def sandbox_env(sb: Sandboxes, tmp_path: Path) -> dict[str, str]:
    return {**base_env(tmp_path), **sb.env(), "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}"}


def revoked_token(sb: Sandboxes) -> str:
    """A refresh token obtained from the sandbox, then revoked (as after disconnecting the app)."""
    token_url = f"{sb.qbo_url}/oauth2/v1/tokens/bearer"
    auth = (sb.qbo.client_id, sb.qbo.client_secret)
    code = httpx.post(f"{sb.qbo_url}/_admin/oauth/authorize", json={"realm_id": sb.qbo.realm_id}).json()[
        "code"
    ]
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": sb.qbo.redirect_uri}
    token = httpx.post(token_url, data=grant, auth=auth).json()["refresh_token"]
    r = httpx.post(f"{sb.qbo_url}/oauth2/v1/tokens/revoke", json={"token": token}, auth=auth)
    assert r.status_code == 200, r.text
    return token


# case name -> (env changes given the sandbox env; "-" removes), the variable / file the message names
CASES: dict[str, tuple[dict[str, str], str]] = {
    "missing variable": ({"REVIO_PASSWORD": "-"}, "REVIO_PASSWORD: not set"),
    "wrong Rev.io password": ({"REVIO_PASSWORD": "wrong"}, "REVIO_PASSWORD: Rev.io rejected the login"),
    "wrong APIM key": ({"REVIO_SUBSCRIPTION_KEY": "wrong"}, "REVIO_SUBSCRIPTION_KEY: Rev.io rejected"),
    "unreachable Rev.io": (
        {"REVIO_BASE_URL": "http://127.0.0.1:{closed}/v1"},
        "REVIO_BASE_URL: cannot reach",
    ),
    "Rev.io host never answers": (
        {"REVIO_BASE_URL": "http://127.0.0.1:{blackhole}/v1"},
        "REVIO_BASE_URL: cannot reach",
    ),
    "wrong QBO client secret": ({"QBO_CLIENT_SECRET": "wrong"}, "QBO_CLIENT_SECRET: the QBO token endpoint"),
    "revoked refresh token": ({"QBO_REFRESH_TOKEN": "{revoked}"}, "QBO_REFRESH_TOKEN: QuickBooks rejected"),
    "unknown realm": ({"QBO_REALM_ID": "123145999999999"}, "QBO_REALM_ID: QuickBooks refused company"),
    "unreachable QBO": (
        {"QBO_BASE_URL": "http://127.0.0.1:{closed}", "QBO_TOKEN_URL": "http://127.0.0.1:{closed}/t"},
        "QBO_TOKEN_URL: cannot reach",
    ),
    "unreachable PostgreSQL": (
        {"REVQB_DB_URL": "postgresql+psycopg2://revqb:s3cret@127.0.0.1:{closed}/revqb"},
        "REVQB_DB_URL: cannot connect",
    ),
    "PostgreSQL host never answers": (
        {"REVQB_DB_URL": "postgresql+psycopg2://revqb:s3cret@127.0.0.1:{blackhole}/revqb"},
        "REVQB_DB_URL: cannot connect",
    ),
    "bad mapping file": ({"REVQB_MAPPING_FILE": "{mapping}"}, "{mapping}:9: taxes.rules[0].level"),
    "mapping file not YAML": ({"REVQB_MAPPING_FILE": "{notyaml}"}, "{notyaml}:4: not valid YAML"),
    "bad token key": ({"REVQB_TOKEN_KEY": "not-a-key"}, "REVQB_TOKEN_KEY: the key is not a Fernet key"),
    "malformed number": ({"QBO_THROTTLE_BACKOFF_S": "soon"}, "QBO_THROTTLE_BACKOFF_S: Input should be"),
}


@pytest.mark.parametrize("command", [["check"], ["sync", "--partition", "2026-01-01"]], ids=["check", "sync"])
@pytest.mark.parametrize("case", list(CASES))
def test_misconfiguration_is_one_line_exit_2_within_15s(
    sb: Sandboxes, blackhole: int, tmp_path: Path, case: str, command: list[str]
) -> None:
    changes, expected = CASES[case]
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(BAD_MAPPING)
    notyaml = tmp_path / "notyaml.yaml"
    notyaml.write_text("version: 1\naccounts:\n  - [unclosed\n")
    values = {
        "closed": str(closed_port()),
        "blackhole": str(blackhole),
        "mapping": str(mapping),
        "notyaml": str(notyaml),
    }
    if "{revoked}" in str(changes):
        values["revoked"] = revoked_token(sb)
    env = sandbox_env(sb, tmp_path)
    for key, value in changes.items():
        if value == "-":
            env.pop(key, None)
        else:
            env[key] = value.format(**values)
    code, out, err, seconds = run_cli(command, env, tmp_path)
    shown = err if command[0] != "check" else out
    assert code == 2, out + err
    assert expected.format(**values) in shown, out + err
    assert "Traceback" not in out + err
    assert seconds < 15, seconds
    line = next(ln for ln in shown.splitlines() if expected.format(**values) in ln)
    assert len(line) < 400
    assert "s3cret" not in out + err  # the DB password is never printed
    if command[0] == "sync":
        assert "partition" not in out  # nothing ran


def test_no_environment_names_every_missing_variable_and_never_calls_production(
    tmp_path: Path,
) -> None:
    env = base_env(tmp_path)
    for command in (["check"], ["sync"], ["reconcile"], ["dunning"], ["retry"]):
        code, out, err, seconds = run_cli(command, env, tmp_path)
        shown = out if command == ["check"] else err
        assert code == 2, (command, out, err)
        assert "Traceback" not in out + err
        assert seconds < 15
        for var in ("REVIO_BASE_URL", "REVIO_PASSWORD", "QBO_CLIENT_SECRET", "QBO_REALM_ID"):
            assert f"{var}: not set" in shown, (command, shown)
    assert not (tmp_path / ".revqb" / "revqb.db").exists()  # no empty ledger was created


def test_status_and_reconcile_never_create_an_empty_ledger(sb: Sandboxes, tmp_path: Path) -> None:
    env = sandbox_env(sb, tmp_path)
    for command in (["status"], ["reconcile"], ["retry", "--dry-run"]):
        code, out, err, _ = run_cli(command, env, tmp_path)
        assert code == 2, (command, out, err)
        assert "REVQB_DB_URL: no staging database at" in err
        assert "Traceback" not in out + err
    assert not (tmp_path / "revqb.db").exists()


def test_check_passes_with_settings_from_dotenv_and_the_env_wins(sb: Sandboxes, tmp_path: Path) -> None:
    env = sandbox_env(sb, tmp_path)
    dotenv = "\n".join(f"{k}={v}" for k, v in env.items() if k.startswith(("REVIO_", "QBO_", "REVQB_")))
    (tmp_path / ".env").write_text("# settings for revqb\n" + dotenv + "\n")
    code, out, err, seconds = run_cli(["check"], base_env(tmp_path), tmp_path)
    assert code == 0, out + err
    for line in ("ok    Rev.io:", "ok    QuickBooks Online: company", "ok    staging database:"):
        assert line in out, out
    assert seconds < 15
    # the Dagster run of `revqb sync` (EnvVar resources) gets its settings from .env too
    code, out, err, _ = run_cli(
        ["sync", "--partition", "2026-01-01", "--verbose"], base_env(tmp_path), tmp_path
    )
    assert code == 0, out[-2000:] + err[-2000:]
    assert "quickbooks/invoices" in out and "created=" in out, out
    # a real environment variable wins over .env
    code, out, err, _ = run_cli(["check"], {**base_env(tmp_path), "REVIO_PASSWORD": "wrong"}, tmp_path)
    assert code == 2 and "REVIO_PASSWORD: Rev.io rejected the login" in out, out
