"""Rendering a Report: a terminal table, and an HTML page with server-side SVG charts.

The page loads nothing from anywhere (no scripts, fonts or stylesheets from the internet):
CSS is inline and the charts are SVG drawn here, so it works on a locked-down network and in
an e-mail. Numbers that tests compare are also carried in ``data-*`` attributes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from canary.adapters import format_amount
from canary.reports.models import PHASES, STANDINGS, RecoveryGroup, Report

#: One colour per error type, in the order of ``report.error_types``; colour-blind friendly.
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
PHASE_COLOURS = {
    "diagnosis": "#bab0ac",
    "automated": "#59a14f",
    "waiting_for_person": "#edc948",
    "escalated": "#e15759",
}
PHASE_LABELS = {
    "diagnosis": "diagnosis",
    "automated": "automated",
    "waiting_for_person": "waiting for a person",
    "escalated": "escalated",
}


#: Where a failed invoice stands (canary.reports.recovery): recoveries in greens and blues.
STANDING_COLOURS = {
    "scheduled_retry": "#59a14f",
    "card_update_retry": "#8cd17d",
    "hosted_page": "#4e79a7",
    "person_retry": "#76b7b2",
    "open": "#edc948",
    "written_off": "#e15759",
    "not_recovered": "#9c755f",
    "unattributed": "#bab0ac",
}
STANDING_LABELS = {
    "scheduled_retry": "scheduled retry",
    "card_update_retry": "retry after a card update",
    "hosted_page": "payer on the hosted page",
    "person_retry": "a person's retry",
    "open": "still being recovered",
    "written_off": "written off",
    "not_recovered": "not recovered",
    "unattributed": "resolved, not attributed",
}
assert set(STANDING_COLOURS) == set(STANDING_LABELS) == set(STANDINGS)


def money(amounts: dict[str, int]) -> str:
    """``$1,130.00 + €70.00``; ``–`` for nothing."""
    return " + ".join(format_amount(v, c) for c, v in amounts.items()) or "–"


def amount_rates(failed: dict[str, int], recovered: dict[str, int]) -> list[str]:
    """Per currency: ``$430.00 of $1,130.00 (38.1%)``."""
    return [
        f"{format_amount(recovered.get(c, 0), c)} of {format_amount(v, c)} "
        f"({recovered.get(c, 0) / v:.1%})"
        for c, v in failed.items()
        if v
    ]


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def short_duration(seconds: float | None) -> str:
    """``42s``, ``5m 10s``, ``3h 05m``, ``2d 4h``; ``–`` when there is nothing to measure."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds:.1f}s" if seconds else "0s"
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def colours(report: Report) -> dict[str, str]:
    return {t: PALETTE[n % len(PALETTE)] for n, t in enumerate(report.error_types)}


def frequency_svg(report: Report, width: int = 760, height: int = 220) -> str:
    """Stacked bars: remediations started per day, one colour per error type."""
    days = report.frequency
    pad_left, pad_right, pad_top, pad_bottom = 36, 8, 12, 28
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    top = max((d.total for d in days), default=0) or 1
    slot = plot_w / max(len(days), 1)
    bar = min(max(slot * 0.75, 1.0), 48.0)  # a week or a single day: bars, not a wall
    palette = colours(report)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Remediations started per day" '
        'class="chart" id="frequency-chart">',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - pad_right}" '
        f'y2="{pad_top + plot_h}" stroke="#999"/>',
        f'<text x="{pad_left - 6}" y="{pad_top + 4}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" text-anchor="end" font-size="11">'
        "0</text>",
    ]
    label_every = max(1, len(days) // 10)
    for n, day in enumerate(days):
        x = pad_left + n * slot + (slot - bar) / 2
        y = float(pad_top + plot_h)
        for error_type, count in sorted(day.by_type.items()):
            h = plot_h * count / top
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{palette.get(error_type, "#888")}" data-day="{day.day}" '
                f'data-type="{escape(error_type)}" data-count="{count}">'
                f"<title>{day.day}: {count} {escape(error_type)}</title></rect>"
            )
        if n % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="10">{day.day:%m-%d}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def mttr_svg(report: Report, width: int = 760) -> str:
    """Horizontal bars per error type: MTTR p50 (solid) and p90 (pale behind it)."""
    rows = [s for s in report.by_type if s.mttr.count]
    row_h, pad_left, pad_right, pad_top = 26, 170, 120, 8
    height = pad_top * 2 + row_h * max(len(rows), 1)
    top = max((s.mttr.p90 or 0 for s in rows), default=0) or 1
    plot_w = width - pad_left - pad_right
    palette = colours(report)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Time to resolution per type" '
        'class="chart" id="mttr-chart">'
    ]
    if not rows:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="12">'
            "Nothing resolved in this window</text>"
        )
    for n, stats in enumerate(rows):
        y = pad_top + n * row_h
        p50, p90 = stats.mttr.p50 or 0.0, stats.mttr.p90 or 0.0
        colour = palette.get(stats.error_type, "#888")
        parts += [
            f'<text x="{pad_left - 8}" y="{y + 17}" text-anchor="end" font-size="12">'
            f"{escape(stats.error_type)}</text>",
            f'<rect x="{pad_left}" y="{y + 4}" width="{plot_w * p90 / top:.1f}" height="18" '
            f'fill="{colour}" opacity="0.35"><title>p90 {short_duration(p90)}</title></rect>',
            f'<rect x="{pad_left}" y="{y + 8}" width="{plot_w * p50 / top:.1f}" height="10" '
            f'fill="{colour}"><title>p50 {short_duration(p50)}</title></rect>',
            f'<text x="{pad_left + plot_w * p90 / top + 6:.1f}" y="{y + 17}" font-size="11">'
            f"p50 {short_duration(p50)} · p90 {short_duration(p90)}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)


def time_spent_svg(report: Report, width: int = 760) -> str:
    """One 100 % bar per error type: the share of its time in each phase."""
    rows = report.time_spent
    row_h, pad_left, pad_top = 26, 170, 8
    height = pad_top * 2 + row_h * max(len(rows), 1)
    plot_w = width - pad_left - 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="Where the time goes" '
        'class="chart" id="time-chart">'
    ]
    for n, row in enumerate(rows):
        y = pad_top + n * row_h
        x = float(pad_left)
        parts.append(
            f'<text x="{pad_left - 8}" y="{y + 17}" text-anchor="end" font-size="12">'
            f"{escape(row.error_type)}</text>"
        )
        for phase in PHASES:
            w = plot_w * row.shares.get(phase, 0.0)
            if w <= 0:
                continue
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="18" '
                f'fill="{PHASE_COLOURS[phase]}"><title>{PHASE_LABELS[phase]}: '
                f"{short_duration(row.seconds[phase])} ({row.shares[phase]:.0%})</title></rect>"
            )
            x += w
    parts.append("</svg>")
    return "".join(parts)


def recovery_svg(report: Report, width: int = 760) -> str:
    """One 100 % bar per decline class (and all together): where its failed invoices stand,
    recovered (by what) or not."""
    recovery = report.recovery
    rows: list[RecoveryGroup] = list(recovery.by_decline_class)
    if len(rows) != 1:
        rows.append(
            RecoveryGroup(
                key="all",
                invoices=recovery.invoices,
                recovered=recovery.recovered,
                recovery_rate=recovery.recovery_rate,
                standings=recovery.standings,
                failed_amount=recovery.failed_amount,
                recovered_amount=recovery.recovered_amount,
            )
        )
    row_h, pad_left, pad_right, pad_top = 26, 170, 150, 8
    height = pad_top * 2 + row_h * max(len(rows), 1)
    plot_w = width - pad_left - pad_right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Where failed invoices stand, per decline class" '
        'class="chart" id="recovery-chart">'
    ]
    if not recovery.invoices:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2 + 4}" text-anchor="middle" font-size="12">'
            "No payment failed in this window</text>"
        )
    for n, row in enumerate(rows if recovery.invoices else []):
        y = pad_top + n * row_h
        x = float(pad_left)
        parts.append(
            f'<text x="{pad_left - 8}" y="{y + 17}" text-anchor="end" font-size="12">'
            f"{escape(row.key.replace('_', ' '))}</text>"
        )
        for standing in STANDINGS:
            count = row.standings.get(standing, 0)
            if not count or not row.invoices:
                continue
            w = plot_w * count / row.invoices
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 4}" width="{w:.1f}" height="18" '
                f'fill="{STANDING_COLOURS[standing]}" data-class="{escape(row.key)}" '
                f'data-standing="{standing}" data-count="{count}">'
                f"<title>{escape(row.key)}: {count} {STANDING_LABELS[standing]}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{pad_left + plot_w + 6}" y="{y + 17}" font-size="11">'
            f"{row.recovered} of {row.invoices} recovered ({rate(row.recovery_rate)})</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


_env = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["duration"] = short_duration
_env.filters["money"] = money
_env.filters["rate"] = rate


def render_html(
    report: Report,
    refresh_seconds: int = 60,
    json_url: str = "/api/report",
    whatif_url: str | None = None,
) -> str:
    """The dashboard. ``whatif_url``: where the comparison of the default catalog with the
    deployment's own (CANARY_CATALOG) is, linked from the header when there is one."""
    template = _env.get_template("report.html.j2")
    return template.render(
        report=report,
        refresh_seconds=refresh_seconds,
        json_url=json_url,
        whatif_url=whatif_url,
        colours=colours(report),
        phases=PHASES,
        phase_labels=PHASE_LABELS,
        phase_colours=PHASE_COLOURS,
        frequency_chart=Markup(frequency_svg(report)),
        mttr_chart=Markup(mttr_svg(report)),
        time_chart=Markup(time_spent_svg(report)),
        recovery_chart=Markup(recovery_svg(report)),
        standings=STANDINGS,
        standing_labels=STANDING_LABELS,
        standing_colours=STANDING_COLOURS,
        amount_rates=amount_rates,
    )


def _table(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _recovery_text(report: Report) -> list[str]:
    r = report.recovery
    out = [
        "RECOVERY (failed payments)",
        f"  over {r.denominator}",
        f"  {r.recovered} of {r.invoices} invoices recovered ({rate(r.recovery_rate)}) · "
        + " · ".join(
            f"{r.standings[s]} {STANDING_LABELS[s]}"
            for s in ("open", "written_off", "not_recovered", "unattributed")
        ),
    ]
    amounts = amount_rates(r.failed_amount, r.recovered_amount)
    if amounts:
        out.append("  amount recovered: " + " · ".join(amounts))
    if r.without_amount:
        out.append(f"  ({r.without_amount} invoice(s) without a known amount)")
    ttr = r.time_to_recover
    out.append(
        f"  time to recover: p50 {short_duration(ttr.p50)} · p90 {short_duration(ttr.p90)} "
        f"({ttr.count} recovered)"
    )
    out.append(f"  at risk now: {r.at_risk_invoices} invoices, {money(r.at_risk_amount)}")
    if r.by_decline_class:
        out += _table(
            [["decline class", "invoices", "recovered", "rate", "failed", "recovered amount"]]
            + [
                [
                    g.key,
                    str(g.invoices),
                    str(g.recovered),
                    rate(g.recovery_rate),
                    money(g.failed_amount),
                    money(g.recovered_amount),
                ]
                for g in r.by_decline_class
            ]
        )
    if r.recovered:
        out += _table(
            [["recovered by", "invoices", "of recoveries", "of failures", "amount"]]
            + [
                [
                    STANDING_LABELS[w.key],
                    str(w.recovered),
                    rate(w.share_of_recoveries),
                    rate(w.share_of_failures),
                    money(w.recovered_amount),
                ]
                for w in r.by_recovered_by
            ]
        )
    if r.by_attempt:
        out.append(
            "  by scheduled retry: "
            + " · ".join(f"attempt {w.key}: {w.recovered}" for w in r.by_attempt)
        )
    return out


def render_text(report: Report) -> str:
    """The terminal table: the same sections as the page, without the charts."""
    t = report.totals
    out = [
        f"Canary report {report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC "
        f"(namespace {report.namespace})",
        f"open now {t.open_now} · opened {t.opened} ({t.occurrences} reports) · closed {t.closed}",
        "",
        f"OPEN REMEDIATIONS ({report.open.total}, oldest first)",
    ]
    out += _table(
        [["age", "type", "severity", "state", "level", "owner", "account", "workflow"]]
        + [
            [
                short_duration(o.age_seconds),
                o.error_type,
                o.severity,
                o.state,
                str(o.escalation_level),
                o.owner or "-",
                o.account,
                o.workflow_id,
            ]
            for o in report.open.items
        ]
    ) or ["  none"]
    out += ["", "PER TYPE"]
    out += _table(
        [["type", "opened", "closed", "open", "MTTA p50", "MTTA p90", "MTTR p50", "MTTR p90"]]
        + [
            [
                s.error_type,
                str(s.opened),
                str(s.closed),
                str(s.open_now),
                short_duration(s.mtta.p50),
                short_duration(s.mtta.p90),
                short_duration(s.mttr.p50),
                short_duration(s.mttr.p90),
            ]
            for s in report.by_type
        ]
    ) or ["  none"]
    out += ["", "OUTCOMES (closed in window)"]
    out += [f"  {o.outcome:<20} {o.count:>4}  {o.share:6.1%}" for o in report.outcomes]
    out += ["", "QUIET WINDOWS (open at some time in the window)"]
    out += [
        f"  {w.id}  {w.scope()}  {w.starts_at:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M} UTC"
        f"  “{w.reason}” (by {w.opener}"
        + (f"; ended early by {w.ended_by}" if w.ended_by else "")
        + ")"
        for w in report.windows
    ] or ["  none"]
    out += ["", "DISMISSED, BY REASON (closed in window)"]
    out += [
        f"  {d.count:>4}  {d.reason}  ("
        + ", ".join(f"{t} {n}" for t, n in sorted(d.by_type.items()))
        + ")"
        for d in report.dismissals
    ] or ["  none"]
    out += ["", "WHERE THE TIME GOES (closed in window)"]
    out += _table(
        [["type", *[PHASE_LABELS[p] for p in PHASES]]]
        + [
            [
                row.error_type,
                *[f"{short_duration(row.seconds[p])} ({row.shares[p]:.0%})" for p in PHASES],
            ]
            for row in report.time_spent
        ]
    ) or ["  nothing closed"]
    if report.steps:
        out += [""]
        out += _table(
            [["type", "step", "runs", "failed", "total", "mean"]]
            + [
                [
                    s.error_type,
                    s.step,
                    str(s.runs),
                    str(s.failures),
                    short_duration(s.total_seconds),
                    short_duration(s.mean_seconds),
                ]
                for s in report.steps
            ]
        )
    clusters = report.clusters
    out += ["", "CLUSTERS"]
    for c in clusters.accounts:
        out.append(
            f"  account {c.account}: {c.remediations} remediations ({c.open} open): "
            f"{', '.join(c.error_types)}"
        )
    for co in clusters.co_occurrences:
        out.append(f"  {' + '.join(co.error_types)} on the same account: {', '.join(co.accounts)}")
    for b in clusters.bursts:
        out.append(
            f"  burst: {b.count} × {b.error_type} between {b.start:%m-%d %H:%M} and {b.end:%H:%M}"
        )
    if not (clusters.accounts or clusters.co_occurrences or clusters.bursts):
        out.append("  none")
    out += ["", *_recovery_text(report)]
    out += ["", "SOP CANDIDATES (recurring unknown errors)"]
    for cand in report.sop_candidates:
        out.append(
            f"  {cand.signature}  seen {cand.seen}× in {cand.remediations} remediations "
            f"({cand.source or '?'}): {cand.sample[:100]}"
        )
    if not report.sop_candidates:
        out.append("  none")
    if report.unreadable:
        out += ["", f"Read from visibility only: {len(report.unreadable)} run(s)"]
    if report.truncated:
        out.append(f"Only the first {report.request.limit} runs were read (--limit).")
    return "\n".join(out)
