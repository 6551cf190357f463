"""Inline SVG bar charts (no script, no external file): Rev.io vs QBO per category. Pure.

Amounts are integer cents; only the drawing coordinates are floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from revqb_pipeline.money import cents_to_dollars

COLORS = ("#2b6cb0", "#dd6b20")  # Rev.io, QBO
BAR = 14
GAP = 10
LABEL_W = 130
VALUE_W = 120
WIDTH = 720


def grouped_bars(
    chart_id: str, title: str, categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]
) -> str:
    """A horizontal grouped bar chart (``<svg id=chart_id>``): one group per category, one bar per series
    (``(name, cents)``)."""
    top = 40
    group_h = len(series) * BAR + GAP
    height = top + len(categories) * group_h + 10
    peak = max([abs(v) for _, values in series for v in values] + [1])
    plot_w = WIDTH - LABEL_W - VALUE_W
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{chart_id}" class="chart" role="img" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (name, _) in enumerate(series):
        x = LABEL_W + i * 110
        parts.append(f'<rect x="{x}" y="22" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>')
        parts.append(f'<text x="{x + 14}" y="31">{escape(name)}</text>')
    for c, category in enumerate(categories):
        y0 = top + c * group_h
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y0 + len(series) * BAR / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(category)}</text>'
        )
        for s, (name, values) in enumerate(series):
            cents = values[c]
            w = plot_w * abs(cents) / peak
            y = y0 + s * BAR
            label = cents_to_dollars(cents)
            tip = escape(f"{category} {name}: {label}")
            parts.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{w:.2f}" height="{BAR - 2}" '
                f'fill="{COLORS[s % len(COLORS)]}"><title>{tip}</title></rect>'
            )
            parts.append(f'<text x="{LABEL_W + w + 4:.2f}" y="{y + BAR - 4}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
