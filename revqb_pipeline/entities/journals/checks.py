"""The blocking check on the month's revenue journal: it balances and ties to the period's invoices.

Three pandera frames (integer cents):

- ``RevenueTie``: one row per category plus ``_total``; recognized + change in deferred = billed, and billed =
  the invoiced amounts read separately from the staging tables (per kind; for ``_total`` the bills' own
  invoice totals less tax);
- ``JournalLines``: the entry's lines; amounts positive, Debit/Credit, debits = credits;
- ``AccountTie``: per account, the entry's net debit equals what the summary implies.

The check is yielded by the ``revenue/summary`` asset (``check_specs``), so a failure stops
``quickbooks/revenue_journal`` in the same run. Pure: it returns a ``CheckOutcome`` that ``defs/`` turns
into the Dagster check result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing.pandas import Series

from revqb_pipeline.entities.journals.mapping import (
    ACCOUNT_PREFIX,
    expected_net_debits,
    net_debits_by_account,
)
from revqb_pipeline.entities.journals.revenue import MonthRevenue
from revqb_pipeline.money import to_cents
from revqb_pipeline.sync.steps import CheckOutcome, Markdown

CHECK_NAME = "journal_balances_and_ties"
TOTAL = "_total"


class RevenueTie(pa.DataFrameModel):
    """Per category (and ``_total``): recognized + (closing - opening) == billed == invoiced."""

    category: Series[str] = pa.Field(unique=True)
    billed_cents: Series[int]
    invoiced_cents: Series[int]
    recognized_cents: Series[int]
    deferred_opening_cents: Series[int]
    deferred_closing_cents: Series[int]

    @pa.dataframe_check(error="recognized + change in deferred != billed")
    def recognized_plus_change_is_billed(cls, df: pd.DataFrame) -> Series[bool]:
        change = df["deferred_closing_cents"] - df["deferred_opening_cents"]
        return df["recognized_cents"] + change == df["billed_cents"]

    @pa.dataframe_check(error="billed != the period's invoiced amounts")
    def billed_is_invoiced(cls, df: pd.DataFrame) -> Series[bool]:
        return df["billed_cents"] == df["invoiced_cents"]

    class Config:
        strict = True
        coerce = True


class JournalLines(pa.DataFrameModel):
    """The entry's lines: positive amounts, Debit or Credit, debits == credits."""

    account: Series[str]
    posting_type: Series[str] = pa.Field(isin=["Debit", "Credit"])
    amount_cents: Series[int] = pa.Field(gt=0)

    @pa.dataframe_check(error="debits != credits")
    def balanced(cls, df: pd.DataFrame) -> bool:
        signed = df["amount_cents"].where(df["posting_type"] == "Debit", -df["amount_cents"])
        return int(signed.sum()) == 0

    class Config:
        strict = True
        coerce = True


class AccountTie(pa.DataFrameModel):
    """Per account: the entry's net debit equals the summary's change in deferred balances."""

    account: Series[str] = pa.Field(unique=True)
    journal_net_debit_cents: Series[int]
    expected_net_debit_cents: Series[int]

    @pa.dataframe_check(error="the entry's net debit differs from the revenue summary")
    def ties(cls, df: pd.DataFrame) -> Series[bool]:
        return df["journal_net_debit_cents"] == df["expected_net_debit_cents"]

    class Config:
        strict = True
        coerce = True


def tie_frame(summary: MonthRevenue, invoiced: Mapping[str, int]) -> pd.DataFrame:
    rows = [
        {
            "category": c.category,
            "billed_cents": c.billed_cents,
            "invoiced_cents": int(invoiced.get(c.category, 0)),
            "recognized_cents": c.recognized_cents,
            "deferred_opening_cents": c.deferred_opening_cents,
            "deferred_closing_cents": c.deferred_closing_cents,
        }
        for c in summary.categories
    ]
    rows.append(
        {
            "category": TOTAL,
            "billed_cents": summary.total("billed_cents"),
            "invoiced_cents": int(invoiced.get("_bills", sum(int(r["invoiced_cents"]) for r in rows))),
            "recognized_cents": summary.total("recognized_cents"),
            "deferred_opening_cents": summary.total("deferred_opening_cents"),
            "deferred_closing_cents": summary.total("deferred_closing_cents"),
        }
    )
    return pd.DataFrame(rows)


def lines_frame(payload: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "account": str(line["JournalEntryLineDetail"]["AccountRef"]["value"]),
            "posting_type": str(line["JournalEntryLineDetail"].get("PostingType")),
            "amount_cents": to_cents(line["Amount"]),
        }
        for line in payload.get("Line") or []
        if line.get("DetailType") == "JournalEntryLineDetail"
    ]
    return pd.DataFrame(rows, columns=["account", "posting_type", "amount_cents"]).astype(
        {"account": str, "posting_type": str, "amount_cents": "int64"}
    )


def account_frame(summary: MonthRevenue, payload: Mapping[str, Any]) -> pd.DataFrame:
    have = net_debits_by_account(payload)
    want = expected_net_debits(summary)
    rows = [
        {
            "account": k.removeprefix(ACCOUNT_PREFIX),
            "journal_net_debit_cents": have.get(k, 0),
            "expected_net_debit_cents": want.get(k, 0),
        }
        for k in sorted(set(have) | set(want))
    ]
    return pd.DataFrame(
        rows, columns=["account", "journal_net_debit_cents", "expected_net_debit_cents"]
    ).astype({"account": str, "journal_net_debit_cents": "int64", "expected_net_debit_cents": "int64"})


def validate_frames(tie: pd.DataFrame, lines: pd.DataFrame, accounts: pd.DataFrame) -> CheckOutcome:
    """Run the three schemas lazily; failures come back as one markdown table."""
    failures: list[pd.DataFrame] = []
    for name, model, frame in (
        ("RevenueTie", RevenueTie, tie),
        ("JournalLines", JournalLines, lines),
        ("AccountTie", AccountTie, accounts),
    ):
        try:
            model.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as exc:
            fc = exc.failure_cases[["column", "check", "failure_case", "index"]].astype(str)
            fc.insert(0, "frame", name)
            failures.append(fc)
    metadata: dict[str, Any] = {
        "lines": len(lines),
        "billed_total_cents": int(tie.loc[tie["category"] == TOTAL, "billed_cents"].sum()),
    }
    if failures:
        table = pd.concat(failures, ignore_index=True)
        metadata["num_failures"] = len(table)
        metadata["failures"] = Markdown(table.to_markdown(index=False))
        return CheckOutcome(CHECK_NAME, passed=False, metadata=metadata)
    return CheckOutcome(CHECK_NAME, passed=True, metadata=metadata)


def check_revenue(
    summary: MonthRevenue, payload: Mapping[str, Any], invoiced: Mapping[str, int]
) -> CheckOutcome:
    """The check for one month: the summary ties to the invoices and the entry balances and ties to it."""
    return validate_frames(
        tie_frame(summary, invoiced), lines_frame(payload), account_frame(summary, payload)
    )
