"""CLI input and exit codes: bad dates, unknown types/entities and bad numbers are usage errors (exit 2, no
traceback); a closed pipe is quiet; `revqb sync` exits 3 when records were quarantined (and the good ones
of the day reached QBO to the cent), 0 once everything synced."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from revqb_pipeline.cli import SOURCE_TYPES, main
from revqb_pipeline.money import to_cents
from revqb_pipeline.settings import RevqbSettings
from revqb_pipeline.staging.ledger import Ledger, LedgerStatus
from revqb_pipeline.sync.runtime import Runtime, engine_for
from revqb_sandbox.servers import sandboxes

USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["sync", "--since", "2026-13-01"], "argument --since: not a date (YYYY-MM-DD): '2026-13-01'"),
    (["sync", "--to", "yesterday"], "argument --to: not a date"),
    (["sync", "--partition", "2026-02-30"], "argument --partition: not a date"),
    (["sync", "--days", "-1"], "argument --days: must be at least 0"),
    (["sync", "--days", "three"], "argument --days: not a whole number"),
    (["sync", "--since", "2026-02-01", "--to", "2026-01-01"], "--since 2026-02-01 is after --to 2026-01-01"),
    (["reconcile", "--entity", "invoice"], "argument --entity: unknown entity 'invoice'; choose from"),
    (["status", "--type", "bogus"], "argument --type: unknown type 'bogus'; choose from bill"),
    (["status", "--limit", "0"], "argument --limit: must be at least 1"),
    (["retry", "--type", "invoices"], "argument --type: unknown type 'invoices'"),
    (["mappings", "check", "--since", "2026-1-1"], "argument --since: not a date"),
    (["demo", "--customers", "0"], "argument --customers: must be at least 1"),
    (["check", "--timeout", "nan"], "argument --timeout: must be a positive number"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_bad_input_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        code = main(argv)
        raise SystemExit(code)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "usage: revqb" in err, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_usage_error_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "revqb_pipeline.cli", "sync", "--since", "2026-13-01"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "revqb sync: error: argument --since: not a date (YYYY-MM-DD): '2026-13-01'"
    )
    assert "Traceback" not in proc.stderr


def test_source_types_are_the_registrys_ledger_types() -> None:
    """The --type list (static, so ``revqb --help`` stays fast) is exactly the registry's source types."""
    from revqb_pipeline.entities import ledger_source_types

    assert tuple(SOURCE_TYPES) == ledger_source_types()


def test_status_json_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    db = tmp_path / "revqb.db"
    ledger = Ledger(engine_for(f"sqlite:///{db}"))
    for i in range(3000):  # far more output than a pipe buffer holds
        ledger.quarantine("bill", str(i), reason=f"charge {i}: amount 'abc' is not a number")
    env = {**os.environ, "REVQB_DB_URL": f"sqlite:///{db}"}
    cli = f"{sys.executable} -m revqb_pipeline.cli"
    for command in ("status --json", "status", "status --type bill --limit 3000"):
        proc = subprocess.run(
            ["sh", "-c", f"{cli} {command} | head -1"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert proc.returncode == 0
        assert proc.stderr == "", proc.stderr
        assert proc.stdout.strip() in ("{", "type" + proc.stdout.strip()[4:])


# -- exit codes of a real sync ---------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with sandboxes(seed=21, customers=8) as sb:
        env = {
            **sb.env(),
            "REVQB_DB_URL": f"sqlite:///{tmp_path / 'revqb.db'}",
            "QBO_THROTTLE_BACKOFF_S": "0.5",
        }
        for key in [k for k in os.environ if k.startswith(("REVQB_", "REVIO_", "QBO_"))]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        monkeypatch.chdir(tmp_path)  # the CLI's local Dagster instance lives under ./.revqb
        yield {"sb": sb, "rt": Runtime(RevqbSettings.from_env(env))}


@pytest.mark.slow
def test_sync_exits_3_with_quarantined_records_and_the_good_ones_reach_qbo(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, rt = world["sb"], world["rt"]
    day = "2026-01-01"
    bills = sorted(
        (b for b in rt.revio.iter_records("Bills") if str(b["created_date"])[:10] == day),
        key=lambda b: int(b["bill_id"]),
    )
    bad, good = bills[0], bills[1:]
    charge = next(iter(rt.revio.charges(bill_id=bad["bill_id"])))
    r = httpx.post(f"{sb.revio_url}/_admin/records/charges/{charge['charge_id']}", json={"amount": "abc"})
    r.raise_for_status()

    assert main(["sync", "--partition", day]) == 3
    out = capsys.readouterr().out
    assert "record(s) quarantined" in out and "see `revqb status`" in out, out
    row = rt.ledger.get("bill", str(bad["bill_id"]))
    assert row is not None and row.status == LedgerStatus.QUARANTINED
    for bill in good:  # every good invoice of the day is in QBO, to the cent
        g = rt.ledger.get("bill", str(bill["bill_id"]))
        assert g is not None and g.status == LedgerStatus.SYNCED and g.qbo_id
        assert to_cents(rt.qbo.read("Invoice", g.qbo_id)["TotalAmt"]) == to_cents(bill["invoice_amount"])

    assert main(["status", "--type", "bill"]) == 0
    assert f"bill {bad['bill_id']}: quarantined" in capsys.readouterr().out

    # the source is fixed: the next sync of the day brings the bill in and exits 0
    r = httpx.post(
        f"{sb.revio_url}/_admin/records/charges/{charge['charge_id']}", json={"amount": str(charge["amount"])}
    )
    r.raise_for_status()
    assert main(["sync", "--partition", day]) == 0
    fixed = rt.ledger.get("bill", str(bad["bill_id"]))
    assert fixed is not None and fixed.status == LedgerStatus.SYNCED and fixed.qbo_id
    assert to_cents(rt.qbo.read("Invoice", fixed.qbo_id)["TotalAmt"]) == to_cents(bad["invoice_amount"])


@pytest.mark.slow
def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with sandboxes(seed=3, customers=2) as sb:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("REVQB_", "REVIO_", "QBO_"))},
            **sb.env(),
        }
        argv = ["mappings", "init", "--days", "0", "--output", str(blocker / "sub" / "m.yaml")]
        cli = [sys.executable, "-m", "revqb_pipeline.cli"]
        opts: dict[str, Any] = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
        plain = subprocess.run([*cli, *argv], **opts)
        debug = subprocess.run([*cli, "--debug", *argv], **opts)
    assert plain.returncode == 1
    assert plain.stderr.strip().startswith("revqb: unexpected error: ")
    assert len(plain.stderr.strip().splitlines()) == 1 and "--debug shows the traceback" in plain.stderr
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr


def test_sync_report_exit_codes() -> None:
    from revqb_pipeline.cli import SyncReport

    assert SyncReport(partitions=["2026-01-01"]).exit_code == 0
    assert SyncReport(quarantined=2).exit_code == 3
    assert SyncReport(failed_records=1).exit_code == 3
    check = "2026-01-01 quickbooks/invoice_payloads:invoice_lines_valid"
    assert SyncReport(failed_checks=[check]).exit_code == 3
    failed = SyncReport(failed_runs=["2026-01-02"], quarantined=5)
    assert failed.exit_code == 1 and not failed  # a failed run wins; falsy for `assert run_partitions(...)`
    assert SyncReport(quarantined=1)  # records parked, but every run succeeded
    merged = SyncReport(partitions=["a"], quarantined=1)
    merged.merge(SyncReport(partitions=["b"], failed_runs=["b"]))
    assert merged.partitions == ["a", "b"] and merged.exit_code == 1
    assert "1 record(s) quarantined" in SyncReport(quarantined=1).summary()


@pytest.mark.slow
def test_a_permanent_step_failure_prints_its_cause_alone() -> None:
    """``revqb sync`` shows a ``dg.Failure``'s description (what to fix), not the exception's class path."""
    import dagster as dg

    from revqb_pipeline.cli import _step_failure_line

    cause = "QBO_CLIENT_ID / QBO_CLIENT_SECRET: QuickBooks rejected the app credentials (invalid_client)"

    @dg.asset
    def boom() -> None:
        raise dg.Failure(description=cause, allow_retries=False)

    with dg.instance_for_test() as instance:
        result = dg.materialize([boom], instance=instance, raise_on_error=False)
    failures = [ev for ev in result.all_events if ev.is_step_failure]
    assert [_step_failure_line(ev.step_failure_data) for ev in failures] == [cause]
