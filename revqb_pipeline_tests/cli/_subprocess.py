"""`revqb` as a real subprocess against the sandboxes (the CLI tests that watch its output or signal it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from revqb_sandbox.servers import Sandboxes


def cli_env(sb: Sandboxes, tmp_path: Path) -> dict[str, str]:
    """This process's environment without REVQB_/REVIO_/QBO_/DAGSTER_HOME, plus the sandboxes' settings
    and a SQLite database under ``tmp_path``."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REVQB_", "REVIO_", "QBO_"))},
        **sb.env(),
        "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
        "QBO_THROTTLE_BACKOFF_S": "0.5",
    }
    env.pop("DAGSTER_HOME", None)
    return env


def revqb(args: list[str], env: dict[str, str], cwd: Path, **kw: Any) -> subprocess.Popen[str]:
    """Start ``python -m revqb_pipeline.cli <args>`` with piped text stdout/stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "revqb_pipeline.cli", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )
