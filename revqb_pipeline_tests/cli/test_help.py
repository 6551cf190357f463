"""The click command tree: every option has help text, every command's --help lists the exit codes, option
mixes that make no sense are usage errors; and the pure pieces of the progress output (which metadata a
per-asset line shows, the dollars of a load's totals, the totals line)."""

from __future__ import annotations

from decimal import Decimal

import click
import pytest

from revqb_pipeline.cli import SyncReport, cli, main
from revqb_pipeline.cli._progress import shown_metadata, totals_in_dollars
from revqb_pipeline.cli._runs import actions_text


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every leaf command under ``group`` with its path, e.g. (("mappings", "check"), <Command>)."""
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


COMMANDS = commands(cli)
EXPECTED = {
    ("check",): {"--timeout"},
    ("demo",): {"--customers", "--seed", "--months", "--faults", "--workdir", "--verbose"},
    ("sync",): {
        "--partition", "--since", "--to", "--days", "--days-per-run", "--dry-run", "--json", "--verbose",
    },
    ("reconcile",): {"--json", "--entity", "--report", "--csv", "--as-of"},
    ("status",): {"--type", "--json", "--limit"},
    ("retry",): {"--type", "--id", "--dry-run"},
    ("dunning",): set(),
    ("drift",): {"--json"},
    ("webhooks", "serve"): {"--host", "--port", "--register"},
    ("tokens", "rotate"): set(),
    ("mappings", "check"): {"--mapping", "--days", "--since", "--strict", "--json", "--verbose"},
    ("mappings", "init"): {"--output", "--force", "--days", "--since"},
    ("sandbox", "serve"): {
        "--host", "--revio-port", "--qbo-port", "--seed", "--customers", "--months", "--time-scale",
        "--faults", "--latency", "--empty", "--tls", "--tls-dir",
    },
}  # fmt: skip


def test_the_commands_and_options_are_the_documented_ones() -> None:
    found = {path: {o for p in c.params for o in p.opts} for path, c in COMMANDS}
    assert found == EXPECTED


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_help_text(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help, path
    for param in command.params:
        assert isinstance(param, click.Option) and param.help, (path, param.opts)


@pytest.mark.parametrize("path", [(), *(p for p, _ in COMMANDS)], ids=lambda p: " ".join(p) or "revqb")
def test_every_help_lists_the_exit_codes(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert f"revqb {' '.join(path)}".strip() in out.splitlines()[0]
    for line in (
        "0    all synced",
        "1    a failure",
        "2    usage or configuration",
        "3    records quarantined",
    ):
        assert line in out, out
    assert "130  stopped by SIGINT" in out


USAGE_ERRORS: list[tuple[list[str], str]] = [
    (["sync", "--json"], "revqb sync: error: --json goes with --dry-run"),
    (["sync", "--bogus"], "revqb sync: error: No such option '--bogus'"),
    (["reconcile", "--as-of", "2026-02-30"], "argument --as-of: not a date (YYYY-MM-DD): '2026-02-30'"),
    (["frobnicate"], "revqb: error: No such command 'frobnicate'"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith("usage: revqb")
    assert message in err.splitlines()[-1], err
    assert "Traceback" not in err


def test_a_command_group_alone_prints_its_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["mappings"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "check" in err and "init" in err


def test_per_asset_lines_leave_out_zeros_digests_and_tables() -> None:
    metadata = {
        "created": 5,
        "updated": 0,
        "digest": "e3b0c44298fc",
        "payloads_hash": "39a1aa7b8e4b1c2d",
        "as_of": "2026-11-29",
        "revio_writeback": "on",
        "documents": "| record | action |\n|---|---|",
        "empty": "",
        "retry": False,
    }
    assert shown_metadata(metadata) == "created=5, revio_writeback=on"
    assert shown_metadata({"digest": "e3b0c44298fc"}) == ""


def test_the_dollars_of_a_loads_totals_table() -> None:
    totals = (
        "| action | documents | amount |\n|---|---:|---:|\n"
        "| created | 1,205 | $1,234,567.89 |\n| voided | 1 | -$20.50 |\n| linked | 2 | $0.00 |"
    )
    assert totals_in_dollars(totals) == {
        "created": Decimal("1234567.89"),
        "voided": Decimal("-20.50"),
        "linked": Decimal("0.00"),
    }
    assert totals_in_dollars("") == {}


def test_totals_line_in_action_order_with_dollars_where_there_are_any() -> None:
    actions = {"unchanged": 4, "created": 11, "voided": 1, "updated": 0}
    amounts = {"created": Decimal("5224.98"), "voided": Decimal("0")}
    assert actions_text(actions, amounts) == "11 created ($5,224.98), 1 voided, 4 unchanged"
    report = SyncReport(actions=dict(actions), amounts=dict(amounts))
    report.merge(SyncReport(actions={"created": 1}, amounts={"created": Decimal("0.02")}))
    assert report.totals() == "12 created ($5,225.00), 1 voided, 4 unchanged"
    assert SyncReport().totals() == "nothing written to QBO"
