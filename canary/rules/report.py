"""Small reports without a plotting library or the network: text tables, Unicode sparklines
for chat, and an inline SVG line chart inside an HTML report for e-mail.

Pure functions, so the detector workflow can build the chat text itself and the tests can
check exactly what a person sees.
"""

from __future__ import annotations

from html import escape
from typing import Any

SPARK = "▁▂▃▄▅▆▇█"


def format_value(value: float | None, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "money_cents":
        return f"${value / 100:,.0f}"
    if fmt == "percent":
        return f"{value * 100:.1f}%"
    if fmt == "ratio":
        return f"{value:.2f}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def sparkline(values: list[float]) -> str:
    """``▁▂▅█``: one character per value, scaled between the series' min and max."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK[3] * len(values)
    top = len(SPARK) - 1
    return "".join(SPARK[round((v - low) / (high - low) * top)] for v in values)


def text_table(rows: list[list[str]]) -> str:
    """A monospace table (first row is the header) for a Slack code block or a plain e-mail."""
    if not rows:
        return ""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def svg_line_chart(
    points: list[tuple[str, float]],
    *,
    threshold: float | None = None,
    width: int = 480,
    height: int = 160,
    title: str = "",
) -> str:
    """An inline SVG line chart with an optional dashed threshold line."""
    pad_left, pad_right, pad_top, pad_bottom = 48, 12, 20, 28
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    values = [v for _, v in points]
    if threshold is not None:
        values.append(threshold)
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1

    def x(i: int) -> float:
        return pad_left + (plot_w * i / max(len(points) - 1, 1))

    def y(v: float) -> float:
        return pad_top + plot_h - (v - low) / (high - low) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{pad_left}" y="14" font-family="sans-serif" font-size="12" '
        f'fill="#333">{escape(title)}</text>',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - pad_right}" '
        f'y2="{pad_top + plot_h}" stroke="#999"/>',
        f'<text x="4" y="{pad_top + 10}" font-family="sans-serif" font-size="10" '
        f'fill="#666">{_short(high)}</text>',
        f'<text x="4" y="{pad_top + plot_h}" font-family="sans-serif" font-size="10" '
        f'fill="#666">{_short(low)}</text>',
    ]
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line x1="{pad_left}" y1="{ty:.1f}" x2="{width - pad_right}" y2="{ty:.1f}" '
            'stroke="#d33" stroke-dasharray="4 3"/>'
        )
    if points:
        path = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(points))
        parts.append(f'<polyline fill="none" stroke="#2a6ebb" stroke-width="2" points="{path}"/>')
        last_x, last_y = x(len(points) - 1), y(points[-1][1])
        parts.append(f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="3.5" fill="#2a6ebb"/>')
        parts.append(
            f'<text x="{pad_left}" y="{height - 8}" font-family="sans-serif" font-size="10" '
            f'fill="#666">{escape(points[0][0])}</text>'
        )
        parts.append(
            f'<text x="{width - pad_right}" y="{height - 8}" text-anchor="end" '
            f'font-family="sans-serif" font-size="10" fill="#666">{escape(points[-1][0])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if magnitude >= 1_000:
        return f"{value / 1_000:.1f}k"
    if magnitude < 1:
        return f"{value:.3f}"
    return f"{value:.1f}"


def html_report(
    title: str,
    intro: str,
    points: list[tuple[str, float]],
    fmt: str,
    *,
    threshold: float | None = None,
    value_label: str = "Value",
    links: list[tuple[str, str]] | None = None,
) -> str:
    """A self-contained HTML report: the chart (inline SVG) above the table of values."""
    rows = "".join(
        f"<tr><td>{escape(period)}</td><td style='text-align:right'>"
        f"{escape(format_value(value, fmt))}</td></tr>"
        for period, value in points
    )
    link_html = "".join(
        f"<li><a href='{escape(url, quote=True)}'>{escape(label)}</a></li>"
        for label, url in links or []
    )
    chart = svg_line_chart(points, threshold=threshold, title=title)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head>"
        "<body style='font-family:sans-serif;color:#222'>"
        f"<h2>{escape(title)}</h2><p>{escape(intro)}</p>{chart}"
        "<table style='border-collapse:collapse;margin-top:12px' border='1' cellpadding='4'>"
        f"<thead><tr><th>Period</th><th>{escape(value_label)}</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        + (f"<ul>{link_html}</ul>" if link_html else "")
        + "</body></html>"
    )


def series_points(series: Any) -> list[tuple[str, float]]:
    """``[{"period": …, "value": …}]`` facts back into points (facts travel as JSON)."""
    points: list[tuple[str, float]] = []
    for item in series or []:
        if isinstance(item, dict) and item.get("value") is not None:
            points.append((str(item.get("period")), float(item["value"])))
    return points
