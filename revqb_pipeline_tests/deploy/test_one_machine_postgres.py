"""The one-machine production layout of docs/deploy.md, without containers: a code server
(`dagster code-server start`), the webserver and the daemon, each its own process, on deploy/dagster.yaml
(PostgreSQL) and deploy/workspace.yaml (gRPC). A run launched through the webserver is queued, dequeued by
the daemon, started by the code server and recorded in PostgreSQL; its QBO step took a pool slot there."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

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

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("revqb_deploy") as db:
        yield db


@pytest.fixture
def deployment(tmp_path: Path, database: str) -> Iterator[tuple[str, Path]]:
    """Code server, webserver and daemon started as docs/deploy.md says; yields the UI URL and the logs."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    shutil.copy(ROOT / "deploy" / "workspace.yaml", home / "workspace.yaml")
    code_port, ui_port = free_port(), free_port()
    env = instance_env(
        home,
        database,
        {
            "REVQB_CODE_SERVER_HOST": "127.0.0.1",
            "REVQB_CODE_SERVER_PORT": str(code_port),
            "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
        },
    )
    workspace = str(home / "workspace.yaml")
    with processes(tmp_path, tmp_path, env) as start:
        start(
            "code",
            [
                *(str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port)),
                *("-m", "revqb_pipeline.definitions", "--location-name", "revqb_pipeline"),
            ],
        )
        # as compose's healthcheck: the others start once the code server answers
        wait_until(lambda: grpc_healthy(code_port, env), tmp_path, "the code server did not answer", 180)
        start(
            "webserver",
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(ui_port), "-w", workspace],
        )
        start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", workspace])
        yield f"http://127.0.0.1:{ui_port}", tmp_path


STATUS = """{
  instance { info runQueuingSupported poolConfig { defaultPoolLimit }
             daemonHealth { allDaemonStatuses { daemonType healthy required } } }
  workspaceOrError { ... on Workspace { locationEntries { name
      locationOrLoadError { __typename ... on PythonError { message } } } } }
}"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""


def _wait_ready(url: str, tmp: Path) -> dict:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            data = gql(url, STATUS)
        except httpx.HTTPError:
            time.sleep(1)
            continue
        entries = data["workspaceOrError"]["locationEntries"]
        daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
        loaded = entries and entries[0]["locationOrLoadError"]
        required = [d for d in daemons if d["required"]]
        if loaded and loaded["__typename"] == "PythonError":
            pytest.fail("the code location did not load: " + loaded["message"])
        if loaded and loaded["__typename"] == "RepositoryLocation" and all(d["healthy"] for d in required):
            return data
        time.sleep(1)
    pytest.fail("the deployment did not come up:\n" + logs(tmp))


def test_code_server_webserver_and_daemon_on_postgres(deployment: tuple[str, Path], database: str) -> None:
    url, tmp = deployment
    data = _wait_ready(url, tmp)
    instance = data["instance"]
    assert "PostgresRunStorage" in instance["info"], instance["info"]
    assert instance["runQueuingSupported"] is True
    assert instance["poolConfig"]["defaultPoolLimit"] == 1
    assert data["workspaceOrError"]["locationEntries"][0]["name"] == "revqb_pipeline"

    selector = {
        "repositoryLocationName": "revqb_pipeline",
        "repositoryName": "__repository__",
        "jobName": "customer_status_job",
    }
    launched = gql(url, LAUNCH, {"p": {"selector": selector, "runConfigData": {}}})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert launched["run"]["status"] == "QUEUED"

    deadline, status = time.monotonic() + 180, "QUEUED"
    while time.monotonic() < deadline and status not in TERMINAL:
        time.sleep(1)
        status = gql(url, RUN, {"id": run_id})["runOrError"]["status"]
    # No revqb settings are set, so the sync itself fails; launching and running it is what is shown here.
    assert status in TERMINAL, logs(tmp)

    engine = sa.create_engine(PG_URL.rsplit("/", 1)[0] + f"/{database}")
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                sa.text("select status from runs where run_id = :r"), {"r": run_id}
            ).scalar()
            kinds = (
                conn.execute(
                    sa.text("select dagster_event_type from event_logs where run_id = :r order by id"),
                    {"r": run_id},
                )
                .scalars()
                .all()
            )
            pools = conn.execute(
                sa.text('select concurrency_key, "limit", using_default_limit from concurrency_limits')
            ).all()
    finally:
        engine.dispose()
    # Dagster stores the run's start under its legacy name.
    assert stored == status and kinds.count("PIPELINE_START") == 1, [*kinds, logs(tmp)]
    # The QBO-writing step asked for its pool: the pool's row is in PostgreSQL with the default one slot.
    assert any(key.startswith("qbo") for key, _, _ in pools), pools
    assert all(limit == 1 and default for _, limit, default in pools), pools
