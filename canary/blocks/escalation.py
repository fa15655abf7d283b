"""Slack text and Block Kit for an escalation: the line in the alert's thread and the post
to the escalation channel."""

from __future__ import annotations

from typing import Any

from canary.blocks.alert import build_blocks
from canary.models import Link, RemediationStatus


def escalation_thread_line(
    target: str, text: str, owner_mention: str | None, manager_on_slack: bool
) -> str | None:
    """What the alert's thread says when the ladder reaches ``target`` (None: nothing)."""
    if target == "owner":
        return f":bell: {owner_mention or 'No owner on record —'} {text}"
    if target == "manager":
        if manager_on_slack:
            return f":bell: Escalated to the manager: {text}"
        # No manager in the CRM or in Slack: the escalation channel stands in.
        return f":bell: No manager on record for this account. {text}"
    if target == "crm_case":
        return (
            f":clipboard: {text} A CRM case is the next step; open one in "
            "Salesforce for this account."
        )
    return None


def posts_to_escalation_channel(target: str) -> bool:
    return target in ("manager", "escalation_channel")


def escalation_blocks(
    status: RemediationStatus,
    text: str,
    alert_permalink: str | None,
    links: list[Link],
    owner_mention: str | None,
    temporal_url: str,
) -> list[dict[str, Any]]:
    """The escalation channel's post: why it escalated, then the alert's own blocks below
    its header (what happened, where to look, the buttons)."""
    link = f" <{alert_permalink}|original alert>" if alert_permalink else ""
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":rotating_light: *Escalated:* {status.headline}\n{text}{link}",
            },
        },
        *build_blocks(status, links, owner_mention, temporal_url)[1:],
    ]
