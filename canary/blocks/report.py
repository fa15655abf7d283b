"""Slack Block Kit for a KPI report (the ``report.send`` step): the headline, what the KPI
did against its threshold with its trend, and the table."""

from __future__ import annotations

from typing import Any


def report_blocks(facts: dict[str, Any], headline: str) -> list[dict[str, Any]]:
    table = str(facts.get("table_text") or "")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{facts.get('kpi_title')} was *{facts.get('value_display')}* on "
                f"{facts.get('period')}, {facts.get('direction')} the threshold of "
                f"{facts.get('threshold_display')}.\nTrend: `{facts.get('sparkline', '')}`",
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{table[:2800]}```"}},
    ]
