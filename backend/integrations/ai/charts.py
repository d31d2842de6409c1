"""Server-rendered SVG charts for the usage dashboard: no JavaScript, no CDN, readable offline.

Each function returns one `<svg class="chart" id="chart-...">` element (stable ids for the browser
tests) that scales to its container through its `viewBox`. Every bar carries a `<title>` tooltip
and `data-` attributes with its label and value; labels are escaped, since callers, aliases and
provider names are admin-entered text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Final

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from .dashboard import DayStats, GroupStats

WIDTH: Final = 720
COLORS: Final = {
    "success": "#5b9a68",
    "error": "#c9463d",
    "cost": "#417690",
    "p50": "#79aec8",
    "p95": "#205067",
    "axis": "#999",
    "text": "currentColor",
}
_LABEL_W: Final = 150
_ROW_H: Final = 26


def format_cost(value: Decimal | None) -> str:
    """US dollars, with enough places that a fraction of a cent still shows."""
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    if abs(value) >= Decimal("0.01"):
        return f"${value:.4f}"
    return f"${value:.6f}".rstrip("0")


def format_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:,.0f} ms"


def _svg(chart_id: str, title: str, height: int, parts: Iterable[str]) -> SafeString:
    body = "".join(parts)
    # Every interpolated value is a number, a constant or escaped.
    return mark_safe(
        f'<svg class="chart" id="{escape(chart_id)}" role="img" aria-labelledby="{escape(chart_id)}-title" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>{body}</svg>'
    )


def _text(x: float, y: float, label: str, *, anchor: str = "start", cls: str = "label") -> str:
    return (
        f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{COLORS["text"]}">'
        f"{escape(label)}</text>"
    )


def _rect(x: float, y: float, w: float, h: float, kind: str, tip: str, label: str, value: str) -> str:
    return (
        f'<rect class="bar bar-{kind}" x="{x:.1f}" y="{y:.1f}" '
        f'width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{COLORS[kind]}" data-label="{escape(label)}" data-value="{escape(value)}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _empty(chart_id: str, title: str) -> SafeString:
    return _svg(
        chart_id, title, 60, [_text(WIDTH / 2, 34, "No calls in this period.", anchor="middle", cls="empty")]
    )


def _legend(y: float, items: Sequence[tuple[str, str]]) -> str:
    parts, x = [], 0.0
    for kind, label in items:
        parts.append(
            f'<rect class="legend legend-{kind}" x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" '
            f'fill="{COLORS[kind]}"></rect>'
        )
        parts.append(_text(x + 14, y, label))
        x += 24 + 7 * len(label)
    return "".join(parts)


def calls_per_day(days: Sequence[DayStats]) -> SafeString:
    """Stacked columns: successful calls below, failed ones on top, one column per day."""
    chart_id, title = "chart-calls-per-day", "Calls per day (successful and failed)"
    peak = max((d.success + d.errors for d in days), default=0)
    if not days or peak == 0:
        return _empty(chart_id, title)
    height, top, bottom, left = 220, 24, 28, 44
    plot_h, plot_w = height - top - bottom, WIDTH - left - 8
    step = plot_w / len(days)
    bar_w = max(step * 0.8, 1)
    parts = [_legend(12, [("success", "successful"), ("error", "failed")])]
    parts.append(_text(left - 6, top + 8, f"{peak:,}", anchor="end", cls="axis"))
    parts.append(_text(left - 6, top + plot_h, "0", anchor="end", cls="axis"))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 8}" y2="{top + plot_h}" '
        f'stroke="{COLORS["axis"]}"/>'
    )
    every = max(1, round(len(days) / 8))
    for index, day in enumerate(days):
        x = left + index * step + (step - bar_w) / 2
        ok_h, err_h = plot_h * day.success / peak, plot_h * day.errors / peak
        label = day.day.isoformat()
        tip = f"{label}: {day.success:,} successful, {day.errors:,} failed"
        parts.append(_rect(x, top + plot_h - ok_h, bar_w, ok_h, "success", tip, label, str(day.success)))
        parts.append(
            _rect(x, top + plot_h - ok_h - err_h, bar_w, err_h, "error", tip, label, str(day.errors))
        )
        last = len(days) - 1
        if index == last or (index % every == 0 and last - index >= every / 2):
            parts.append(
                _text(x + bar_w / 2, height - 10, day.day.strftime("%b %d"), anchor="middle", cls="axis")
            )
    return _svg(chart_id, title, height, parts)


def _hbars(
    chart_id: str, title: str, rows: Sequence[tuple[str, Sequence[tuple[str, float, str]]]]
) -> SafeString:
    """Horizontal bars, one row per label, one or more (kind, value, text) bars per row."""
    peak = max((value for _, bars in rows for _, value, _ in bars), default=0)
    if not rows or peak <= 0:
        return _empty(chart_id, title)
    per_bar = max(len(bars) for _, bars in rows)
    row_h = _ROW_H if per_bar == 1 else 12 * per_bar + 8
    plot_w = WIDTH - _LABEL_W - 110
    parts = []
    kinds = [kind for kind, _, _ in rows[0][1]]
    legend_h = 20 if per_bar > 1 else 0
    if legend_h:
        parts.append(_legend(12, [(kind, kind) for kind in kinds]))
    for index, (label, bars) in enumerate(rows):
        y = legend_h + index * row_h + 4
        parts.append(_text(_LABEL_W - 8, y + row_h / 2 + 2, label or "(blank)", anchor="end"))
        bar_h = (row_h - 8) / len(bars)
        for offset, (kind, value, text) in enumerate(bars):
            w = plot_w * value / peak
            by = y + offset * bar_h
            parts.append(_rect(_LABEL_W, by, w, bar_h - 1, kind, f"{label}: {text} ({kind})", label, text))
            parts.append(_text(_LABEL_W + w + 6, by + bar_h / 2 + 3, text, cls="value"))
    return _svg(chart_id, title, legend_h + len(rows) * row_h + 8, parts)


def cost_by_provider(groups: Sequence[GroupStats]) -> SafeString:
    """One bar per provider: the period's cost in USD."""
    rows = [
        (g.key, [("cost", float(g.cost), format_cost(g.cost))]) for g in sorted(groups, key=lambda g: -g.cost)
    ]
    return _hbars("chart-cost-by-provider", "Cost per provider (USD)", rows)


def latency_by_provider(groups: Sequence[GroupStats]) -> SafeString:
    """Two bars per provider: median and 95th-percentile latency of successful calls."""
    rows = [
        (
            g.key,
            [("p50", g.p50_ms or 0.0, format_ms(g.p50_ms)), ("p95", g.p95_ms or 0.0, format_ms(g.p95_ms))],
        )
        for g in groups
        if g.p50_ms is not None
    ]
    return _hbars("chart-latency-by-provider", "Latency per provider, successful calls (p50 and p95)", rows)
