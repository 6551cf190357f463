"""SIGTERM / SIGINT stop a real `revqb sync` subprocess after the current step: exit 143 / 130, no further
partition starts, no ledger row is left in flight, and a re-run completes with no duplicate in QBO."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.ledger import LedgerStatus
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests.cli._subprocess import cli_env, revqb
from revqb_sandbox.servers import Sandboxes, sandboxes

pytestmark = pytest.mark.slow

SYNC = ["sync", "--since", "2026-01-01", "--to", "2026-12-31"]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Sandboxes, dict[str, str]]]:
    with sandboxes(seed=11, customers=5, months=2) as sb:
        env = cli_env(sb, tmp_path)
        yield sb, env


def run_until_started(proc: subprocess.Popen[str], marker: str, timeout: float = 120) -> list[str]:
    """Read stdout lines until one starts with ``marker``."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(marker):
            return lines
    raise AssertionError(f"{marker!r} never printed:\n{''.join(lines)}")


def assert_consistent_and_rerun(env: dict[str, str], cwd: Path) -> None:
    """No row stuck in flight; a second sync finishes (exit 0); QBO has each bill once, to the cent."""
    rt = Runtime(RevqbSettings.from_env(env))
    stuck = rt.ledger.rows(statuses=[LedgerStatus.IN_FLIGHT])
    assert stuck == [], [(r.source_type, r.source_id) for r in stuck]
    again = revqb(SYNC, env, cwd)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:] + err[-3000:]
    invoices = list(rt.qbo.query_all("Invoice"))
    docs = Counter(i.get("DocNumber") for i in invoices)
    assert invoices and all(n == 1 for n in docs.values()), docs
    rec = revqb(
        ["reconcile", "--entity", "invoices", "--entity", "payments", "--entity", "customers"], env, cwd
    )
    out, err = rec.communicate(timeout=300)
    assert rec.returncode == 0, out + err


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_sync_after_the_current_step(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    _sb, env = world
    proc = revqb(SYNC, env, tmp_path)
    try:
        lines = run_until_started(proc, "[1/")
        total = int(lines[-1].split("/", 1)[1].split("]", 1)[0])
        assert total >= 3, lines  # several days to sync: the stop must leave some of them
        time.sleep(1.0)  # mid-way through the first partition's steps
        started = time.monotonic()
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        stopped_in = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    out = "".join(lines) + out
    assert proc.returncode == code, out[-3000:] + err[-3000:]
    assert f"stopped by {sig.name}" in err, err
    assert "Traceback" not in out + err and "Stack Trace" not in out + err  # one line, not Dagster's trace
    assert "[2/" not in out, out  # no further partition started
    assert "not run:" in err
    assert stopped_in < 60
    assert_consistent_and_rerun(env, tmp_path)


def test_second_signal_aborts_at_once_and_rerun_recovers(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path
) -> None:
    _sb, env = world
    proc = revqb(SYNC, env, tmp_path)
    try:
        run_until_started(proc, "[1/")
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)  # the first handler has run; the step in progress is still running
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    # either our handler aborted (143), or the graceful stop had already finished and the default action
    # ended the exiting process (-15, which a shell also reports as 143)
    assert proc.returncode in (143, -signal.SIGTERM), err
    assert "second SIGTERM: aborting now" in err or proc.returncode == -signal.SIGTERM, err
    # an abort may cut a write: the ledger's intent lets the next run resolve it without a duplicate
    again = revqb(SYNC, env, tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, out[-3000:] + err[-3000:]
    rt = Runtime(RevqbSettings.from_env(env))
    assert rt.ledger.rows(statuses=[LedgerStatus.IN_FLIGHT]) == []
    docs = Counter(i.get("DocNumber") for i in rt.qbo.query_all("Invoice"))
    assert docs and all(n == 1 for n in docs.values()), docs
