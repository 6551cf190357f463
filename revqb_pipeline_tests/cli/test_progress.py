"""What `revqb sync` shows while it runs, against the sandboxes: plain lines through a pipe (no control
codes, one line when a run starts and one when it ends, totals, no empty or digest lines), per-asset lines
with --verbose that stream while the run executes, and a rich progress bar with ETA on a terminal that moves
during a run. Also `sync --dry-run` (nothing written: QBO write counter and ledger unchanged; the real sync
then posts what it listed) and `reconcile --report/--csv`."""

from __future__ import annotations

import csv
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from revqb_pipeline.cli import main
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline_tests.cli._subprocess import cli_env, revqb
from revqb_sandbox.servers import Sandboxes, sandboxes

pytestmark = pytest.mark.slow

DAY = "2026-01-01"  # the seeded billing day: customers and invoices
SYNC = ["sync", "--since", "2026-01-01", "--to", "2026-01-20"]
RUN_START = re.compile(r"^\[(\d+)/(\d+)\] revqb_sync_job partition \d{4}-\d\d-\d\d$")
RUN_END = re.compile(r"^\[(\d+)/(\d+)\] \d{4}-\d\d-\d\d done in \d+\.\ds: .+$")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Sandboxes, dict[str, str]]]:
    with sandboxes(seed=21, customers=6) as sb:
        env = cli_env(sb, tmp_path)
        yield sb, env


def qbo_writes(sb: Sandboxes) -> int:
    stats = httpx.get(f"{sb.qbo_url}/_admin/stats").json()
    return int(stats["realms"].get(sb.qbo.realm_id, {}).get("writes", 0))


def test_sync_through_a_pipe_prints_plain_lines_and_totals(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path
) -> None:
    _sb, env = world
    proc = revqb(SYNC, env, tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "\x1b" not in out + err and "\r" not in out  # no control codes when stdout is not a terminal
    lines = out.splitlines()
    starts = [m for m in map(RUN_START.match, lines) if m]
    ends = [m for m in map(RUN_END.match, lines) if m]
    assert len(starts) == len(ends) == int(starts[0].group(2)) >= 3, out
    assert all(line.strip() for line in lines), out  # no empty lines
    assert "digest=" not in out and "as_of=" not in out
    # quiet: one line per run start and end, plus totals and the summary; nothing per asset
    assert len(lines) == 2 * len(starts) + 2, out
    assert "invoices " in ends[0].group(0) and " created ($" in ends[0].group(0), ends[0].group(0)
    assert re.match(r"^totals: [\d,]+ created \(\$[\d,]+\.\d\d\)", lines[-2]), lines[-2]
    assert lines[-1] == f"sync: {len(starts)} partition(s) run"


def test_verbose_lines_stream_while_the_run_executes(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path
) -> None:
    sb, env = world
    slow = {"kind": "slow", "probability": 1.0, "delay_s": 1.0, "path_regex": "batch"}
    httpx.post(f"{sb.qbo_url}/_admin/faults", json=[slow]).raise_for_status()
    proc = revqb(["sync", "--partition", DAY, "--verbose"], env, tmp_path)
    assert proc.stdout is not None
    arrived: list[tuple[float, str]] = []
    for line in proc.stdout:
        arrived.append((time.monotonic(), line.rstrip("\n")))
    proc.wait(timeout=60)
    text = "\n".join(line for _, line in arrived)
    assert proc.returncode == 0, text
    assert "\x1b" not in text and "digest=" not in text
    at = {line.split()[0]: t for t, line in arrived if line.startswith("    ")}
    assert {"revio/bills", "staging/bills", "quickbooks/customers", "quickbooks/invoices"} <= set(at), text
    assert "created=" in text
    done = next(t for t, line in arrived if RUN_END.match(line))
    # revio/bills was printed when it materialized, before the slowed QBO batch writes of the loads
    assert done - at["revio/bills"] >= 1.0, text
    assert at["quickbooks/customers"] < at["quickbooks/invoices"] <= done


def test_a_terminal_gets_a_progress_bar_with_eta_that_moves_during_the_run(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path
) -> None:
    _sb, env = world
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    term_env = {**env, "TERM": "xterm-256color"}
    term_env.pop("NO_COLOR", None)
    cmd = [
        sys.executable,
        "-m",
        "revqb_pipeline.cli",
        "sync",
        "--partition",
        DAY,
        "--partition",
        "2026-01-05",
    ]
    proc = subprocess.Popen(cmd, env=term_env, cwd=tmp_path, stdin=child_fd, stdout=child_fd, stderr=child_fd)
    os.close(child_fd)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "\x1b[" in screen and "ETA" in plain and "steps" in plain
    frames = re.findall(r"\[1/2\] 2026-01-01 (\S+)\s.*?(\d+)/40 steps", plain)
    mid_run = [(step, int(n)) for step, n in frames if 0 < int(n) < 20]
    assert mid_run, plain[-3000:]  # the bar moved while the first run executed
    assert any(step.startswith(("revio/", "staging/", "quickbooks/")) for step, _ in mid_run)
    assert re.search(r"\[1/2\] 2026-01-01 done in \d+\.\ds: customers \d+ created", plain), plain[-3000:]
    assert "totals: " in plain and "sync: 2 partition(s) run" in plain


@pytest.fixture
def in_process(
    world: tuple[Sandboxes, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Sandboxes, dict[str, str]]:
    """The world's settings in this process's environment (``main`` reads them), cwd in ``tmp_path``."""
    sb, env = world
    for key in [k for k in os.environ if k.startswith(("REVQB_", "REVIO_", "QBO_"))]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith(("REVQB_", "REVIO_", "QBO_")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    return sb, env


def test_dry_run_writes_nothing_then_the_sync_posts_what_it_listed(
    in_process: tuple[Sandboxes, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = in_process
    rt = Runtime(RevqbSettings.from_env(env))
    writes = qbo_writes(sb)
    assert main(["sync", "--dry-run", "--partition", DAY]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"[1/1] dry run {DAY}\nDRY RUN - nothing was written"), out
    assert "would create" in out and "Account" in out and "Item" in out, out
    assert qbo_writes(sb) == writes  # not one QBO write
    assert rt.ledger.summary() == {}  # the ledger is unchanged (empty)

    assert main(["sync", "--dry-run", "--partition", DAY, "--json"]) == 0
    captured = capsys.readouterr()
    preview = json.loads(captured.out)  # stdout is the JSON alone; progress went to stderr
    assert preview["dry_run"] is True and preview["days"] == [DAY]
    assert f"dry run {DAY}" in captured.err
    would_create = preview["entities"]["invoices"]["created"]["count"]
    assert would_create > 0 and qbo_writes(sb) == writes and rt.ledger.summary() == {}

    assert main(["sync", "--partition", DAY]) == 0
    out = capsys.readouterr().out
    assert f"invoices {would_create} created" in out, out
    assert qbo_writes(sb) > writes


def test_reconcile_writes_the_report_and_the_csv(
    in_process: tuple[Sandboxes, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from revqb_pipeline.reports import COLUMNS

    assert main(["sync", "--partition", DAY]) == 0
    capsys.readouterr()
    entities = ["--entity", "customers", "--entity", "invoices", "--entity", "taxes"]
    html, table = tmp_path / "out" / "rec.html", tmp_path / "out" / "rec.csv"
    assert main(["reconcile", *entities, "--report", str(html), "--csv", str(table)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {html}" in out and f"wrote {table}" in out
    assert "<html" in html.read_text().lower()
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == COLUMNS
    summary = {r["entity"]: r for r in rows if r["section"] == "summary"}
    assert {"customers", "invoices", "taxes"} <= set(summary)
    assert all(r["status"] == "OK" for r in summary.values()), summary
    # with --json stdout stays JSON; the paths go to stderr
    again = tmp_path / "again.csv"
    assert main(["reconcile", "--json", "--entity", "invoices", "--csv", str(again)]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [r["entity"] for r in data] == ["invoices"] and f"wrote {again}" in captured.err
    assert again.exists()
