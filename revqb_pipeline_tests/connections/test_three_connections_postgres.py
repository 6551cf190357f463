"""Three companies on one Dagster deployment (issue 13), on PostgreSQL with the real daemon and the queued
coordinator: one code server per connection (``connections/locations.py``), the webserver and the daemon
on deploy/dagster.yaml. Three QBO realms in one QBO sandbox, two Rev.io tenants (two Rev.io sandboxes;
``acme`` and ``globex`` share tenant one). Each connection has its own PostgreSQL schema (ledger, tokens,
quarantine); the shared rate limits live in schema ``limits``.

The three sync runs execute in parallel; each healthy realm ends with 0 429s and peak concurrency <= 10
(counted by the sandbox) and reconciles to the cent; ``initech``'s refresh token was revoked, so only its
run fails, and one alert names it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
import yaml

from revqb_pipeline import connections, entities
from revqb_pipeline.cli import activity_dates
from revqb_pipeline.connections.config import load_connections
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests._deployment import (
    BIN,
    ROOT,
    TERMINAL,
    free_port,
    fresh_database,
    gql,
    grpc_healthy,
    instance_env,
    logs,
    processes,
    wait_until,
)
from revqb_pipeline_tests._postgres import PG_URL
from revqb_pipeline_tests._receivers import SlackReceiver
from revqb_sandbox.harness import ServedApp, serve_app
from revqb_sandbox.qbo.app import create_app as create_qbo_app
from revqb_sandbox.qbo.settings import QBOSandboxSettings
from revqb_sandbox.revio.app import create_app as create_revio_app
from revqb_sandbox.revio.settings import RevioSandboxSettings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

START = date(2026, 1, 1)
#: connection -> (Rev.io tenant index, QBO realm)
COMPANIES = {"acme": (0, "4620816365001"), "globex": (0, "4620816365002"), "initech": (1, "4620816365003")}
REVOKED = "initech"


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("revqb_conn", (*COMPANIES, "limits")) as db:
        yield db


def _schema_url(db: str, schema: str) -> str:
    return PG_URL.rsplit("/", 1)[0] + f"/{db}?options=-csearch_path%3D{schema}"


def _refresh_token(qbo: ServedApp, settings: QBOSandboxSettings, realm: str) -> str:
    """Connect the app to ``realm`` as a user would (authorization code -> refresh token)."""
    code = httpx.post(f"{qbo.url}/_admin/oauth/authorize", json={"realm_id": realm}).json()["code"]
    response = httpx.post(
        f"{qbo.url}/oauth2/v1/tokens/bearer",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": settings.redirect_uri},
        auth=(settings.client_id, settings.client_secret),
    )
    response.raise_for_status()
    return response.json()["refresh_token"]


def _revoke(qbo: ServedApp, settings: QBOSandboxSettings, token: str) -> None:
    response = httpx.post(
        f"{qbo.url}/oauth2/v1/tokens/revoke",
        json={"token": token},
        auth=(settings.client_id, settings.client_secret),
    )
    response.raise_for_status()


@pytest.fixture
def world(tmp_path: Path, database: str) -> Iterator[dict]:
    """The sandboxes, the connections file and its environment."""
    qbo_settings = QBOSandboxSettings(seed=5)
    tenants = [
        RevioSandboxSettings(seed=21, customers=5, months=1, start=START, client_code="tenant_one"),
        RevioSandboxSettings(seed=22, customers=5, months=1, start=START, client_code="tenant_two"),
    ]
    servers = [serve_app(create_revio_app(t)) for t in tenants]
    qbo = serve_app(create_qbo_app(qbo_settings))
    servers.append(qbo)
    slack = SlackReceiver()
    try:
        env: dict[str, str] = {"QBO_APP_SECRET": qbo_settings.client_secret}
        entries = []
        for name, (tenant, realm) in COMPANIES.items():
            up = name.upper()
            token = _refresh_token(qbo, qbo_settings, realm)
            if name == REVOKED:
                _revoke(qbo, qbo_settings, token)
            env |= {
                f"{up}_REVIO_PASSWORD": tenants[tenant].password,
                f"{up}_REVIO_KEY": tenants[tenant].subscription_key,
                f"{up}_QBO_REFRESH_TOKEN": token,
            }
            entries.append(
                {
                    "name": name,
                    "revio": {
                        "base_url": f"{servers[tenant].url}/v1",
                        "client_code": tenants[tenant].client_code,
                        "username": tenants[tenant].login,
                        "password": {"env": f"{up}_REVIO_PASSWORD"},
                        "subscription_key": {"env": f"{up}_REVIO_KEY"},
                    },
                    "qbo": {
                        "base_url": qbo.url,
                        "token_url": f"{qbo.url}/oauth2/v1/tokens/bearer",
                        "realm_id": realm,
                        "client_id": qbo_settings.client_id,
                        "client_secret": {"env": "QBO_APP_SECRET"},
                        "refresh_token": {"env": f"{up}_QBO_REFRESH_TOKEN"},
                        "throttle_backoff_s": 0.5,
                    },
                    "db_url": _schema_url(database, name),
                    "start_date": START.isoformat(),
                }
            )
        path = tmp_path / "connections.yaml"
        path.write_text(
            yaml.safe_dump({"connections": entries, "limits_db_url": _schema_url(database, "limits")}),
            encoding="utf-8",
        )
        env |= {
            "REVQB_CONNECTIONS_FILE": str(path),
            "REVQB_SLACK_WEBHOOK_URL": slack.url,
            "REVQB_DAGSTER_URL": "http://dagster.example",
        }
        yield {"env": env, "file": path, "qbo": qbo, "slack": slack, "tenants": servers[:2]}
    finally:
        for srv in servers:
            srv.stop()
        slack.served.stop()


@pytest.fixture
def deployment(tmp_path: Path, database: str, world: dict) -> Iterator[str]:
    """One code server per connection, the webserver and the daemon on deploy/dagster.yaml (PostgreSQL)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "deploy" / "dagster.yaml").read_text())
    env = instance_env(home, database, world["env"])
    ports = {name: free_port() for name in COMPANIES}
    (home / "workspace.yaml").write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {"grpc_server": {"host": "127.0.0.1", "port": p, "location_name": n}}
                    for n, p in ports.items()
                ]
            }
        )
    )
    ui_port = free_port()
    commands: dict[str, list[str]] = {
        f"code-{name}": [
            *(str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(port)),
            *("-m", "revqb_pipeline.connections.locations", "-a", name, "--location-name", name),
        ]
        for name, port in ports.items()
    }
    workspace = str(home / "workspace.yaml")
    with processes(tmp_path, ROOT, env) as start:
        for name, cmd in commands.items():
            start(name, cmd)
        for port in ports.values():
            wait_until(lambda p=port: grpc_healthy(p, env), tmp_path, "code server")
        start(
            "webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(ui_port), "-w", workspace],
        )
        start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
        yield f"http://127.0.0.1:{ui_port}"


STATUS = """{
  instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } }
  workspaceOrError { ... on Workspace { locationEntries { name
      locationOrLoadError { __typename ... on PythonError { message } } } } }
}"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
  ... on InvalidSubsetError { message } ... on RunConfigValidationInvalid { errors { message } } } }"""
START_SENSOR = """mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
  ... on Sensor { sensorState { status } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime
  tags { key value } } } }"""


def _ready(url: str) -> bool:
    try:
        data = gql(url, STATUS)
    except (httpx.HTTPError, AssertionError):
        return False
    entries = data["workspaceOrError"]["locationEntries"]
    errors = [e for e in entries if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"]
    assert not errors, errors
    daemons = [d for d in data["instance"]["daemonHealth"]["allDaemonStatuses"] if d["required"]]
    loaded = [
        e for e in entries if (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
    ]
    return len(loaded) == len(COMPANIES) and all(d["healthy"] for d in daemons)


def _selector(location: str, **name: str) -> dict[str, str]:
    return {"repositoryLocationName": location, "repositoryName": "__repository__", **name}


def test_three_connections_sync_in_parallel_and_a_revoked_token_fails_only_its_own(
    deployment: str, world: dict, tmp_path: Path
) -> None:
    url = deployment
    wait_until(lambda: _ready(url), tmp_path, "the deployment did not come up")
    env = world["env"]
    file = load_connections(world["file"])
    settings = {name: connections.settings_for(name, environ=env) for name in COMPANIES}

    for name in COMPANIES:  # the run failure alerts of each company (automation stays off otherwise)
        started = gql(url, START_SENSOR, {"s": _selector(name, sensorName="run_failure_alerts")})[
            "startSensor"
        ]
        assert started["__typename"] == "Sensor", started

    run_ids: dict[str, str] = {}
    for name in COMPANIES:
        days = activity_dates(settings[name], START, date(2026, 12, 31))
        assert days, name
        tags = [
            {"key": "dagster/asset_partition_range_start", "value": days[0]},
            {"key": "dagster/asset_partition_range_end", "value": days[-1]},
        ]
        params = {
            "selector": _selector(name, jobName="revqb_sync_job"),
            "executionMetadata": {"tags": tags},
        }
        launched = gql(url, LAUNCH, {"p": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert launched["run"]["status"] == "QUEUED"
        run_ids[name] = launched["run"]["runId"]

    runs: dict[str, dict] = {}

    def finished() -> bool:
        for name, run_id in run_ids.items():
            runs[name] = gql(url, RUN, {"id": run_id})["runOrError"]
        return all(r["status"] in TERMINAL for r in runs.values())

    wait_until(finished, tmp_path, "the runs did not finish", timeout=600)
    status = {name: r["status"] for name, r in runs.items()}
    assert status == {"acme": "SUCCESS", "globex": "SUCCESS", "initech": "FAILURE"}, (status, logs(tmp_path))
    for name, run in runs.items():  # the UI shows which company each run is about
        assert {"key": "revqb/connection", "value": name} in run["tags"]
    healthy = [runs["acme"], runs["globex"]]
    assert max(r["startTime"] for r in healthy) < min(r["endTime"] for r in healthy), (
        "the runs did not overlap"
    )

    stats = httpx.get(f"{world['qbo'].url}/_admin/stats").json()["realms"]
    for name in ("acme", "globex"):
        realm = stats[COMPANIES[name][1]]
        assert realm["throttled_429"] == 0 and 0 < realm["peak_concurrency"] <= 10, (name, realm)
        assert realm["writes"] > 0, (name, realm)
        results = entities.reconcile(Runtime(settings[name]))
        assert all(r.agrees for r in results), (name, [r.differences for r in results])
        assert sum(r.revio_total_cents for r in results) > 0
    revoked_realm = stats.get(COMPANIES[REVOKED][1], {})
    assert revoked_realm.get("writes", 0) == 0, revoked_realm

    # Each company's ledger is its own: the same Rev.io tenant, two ledgers, different QBO ids.
    ids = {
        name: {r.qbo_id for r in Runtime(settings[name]).ledger.rows(source_type="bill")}
        for name in ("acme", "globex")
    }
    assert ids["acme"] and len(ids["acme"]) == len(ids["globex"])
    assert not Runtime(settings[REVOKED]).ledger.rows(source_type="bill") or all(
        not r.qbo_id for r in Runtime(settings[REVOKED]).ledger.rows(source_type="bill")
    )

    # One alert, naming the company whose token was revoked (the daemon's sensor ticks every 30 s).
    wait_until(lambda: any(REVOKED in m for m in world["slack"].messages), tmp_path, "no alert", timeout=120)
    time.sleep(35)  # one more tick: still one alert
    messages = world["slack"].messages
    assert len(messages) == 1 and f"[{REVOKED}]" in messages[0], messages
    assert file.get(REVOKED).qbo.realm_id == COMPANIES[REVOKED][1]
