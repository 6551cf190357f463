"""A Dagster deployment as processes, for the PostgreSQL layout tests (``deploy/``, ``connections/``): a fresh
database per test, the production instance's environment, code servers / webserver / daemon started in their
own process groups and stopped, GraphQL, and waits that fail with the processes' logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa

from revqb_pipeline_tests._postgres import PG_URL, require_postgres

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fresh_database(prefix: str, schemas: Iterable[str] = ()) -> Iterator[str]:
    """A new PostgreSQL database (with ``schemas``) on the test server, dropped afterwards."""
    require_postgres()
    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{db}"'))
    if schemas:
        engine = sa.create_engine(PG_URL.rsplit("/", 1)[0] + f"/{db}", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for schema in schemas:
                conn.execute(sa.text(f'create schema "{schema}"'))
        engine.dispose()
    try:
        yield db
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'drop database if exists "{db}" with (force)'))
        admin.dispose()


def instance_env(home: Path, database: str, extra: Mapping[str, str] = {}) -> dict[str, str]:
    """This process's environment without revqb / Dagster settings, plus deploy/dagster.yaml's variables
    pointing at ``database`` and ``extra``."""
    url = urlparse(PG_URL.replace("postgresql+psycopg2", "postgresql"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "REVQB_", "REVIO_", "QBO_"))}
    return env | {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": url.hostname or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_USER": url.username or "postgres",
        "DAGSTER_PG_PASSWORD": url.password or "trust-auth-ignores-this",
        "DAGSTER_PG_DB": database,
        **extra,
    }


@contextmanager
def processes(
    logs_dir: Path, cwd: Path, env: Mapping[str, str]
) -> Iterator[Callable[[str, list[str]], None]]:
    """``start(name, command)`` runs a command in its own process group, logging to ``<logs_dir>/<name>.log``;
    every group is stopped (SIGTERM, then SIGKILL after 60 s) on exit, last started first."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str, cmd: list[str]) -> None:
        log = (logs_dir / f"{name}.log").open("w")
        procs.append(
            subprocess.Popen(
                cmd, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )

    try:
        yield start
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def grpc_healthy(port: int, env: Mapping[str, str]) -> bool:
    """The code server on ``port`` answers ``dagster api grpc-health-check`` (as compose's healthcheck)."""
    health = [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.run(health, env=dict(env), capture_output=True).returncode == 0


def gql(url: str, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
    """The ``data`` of a GraphQL query to the webserver at ``url`` (errors fail the test)."""
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=timeout
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def logs(tmp: Path) -> str:
    """The last 3,000 characters of every process log in ``tmp``."""
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp.glob("*.log")))


def wait_until(ready: Callable[[], bool], tmp: Path, what: str, timeout: float = 240) -> None:
    """Poll ``ready`` every second; after ``timeout`` fail with ``what`` and the logs."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}:\n" + logs(tmp))
        time.sleep(1)
