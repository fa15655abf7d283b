"""Slack Block Kit for a KPI report (the ``report.send`` step): the headline, what the KPI
did against its threshold with its trend, and the table."""

from __future__ import annotations

from typing import Any

from canary.blocks.mrkdwn import (
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    clip,
    clip_mrkdwn,
    escape,
)


def report_blocks(facts: dict[str, Any], headline: str) -> list[dict[str, Any]]:
    """The KPI report; every fact is escaped (they come from the warehouse)."""

    def fact(key: str, default: str = "None") -> str:
        value = facts.get(key)
        return escape(default if value is None else value)

    # Cut after escaping and inside the code block, so neither an entity nor the ``` breaks.
    table = escape(str(facts.get("table_text") or ""))
    table = clip_mrkdwn(table, MAX_SECTION_TEXT - 6)
    summary = (
        f"{fact('kpi_title')} was *{fact('value_display')}* on {fact('period')}, "
        f"{fact('direction')} the threshold of {fact('threshold_display')}.\n"
        f"Trend: `{fact('sparkline', '')}`"
    )
    return [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline, MAX_HEADER_TEXT)}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip_mrkdwn(summary, MAX_SECTION_TEXT)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{table}```"}},
    ]
