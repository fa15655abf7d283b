"""Slack text and Block Kit for an escalation: the line in the alert's thread and the post
to the escalation channel."""

from __future__ import annotations

from typing import Any

from canary.blocks.alert import build_blocks
from canary.blocks.mrkdwn import MAX_SECTION_TEXT, clip_mrkdwn, escape, link
from canary.models import Link, RemediationStatus


def escalation_thread_line(
    target: str,
    text: str,
    owner_mention: str | None,
    manager_on_slack: bool,
    escalation_channel: str = "the escalation channel",
) -> str | None:
    """What the alert's thread says when the ladder reaches ``target`` (None: nothing).

    ``text`` is the SOP's escalation message (catalog text, with ``{waited}`` filled by Canary
    and the manager's mention Canary looked up), so it stays mrkdwn; ``owner_mention`` too.
    ``escalation_channel`` is Canary's setting, shown as written."""
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
    if target == "escalation_channel":
        return f":rotating_light: Escalated to {escape(escalation_channel)}: {text}"
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
    """The escalation channel's post: why it escalated (``text`` as in
    :func:`escalation_thread_line`), then the alert's own blocks below its header (what
    happened, where to look, the buttons)."""
    original = f" {link(alert_permalink, 'original alert')}" if alert_permalink else ""
    why = f":rotating_light: *Escalated:* {escape(status.headline)}\n{text}{original}"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip_mrkdwn(why, MAX_SECTION_TEXT)}},
        *build_blocks(status, links, owner_mention, temporal_url)[1:],
    ]
