"""The month-end revenue check (pure pandera frames): the entry balances and ties to the invoices."""

from __future__ import annotations

from datetime import date

import pandas as pd

from revqb_pipeline.entities.journals import checks
from revqb_pipeline.entities.journals.mapping import journal_payload
from revqb_pipeline.entities.journals.revenue import Month, RevenueCharge, summarize_month
from revqb_pipeline.mapping.config import RevenueConfig, RevenueKind

CFG = RevenueConfig(
    by_charge_kind={
        "recurring": RevenueKind(
            account="Telecom Services Revenue", deferred=True, deferred_account="Deferred Revenue"
        ),
        "usage": RevenueKind(account="Usage Revenue"),
        "one_time": RevenueKind(account="Installation Revenue"),
    }
)


def _summary_and_payload():
    charges = [
        RevenueCharge(1, 1, date(2025, 1, 15), "recurring", 3100, date(2025, 1, 15), date(2025, 2, 14)),
        RevenueCharge(2, 1, date(2025, 1, 15), "usage", 999, date(2024, 12, 15), date(2025, 1, 14)),
    ]
    summary = summarize_month(charges, Month(2025, 1), CFG)
    payload = journal_payload(summary, CFG)
    assert payload is not None
    return summary, payload


INVOICED = {"recurring": 3100, "usage": 999, "_bills": 4099}


# ----- the check ---------------------------------------------------------------------------------------


def test_check_passes_for_a_good_month():
    summary, payload = _summary_and_payload()
    result = checks.check_revenue(summary, payload, INVOICED)
    assert result.passed, result.metadata


def test_check_fails_for_an_unbalanced_entry():
    summary, payload = _summary_and_payload()
    payload["Line"][1]["Amount"] = payload["Line"][1]["Amount"] + 1  # credit 15.00 vs debit 14.00
    result = checks.check_revenue(summary, payload, INVOICED)
    assert not result.passed
    assert "debits != credits" in result.metadata["failures"]


def test_check_fails_when_billing_does_not_tie_to_invoices():
    summary, payload = _summary_and_payload()
    result = checks.check_revenue(summary, payload, {**INVOICED, "usage": 1000, "_bills": 4100})
    assert not result.passed
    assert "invoiced" in result.metadata["failures"]


def test_check_fails_for_untied_frames():
    tie = pd.DataFrame(
        [
            {
                "category": "recurring",
                "billed_cents": 3100,
                "invoiced_cents": 3100,
                "recognized_cents": 1700,
                "deferred_opening_cents": 0,
                "deferred_closing_cents": 1300,  # 1700 + 1300 != 3100
            }
        ]
    )
    lines = pd.DataFrame(
        [
            {"account": "Telecom Services Revenue", "posting_type": "Debit", "amount_cents": 1300},
            {"account": "Deferred Revenue", "posting_type": "Credit", "amount_cents": 1300},
        ]
    )
    accounts = pd.DataFrame(
        [
            {
                "account": "Telecom Services Revenue",
                "journal_net_debit_cents": 1300,
                "expected_net_debit_cents": 1400,
            },
            {
                "account": "Deferred Revenue",
                "journal_net_debit_cents": -1300,
                "expected_net_debit_cents": -1400,
            },
        ]
    )
    result = checks.validate_frames(tie, lines, accounts)
    assert not result.passed
    text = result.metadata["failures"]
    assert "recognized + change in deferred != billed" in text
    assert "net debit differs" in text
    good_tie = tie.assign(deferred_closing_cents=1400)
    good_lines = lines.assign(amount_cents=1400)
    good_accounts = accounts.assign(journal_net_debit_cents=accounts["expected_net_debit_cents"])
    assert checks.validate_frames(good_tie, good_lines, good_accounts).passed


def test_check_rejects_negative_or_bad_posting_lines():
    tie = checks.tie_frame(*_summary_and_payload()[:1], INVOICED)
    lines = pd.DataFrame(
        [
            {"account": "A", "posting_type": "Debit", "amount_cents": -5},
            {"account": "B", "posting_type": "Sideways", "amount_cents": -5},
        ]
    )
    accounts = pd.DataFrame(columns=["account", "journal_net_debit_cents", "expected_net_debit_cents"])
    result = checks.validate_frames(tie, lines, accounts)
    assert not result.passed
    assert result.metadata["num_failures"] >= 3


def test_an_empty_month_passes():
    summary = summarize_month([], Month(2025, 2), CFG)
    result = checks.check_revenue(summary, {"Line": []}, {"_bills": 0})
    assert result.passed


# ----- schedule and job --------------------------------------------------------------------------------
