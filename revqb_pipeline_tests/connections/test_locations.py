"""One code location per connection: each loads its own prefixed assets, per-realm pools, tagged jobs and
partitions; without a connections file the definitions are the single-company ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import importlib
name = sys.argv[1]
if name == "-":
    from revqb_pipeline.definitions import defs
else:
    defs = getattr(importlib.import_module("revqb_pipeline.connections.locations"), name)
repo = defs().get_repository_def()
from revqb_pipeline.defs.partitions import START_DATE, TIMEZONE
print(json.dumps({
    "keys": sorted(k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()),
    "checks": sorted(k.asset_key.to_user_string() for k in repo.asset_graph.asset_check_keys),
    "pools": sorted(
        {a.node_def.pool for a in repo.asset_graph.assets_defs if a.is_executable and a.node_def.pool}
    ),
    "tags": {j.name: j.tags for j in repo.get_all_jobs() if not j.name.startswith("__")},
    "sensors": sorted(s.name for s in repo.sensor_defs),
    "start": START_DATE, "tz": TIMEZONE,
}))
"""


def _entry(name: str, realm: str, code: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "revio": {
            "base_url": "http://127.0.0.1:9/v1",
            "client_code": code,
            "username": "api",
            "password": {"env": "X_PW"},
            "subscription_key": {"env": "X_KEY"},
        },
        "qbo": {
            "base_url": "http://127.0.0.1:9",
            "token_url": "http://127.0.0.1:9/t",
            "realm_id": realm,
            "client_id": "app",
            "client_secret": {"env": "X_SECRET"},
        },
        **extra,
    }


def _probe(name: str, env: dict[str, str], cwd: Path) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REVQB_", "REVIO_", "QBO_", "DAGSTER_"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, name],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_each_connection_is_its_own_location(tmp_path: Path) -> None:
    file = tmp_path / "connections.yaml"
    entries = [
        _entry("acme", "111", "ACME", db_url=f"sqlite:///{tmp_path / 'a.db'}", start_date="2025-06-01",
               timezone="America/New_York"),
        _entry("globex", "222", "ACME", db_url=f"sqlite:///{tmp_path / 'g.db'}", start_date="2025-01-01"),
    ]  # fmt: skip
    file.write_text(yaml.safe_dump({"connections": entries}), encoding="utf-8")
    env = {"REVQB_CONNECTIONS_FILE": str(file), "REVQB_DB_URL": f"sqlite:///{tmp_path / 'default.db'}"}
    acme, globex = _probe("acme", env, tmp_path), _probe("globex", env, tmp_path)
    single = _probe("-", {"REVQB_DB_URL": env["REVQB_DB_URL"], "REVQB_START_DATE": "2025-01-01"}, tmp_path)

    assert single["keys"] and all(
        k.split("/")[0] in {"revio", "staging", "quickbooks", "revenue"} for k in single["keys"]
    )
    owned = single["keys"]
    assert [k for k in acme["keys"] if k.startswith("acme/")] == [f"acme/{k}" for k in owned]
    assert [k for k in globex["keys"] if k.startswith("globex/")] == [f"globex/{k}" for k in owned]
    assert {k.split("/")[0] for k in acme["checks"]} == {"acme"}
    assert set(acme["pools"]) == {"qbo/111", "revio/ACME"}
    assert set(globex["pools"]) == {"qbo/222", "revio/ACME"}  # one tenant, one Rev.io pool
    assert set(single["pools"]) == {"qbo_api", "revio_api"}
    for name, loc in (("acme", acme), ("globex", globex)):
        tagged = {j: t for j, t in loc["tags"].items() if t.get("revqb/connection") == name}
        assert {"revqb_sync_job", "month_end_revenue_job", "customer_status_job", "revqb_dry_run_job"} <= set(
            tagged
        )
    assert not any("revqb/connection" in t for t in single["tags"].values())
    assert (acme["start"], acme["tz"]) == ("2025-06-01", "America/New_York")
    assert (globex["start"], globex["tz"]) == ("2025-01-01", "America/Chicago")
    assert acme["sensors"] == single["sensors"] == globex["sensors"]


def test_a_location_the_file_does_not_list_is_one_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "connections.yaml"
    entry = _entry("acme", "111", "ACME", db_url="sqlite:///a.db")
    file.write_text(yaml.safe_dump({"connections": [entry]}), encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REVQB_", "REVIO_", "QBO_"))}
    code = "import revqb_pipeline.connections.locations as m; m.initech"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "REVQB_CONNECTIONS_FILE": str(file)},
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "ConnectionsError: no connection named 'initech' (the file lists: acme)" in out.stderr
