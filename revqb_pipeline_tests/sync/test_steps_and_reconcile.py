"""Unit tests of the pure report helpers of ``sync/steps.py`` and the entity-agnostic parts of
``sync/reconcile.py`` (selection and order of reconcilers, the terminal table)."""

from __future__ import annotations

from typing import cast

import pytest

from revqb_pipeline.sync.reconcile import EntityReconciliation, Reconciler, format_table, reconcile_with
from revqb_pipeline.sync.runtime import Runtime
from revqb_pipeline.sync.steps import ACTIONS, Markdown, md_cell, md_table, report_metadata, written
from revqb_pipeline.sync.writer import WriteReport

# ----- steps: markdown and report metadata -----------------------------------------------------------------


def test_md_cell_escapes_pipes_and_flattens_newlines() -> None:
    assert md_cell("a|b\r\nc\nd") == "a\\|b  c d"
    assert md_cell(42) == "42"


def test_md_table_is_sorted_and_escaped() -> None:
    table = md_table({"b": "value with | pipe", "a": "two\nlines"}, heading="bill")

    assert isinstance(table, Markdown)
    assert table.splitlines() == [
        "| bill | reason |",
        "|---|---|",
        "| a | two lines |",
        "| b | value with \\| pipe |",
    ]


def test_md_table_default_heading_and_empty_body() -> None:
    assert md_table({}) == "| record | reason |\n|---|---|\n"


def _report() -> WriteReport:
    report = WriteReport()
    report.record("1", "created", "created Invoice 10", qbo_id="10")
    report.record("2", "created", qbo_id="11")
    report.record("3", "linked", qbo_id="12")
    report.record("4", "updated", qbo_id="13")
    report.record("5", "unchanged", qbo_id="14")
    report.record("6", "quarantined", "no QBO item named 'Fax|Line'")
    report.record("7", "failed", "QBO 500")
    report.record("8", "waiting", "waiting for Rev.io customer 9 to reach QBO")
    return report


def test_report_metadata_counts_every_action_and_tables_the_problems() -> None:
    metadata = report_metadata(_report())

    counts = {a: metadata[a] for a in ACTIONS}
    assert counts == {
        "created": 2,
        "updated": 1,
        "linked": 1,
        "unchanged": 1,
        "voided": 0,
        "quarantined": 1,
        "failed": 1,
        "waiting": 1,
    }
    assert isinstance(metadata["problems"], Markdown)
    assert metadata["problems"].splitlines()[2:] == [
        "| 6 | quarantined: no QBO item named 'Fax\\|Line' |",
        "| 7 | failed: QBO 500 |",
        "| 8 | waiting: waiting for Rev.io customer 9 to reach QBO |",
    ]


def test_report_metadata_without_problems_has_no_table() -> None:
    report = WriteReport()
    report.record("1", "unchanged")

    metadata = report_metadata(report)

    assert "problems" not in metadata
    assert metadata == dict.fromkeys(ACTIONS, 0) | {"unchanged": 1}


def test_written_counts_created_linked_and_updated() -> None:
    assert written(_report()) == 4
    assert written(WriteReport()) == 0


# ----- reconcile: selection, order, table ------------------------------------------------------------------

RT = cast(Runtime, object())  # the reconcilers below never touch the runtime's clients


def _reconcilers(calls: list[str]) -> dict[str, Reconciler]:
    def make(name: str) -> Reconciler:
        def run(rt: Runtime) -> EntityReconciliation:
            assert rt is RT
            calls.append(name)
            return EntityReconciliation(name, revio_count=len(calls))

        return run

    return {name: make(name) for name in ("customers", "invoices", "payments")}


def test_reconcile_with_runs_all_in_registry_order() -> None:
    calls: list[str] = []
    results = reconcile_with(RT, _reconcilers(calls))

    assert [r.entity for r in results] == calls == ["customers", "invoices", "payments"]


def test_reconcile_with_runs_only_the_named_ones_in_the_order_asked() -> None:
    calls: list[str] = []
    results = reconcile_with(RT, _reconcilers(calls), ["payments", "customers"])

    assert [r.entity for r in results] == calls == ["payments", "customers"]


def test_reconcile_with_an_unknown_name_raises() -> None:
    with pytest.raises(KeyError):
        reconcile_with(RT, _reconcilers([]), ["nope"])


def test_entity_reconciliation_agrees_only_when_counts_totals_and_differences_agree() -> None:
    same = EntityReconciliation("invoices", 2, 2, 1050, 1050)
    assert same.agrees
    assert same.as_dict() == {
        "entity": "invoices",
        "revio_count": 2,
        "qbo_count": 2,
        "revio_total_cents": 1050,
        "qbo_total_cents": 1050,
        "differences": [],
        "revio_total": "10.50",
        "qbo_total": "10.50",
        "agrees": True,
    }
    assert not EntityReconciliation("invoices", 2, 1, 1050, 1050).agrees
    assert not EntityReconciliation("invoices", 2, 2, 1050, 1049).agrees
    assert not EntityReconciliation("invoices", 2, 2, 1050, 1050, ["bill 3: no QBO invoice"]).agrees


def test_format_table_rows_status_and_differences() -> None:
    ok = EntityReconciliation("customers", 3, 3, has_total=False)
    bad = EntityReconciliation("invoices", 2, 1, 123456789, 10000, ["bill 7: no QBO invoice (never synced)"])

    lines = format_table([ok, bad]).splitlines()

    head = f"{'entity':<14}{'Rev.io #':>10}{'QBO #':>10}{'Rev.io total':>18}{'QBO total':>18}  status"
    assert lines[0] == head
    assert lines[1] == "-" * len(head)
    assert lines[2].split() == ["customers", "3", "3", "-", "-", "OK"]
    assert lines[3].split() == ["invoices", "2", "1", "$1,234,567.89", "$100.00", "DIFFERENT"]
    assert lines[4:] == ["  - invoices: bill 7: no QBO invoice (never synced)"]


def test_format_table_lists_at_most_50_differences_per_entity() -> None:
    rec = EntityReconciliation("payments", differences=[f"payment {i}: missing" for i in range(53)])

    lines = format_table([rec]).splitlines()

    listed = [line for line in lines if line.startswith("  - payments: payment ")]
    assert len(listed) == 50
    assert listed[-1] == "  - payments: payment 49: missing"
    assert lines[-1] == "  - payments: ... 3 more"
