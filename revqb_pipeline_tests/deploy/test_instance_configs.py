"""The instance and deployment files parse and say what docs/deploy.md says: the top-level dagster.yaml
works with no environment variable; deploy/ holds the production instance, the Docker run launcher variant,
the gRPC workspace, the compose file and the Helm values, consistent with one another."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._core.instance.ref import InstanceRef

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PG_ENV = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "postgres",
    "DAGSTER_PG_PASSWORD": "unused",
    "DAGSTER_PG_DB": "test",
}
#: The module and code location every entry point must name.
MODULE, LOCATION = "revqb_pipeline.definitions", "revqb_pipeline"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _ref(config: Path, tmp_path: Path) -> InstanceRef:
    """Dagster's own parsing and schema validation of an instance config file (nothing is opened)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    shutil.copy(config, home / "dagster.yaml")
    return InstanceRef.from_dir(str(home))


def test_local_instance_needs_no_environment_variable(tmp_path, monkeypatch) -> None:
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    ref = _ref(ROOT / "dagster.yaml", tmp_path)
    assert ref.storage_data.class_name == "DagsterSqliteStorage"
    assert yaml.safe_load(ref.storage_data.config_yaml) == {"base_dir": ".revqb/dagster_home"}
    assert yaml.safe_load(ref.local_artifact_storage_data.config_yaml) == {"base_dir": ".revqb/dagster_home"}
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert ref.settings["telemetry"] == {"enabled": False}
    pools = ref.settings["concurrency"]["pools"]
    assert pools == {"default_limit": 1, "granularity": "op"}
    # Relative paths resolve against the working directory (the repository root in practice).
    storage = ref.storage
    assert storage is not None
    storage.dispose()
    assert (tmp_path / ".revqb" / "dagster_home" / "history" / "runs.db").exists()
    # The revqb CLI's own local instance (an empty dagster.yaml in .revqb/dagster_home) is the same SQLite
    # storage, so runs of `revqb sync` / `revqb demo` show in the UI of `make dev`.
    cli_home = tmp_path / ".revqb" / "dagster_home"
    (cli_home / "dagster.yaml").touch()
    cli_ref = InstanceRef.from_dir(".revqb/dagster_home")
    assert cli_ref.storage_data.config_yaml == ref.storage_data.config_yaml
    assert cli_ref.local_artifact_storage_data.config_yaml == ref.local_artifact_storage_data.config_yaml
    assert cli_ref.compute_logs_data.config_yaml == ref.compute_logs_data.config_yaml


def test_production_instance_parses_with_the_postgres_variables(tmp_path, monkeypatch) -> None:
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    ref = _ref(DEPLOY / "dagster.yaml", tmp_path)
    assert ref.storage_data.module_name == "dagster_postgres"
    pg = yaml.safe_load(ref.storage_data.config_yaml)["postgres_db"]
    assert pg["scheme"] == "postgresql+psycopg2"
    assert {v["env"] for k, v in pg.items() if isinstance(v, dict)} == set(PG_ENV)
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert ref.run_launcher.__class__.__name__ == "DefaultRunLauncher"
    assert ref.settings["concurrency"]["pools"]["default_limit"] == 1
    assert ref.settings["run_retries"]["retry_on_asset_or_op_failure"] is False
    assert ref.settings["run_monitoring"]["enabled"] is True


def test_docker_instance_is_the_production_one_with_a_docker_run_launcher(tmp_path, monkeypatch) -> None:
    for name, value in PG_ENV.items():
        monkeypatch.setenv(name, value)
    prod, docker = _yaml(DEPLOY / "dagster.yaml"), _yaml(DEPLOY / "dagster-docker.yaml")
    assert {k: v for k, v in docker.items() if k != "run_launcher"} == {
        k: v for k, v in prod.items() if k != "run_launcher"
    }
    launcher = _ref(DEPLOY / "dagster-docker.yaml", tmp_path).run_launcher
    assert type(launcher).__name__ == "DockerRunLauncher"
    compose = _compose()
    assert launcher.networks == [compose["networks"]["revqb"]["name"]]
    storage_volume = compose["volumes"]["revqb-dagster-storage"]["name"]
    assert launcher.container_kwargs["volumes"] == [f"{storage_volume}:/opt/dagster/dagster_home/storage"]
    # Every variable a run needs reaches the run container from the daemon's environment.
    daemon_env = set(compose["services"]["revqb-daemon"]["environment"]) - {
        "REVQB_CODE_SERVER_HOST",
        "REVQB_CODE_SERVER_PORT",
        "REVQB_AUTOMATION",  # read where the definitions load: the code server
    }
    assert set(launcher.env_vars) == daemon_env


def test_workspaces_name_the_same_code_location() -> None:
    local = _yaml(ROOT / "workspace.yaml")["load_from"]
    assert local == [{"python_module": {"module_name": MODULE, "location_name": LOCATION}}]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    assert pyproject["dagster"] == {"module_name": MODULE, "code_location_name": LOCATION}
    assert pyproject["dg"]["project"]["code_location_target_module"] == MODULE
    assert pyproject["dg"]["project"]["code_location_name"] == LOCATION
    grpc = _yaml(DEPLOY / "workspace.yaml")["load_from"]
    assert grpc == [
        {
            "grpc_server": {
                "host": {"env": "REVQB_CODE_SERVER_HOST"},
                "port": {"env": "REVQB_CODE_SERVER_PORT"},
                "location_name": LOCATION,
            }
        }
    ]


def _compose() -> dict[str, Any]:
    return _yaml(DEPLOY / "docker-compose.yaml")


def test_compose_runs_postgres_code_server_webserver_and_daemon() -> None:
    services = _compose()["services"]
    assert set(services) == {"revqb-postgres", "revqb-code", "revqb-webserver", "revqb-daemon"}
    code = services["revqb-code"]
    assert code["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    cmd = code["command"]
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert cmd[cmd.index("-m") + 1] == MODULE and cmd[cmd.index("--location-name") + 1] == LOCATION
    port = cmd[cmd.index("-p") + 1]
    assert code["healthcheck"]["test"] == ["CMD", "dagster", "api", "grpc-health-check", "-p", port]
    for name in ("revqb-webserver", "revqb-daemon"):
        env = services[name]["environment"]
        assert env["REVQB_CODE_SERVER_HOST"] == "revqb-code" and env["REVQB_CODE_SERVER_PORT"] == port
        assert services[name]["command"][-1] == "/opt/dagster/dagster_home/workspace.yaml"
        assert set(PG_ENV) <= set(env) and env["DAGSTER_PG_HOST"] == "revqb-postgres"
        assert services[name]["depends_on"]["revqb-code"] == {"condition": "service_healthy"}
    assert "REVQB_DB_URL" in code["environment"]
    assert code["environment"]["REVQB_DB_URL"].startswith("postgresql+psycopg2://")
    # The image carries the production instance and workspace where DAGSTER_HOME points.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "DAGSTER_HOME=/opt/dagster/dagster_home" in dockerfile
    assert "COPY deploy/dagster.yaml deploy/workspace.yaml /opt/dagster/dagster_home/" in dockerfile
    # load_from_defs_folder needs pyproject.toml beside the package: an editable install keeps it there.
    assert "pip install --no-deps -e ." in dockerfile


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize(
    "files",
    [["docker-compose.yaml"], ["docker-compose.yaml", "docker-compose.docker-launcher.yaml"]],
    ids=["default-launcher", "docker-launcher"],
)
def test_compose_config_is_valid(files: list[str]) -> None:
    cli = _compose_cli()
    if cli is None:
        msg = "neither `docker compose` nor docker-compose is installed (`make compose-cli`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    args = [a for f in files for a in ("-f", str(DEPLOY / f))]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REVIO_", "QBO_", "REVQB_"))}
    missing = subprocess.run([*cli, *args, "config"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert missing.returncode != 0 and "DAGSTER_PG_PASSWORD" in missing.stderr
    env["DAGSTER_PG_PASSWORD"] = "s3cret"
    done = subprocess.run([*cli, *args, "config"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert rendered["services"]["revqb-code"]["environment"]["REVQB_DB_URL"] == (
        "postgresql+psycopg2://dagster:s3cret@revqb-postgres:5432/revqb"
    )
    if len(files) > 1:
        mounts = rendered["services"]["revqb-daemon"]["volumes"]
        assert any("docker.sock" in str(m) for m in mounts)
        assert any("dagster-docker.yaml" in str(m) for m in mounts)


def test_helm_values_use_the_image_postgres_k8s_launcher_and_pools() -> None:
    values = _yaml(DEPLOY / "helm" / "values.yaml")
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("--module-name") + 1] == MODULE
    assert args[args.index("--location-name") + 1] == LOCATION
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    assert values["postgresql"]["enabled"] is False
    assert values["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    assert values["dagsterDaemon"]["runCoordinator"]["type"] == "QueuedRunCoordinator"
    prod = _yaml(DEPLOY / "dagster.yaml")["concurrency"]
    helm = values["concurrency"]
    assert helm["enabled"] is True
    assert helm["pools"] == {
        "defaultLimit": prod["pools"]["default_limit"],
        "granularity": prod["pools"]["granularity"],
    }
    assert helm["runs"]["maxConcurrentRuns"] == prod["runs"]["max_concurrent_runs"]
    assert helm["runs"]["tagConcurrencyLimits"] == prod["runs"]["tag_concurrency_limits"]
    assert values["telemetry"] == {"enabled": False}
