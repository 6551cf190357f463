"""From a fresh copy of the repository with no DAGSTER_HOME and no revqb settings, `dg check defs`,
`dg list defs` and `dg dev` work on the top-level dagster.yaml: SQLite under the copy's .revqb/dagster_home,
the queued run coordinator, one slot per pool."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_pipeline_tests._deployment import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).with_name("dg")
#: Asset keys the listing must include: one per stage of the graph.
EXPECTED_ASSETS = {"revio/bills", "staging/bills", "quickbooks/invoice_payloads", "quickbooks/invoices"}


def _fresh_copy(dest: Path) -> Path:
    """What a clone holds: the files git tracks or would track (nothing ignored: no .venv, .revqb, .env)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for rel in filter(None, (name.decode() for name in listed)):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _clean_env() -> dict[str, str]:
    """The environment of a new user: no DAGSTER_HOME, no DAGSTER_PG_*, no revqb settings."""
    prefixes = ("DAGSTER_", "REVQB_", "REVIO_", "QBO_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    if not DG.exists():
        pytest.fail(f"{DG} is missing: dagster-dg-cli belongs to the dev extras (make install)")
    return _fresh_copy(tmp_path_factory.mktemp("clone"))


def _dg(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DG), *args], cwd=clone, env=_clean_env(), capture_output=True, text=True, timeout=300
    )


def test_dg_check_and_list_defs_from_a_fresh_clone(clone: Path) -> None:
    check = _dg(clone, "check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully." in check.stdout
    assert "DAGSTER_PG" not in check.stdout + check.stderr

    listed = _dg(clone, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert EXPECTED_ASSETS <= keys, sorted(keys)
    assert defs["jobs"] and defs["schedules"] and defs["sensors"] and defs["asset_checks"]

    # The classic entry point reads the same instance (it is superseded by dg, so it warns about that).
    validate = subprocess.run(
        [str(DG.with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=clone,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "All code locations passed validation." in validate.stderr + validate.stdout

    # The instance is the top-level dagster.yaml's, relative to the clone; no temporary home is left.
    assert (clone / ".revqb" / "dagster_home" / "history" / "runs.db").exists()
    assert not list(clone.glob(".tmp_dagster_home_*"))


@pytest.fixture
def dg_dev(clone: Path) -> Iterator[str]:
    port = free_port()
    log = (clone / "dg-dev.log").open("w")
    proc = subprocess.Popen(
        [str(DG), "dev", "-p", str(port), "-h", "127.0.0.1"],
        cwd=clone,
        env=_clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


QUERY = """{
  instance { info runQueuingSupported poolConfig { defaultPoolLimit poolGranularity }
             daemonHealth { allDaemonStatuses { daemonType healthy required } } }
  workspaceOrError { ... on Workspace { locationEntries { name
      locationOrLoadError { __typename ... on RepositoryLocation { repositories { name } } } } } }
}"""


def _query(url: str) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": QUERY}, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def test_dg_dev_starts_on_the_local_instance(dg_dev: str, clone: Path) -> None:
    deadline = time.monotonic() + 120
    data = None
    while time.monotonic() < deadline:
        try:
            data = _query(dg_dev)
        except httpx.HTTPError:
            time.sleep(1)
            continue
        daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        required = [d for d in daemons if d["required"]]
        if required and all(d["healthy"] for d in required):
            break
        time.sleep(1)
    log = (clone / "dg-dev.log").read_text()
    assert data is not None, log
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "revqb_pipeline"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", log
    instance = data["instance"]
    assert instance["runQueuingSupported"] is True
    assert instance["poolConfig"] == {"defaultPoolLimit": 1, "poolGranularity": "op"}
    assert "SqliteRunStorage" in instance["info"] and "base_dir: .revqb/dagster_home" in instance["info"]
    unhealthy = [
        d["daemonType"]
        for d in instance["daemonHealth"]["allDaemonStatuses"]
        if d["required"] and not d["healthy"]
    ]
    assert not unhealthy, log
    assert "DAGSTER_PG" not in log
