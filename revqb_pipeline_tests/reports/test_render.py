"""The report's pure parts: aging buckets, difference rows, the CSV columns, the HTML and its charts, the
markdown summary; and the layering (renderers do no I/O)."""

from __future__ import annotations

import ast
import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

import revqb_pipeline
from revqb_pipeline.reports import COLUMNS, render_csv, render_html, summary_markdown
from revqb_pipeline.reports.aging import age, bucket_index
from revqb_pipeline.reports.model import BUCKET_COLUMNS, OpenItem, ReconciliationReport
from revqb_pipeline.sync.reconcile import AMOUNT, MISSING_IN_QBO, OTHER, EntityReconciliation

AS_OF = date(2026, 3, 31)


@pytest.mark.parametrize(
    ("due", "bucket"),
    [
        (None, 0),
        (date(2026, 4, 15), 0),
        (date(2026, 3, 31), 0),
        (date(2026, 3, 30), 1),
        (date(2026, 3, 1), 1),  # 30 days
        (date(2026, 2, 28), 2),  # 31 days
        (date(2026, 1, 30), 2),  # 60
        (date(2026, 1, 29), 3),  # 61
        (date(2025, 12, 31), 3),  # 90
        (date(2025, 12, 30), 4),  # 91
    ],
)
def test_bucket_boundaries(due: date | None, bucket: int) -> None:
    assert bucket_index(due, AS_OF) == bucket


def test_age_sums_per_customer_and_side() -> None:
    items = [
        OpenItem("revio", "Acme (Rev.io 1)", "bill 1", date(2026, 3, 1), 10_001),
        OpenItem("revio", "Acme (Rev.io 1)", "bill 2", date(2025, 11, 1), 5_000),
        OpenItem("qbo", "Acme (Rev.io 1)", "Invoice 9", date(2026, 3, 1), 10_001),
        OpenItem("revio", "Zed (Rev.io 2)", "bill 3", None, -250),
    ]
    lines = age(items, AS_OF)
    assert [(a.customer, a.side, a.buckets) for a in lines] == [
        ("Acme (Rev.io 1)", "revio", (0, 10_001, 0, 0, 5_000)),
        ("Acme (Rev.io 1)", "qbo", (0, 10_001, 0, 0, 0)),
        ("Zed (Rev.io 2)", "revio", (-250, 0, 0, 0, 0)),
    ]
    assert sum(a.total_cents for a in lines if a.side == "revio") == 14_751


def sample() -> ReconciliationReport:
    inv = EntityReconciliation("invoices", 3, 2, 30_000, 20_000)
    inv.differ(
        MISSING_IN_QBO,
        "bill 7",
        "bill 7: no QBO invoice (quarantined: <bad> & 'odd')",
        revio_cents=10_000,
        qbo_document="RIO-7",
        customer="A|B <Co> (Rev.io 4)",
    )
    inv.differences.append("bill 8: a line added without details")
    pay = EntityReconciliation("payments", 1, 1, 1_234_567, 1_234_500)
    pay.differ(
        AMOUNT,
        "payment 5",
        "payment 5: Rev.io net 12345.67 vs QBO 12345.00",
        revio_cents=1_234_567,
        qbo_cents=1_234_500,
        qbo_document="Payment 44",
        customer="Acme (Rev.io 1)",
    )
    customers = EntityReconciliation("customers", 2, 2, has_total=False)
    items = [
        OpenItem("revio", "Acme (Rev.io 1)", "bill 1", date(2026, 3, 1), 10_001),
        OpenItem("qbo", "Acme (Rev.io 1)", "Invoice 9", date(2026, 1, 1), 10_001),
    ]
    return ReconciliationReport(
        AS_OF, datetime(2026, 4, 1, 6, tzinfo=UTC), [customers, inv, pay], age(items, AS_OF)
    )


def test_difference_rows_cover_every_line() -> None:
    report = sample()
    rows = report.differences
    assert [(d.entity, d.kind, d.document) for d in rows] == [
        ("invoices", MISSING_IN_QBO, "bill 7"),
        ("invoices", OTHER, "bill 8"),
        ("payments", AMOUNT, "payment 5"),
    ]
    assert sum(len(r.differences) for r in report.results) == len(rows)
    assert "details" not in report.results[1].as_dict()  # the --json shape is unchanged


def test_csv_has_the_documented_columns_and_exact_amounts() -> None:
    rows = list(csv.DictReader(io.StringIO(render_csv(sample()))))
    assert list(rows[0]) == list(COLUMNS)
    sections = [r["section"] for r in rows]
    assert sections == ["summary"] * 3 + ["difference"] * 3 + ["aging"] * 2 + ["aging_total"] * 2
    customers, invoices = rows[:2]
    assert customers["revio_amount"] == "" and customers["status"] == "OK"
    assert (invoices["revio_amount"], invoices["qbo_amount"], invoices["difference"]) == (
        "300.00",
        "200.00",
        "-100.00",
    )
    assert invoices["status"] == "DIFFERENT"
    missing = rows[3]
    assert (missing["document"], missing["qbo_document"], missing["revio_amount"], missing["qbo_amount"]) == (
        "bill 7",
        "RIO-7",
        "100.00",
        "",
    )
    assert missing["customer"] == "A|B <Co> (Rev.io 4)"
    amount = rows[5]
    got = (amount["revio_amount"], amount["qbo_amount"], amount["difference"])
    assert got == ("12345.67", "12345.00", "-0.67")
    acme_revio, acme_qbo = rows[6], rows[7]
    assert acme_revio["days_1_30"] == "100.01" and acme_qbo["days_61_90"] == "100.01"
    for total in rows[8:]:
        assert sum(Decimal(total[c]) for c in BUCKET_COLUMNS) == Decimal(total["total"]) == Decimal("100.01")


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_is_self_contained_escaped_and_charted() -> None:
    html = render_html(sample())
    parser = Tags()
    parser.feed(html)
    parser.close()
    names = [t for t, _ in parser.tags]
    assert "script" not in names and "link" not in names and "img" not in names
    ids = {a.get("id") for _, a in parser.tags}
    assert {"totals", "differences", "aging", "totals-chart", "aging-chart"} <= ids
    text = "".join(parser.text)
    assert "quarantined: <bad> & 'odd'" in text and "A|B <Co> (Rev.io 4)" in text  # escaped, round-trips
    assert "<bad>" not in html
    assert "$12,345.67" in text and "-$100.00" in text
    bars = [a for t, a in parser.tags if t == "rect" and a.get("height") != "10"]  # not the legend
    widths = [float(a["width"] or 0) for a in bars]
    assert max(widths) == pytest.approx(720 - 130 - 120)  # the largest total fills the plot


def test_summary_markdown_lists_totals_and_differences() -> None:
    md = summary_markdown(sample(), limit=2)
    assert "| invoices | 3 | 2 | $300.00 | $200.00 | **DIFFERENT** |" in md
    assert "| customers | 2 | 2 | - | - | OK |" in md
    assert "**3 difference(s)** (first 2)" in md
    assert "A\\|B <Co> (Rev.io 4)" in md  # a pipe cannot break the table
    assert "payment 5" not in md


PURE = ("model.py", "aging.py", "chart.py", "tables.py", "render.py")
ALLOWED = ("revqb_pipeline.money", "revqb_pipeline.sync.reconcile", "revqb_pipeline.reports.")


def test_renderers_do_no_io() -> None:
    """The pure report modules import only the standard library, money, the reconcile dataclasses and each
    other; ``sync/reconcile.py`` itself imports the Runtime only for type checking."""
    folder = Path(revqb_pipeline.__file__).parent / "reports"
    for name in PURE:
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
            elif isinstance(node, ast.Import):
                mod = node.names[0].name
            else:
                continue
            if mod.startswith(("revqb_pipeline", "dagster", "httpx", "sqlalchemy")):
                assert mod.startswith(ALLOWED), f"{name} imports {mod}"
    tree = ast.parse((folder.parent / "sync" / "reconcile.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert all(
        n.module
        in ("__future__", "collections", "collections.abc", "dataclasses", "typing", "revqb_pipeline.money")
        for n in top
    ), [n.module for n in top]
