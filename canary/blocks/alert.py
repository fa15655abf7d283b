"""Slack Block Kit for a remediation's alert: what happened, where to investigate, what to do,
buttons; and the reply lines of its thread.

Pure functions of the remediation's status, so the workflow can build the message itself
(deterministically) and one activity only has to post or update it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from canary.models import Diagnosis, Link, RemediationStatus, ResolveOwnerOutput, TimelineEntry
from canary.models.state import closed_phrase, mention

STATE_BADGE = {
    "diagnosing": ":mag: Diagnosing",
    "remediating": ":wrench: Trying the automated fix",
    "awaiting_human": ":raising_hand: Waiting for you",
    "escalated": ":rotating_light: Escalated",
    "resolved": ":white_check_mark: Resolved",
    "dismissed": ":no_entry_sign: Dismissed",
    "failed": ":x: Expired unresolved",
}
SEVERITY_ICON = {
    "low": ":large_blue_circle:",
    "medium": ":large_yellow_circle:",
    "high": ":red_circle:",
    "critical": ":rotating_light:",
}
MAX_SECTION = 2900  # Slack caps a section's text at 3000 characters.


def temporal_ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def _links(links: list[Link]) -> str:
    return "\n".join(f"• <{link.url}|{link.label}>" for link in links)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SECTION else text[: MAX_SECTION - 1] + "…"


def thread_line(entry: TimelineEntry) -> str:
    """One timeline entry as a line of the alert's thread: ```14:05` <@U0ALICE>: text``."""
    return f"`{entry.at:%H:%M}` {mention(entry.actor)}: {entry.text}"


def thread_text(entries: list[TimelineEntry]) -> str:
    """One reply in the alert's thread for a batch of changes."""
    return "\n".join(thread_line(entry) for entry in entries)


def owner_mention(owner: ResolveOwnerOutput, owner_name: str | None) -> str | None:
    """Who the alert addresses: the owner on Slack, or the channel asked to find them."""
    if owner.slack_user:
        return f"<@{owner.slack_user}>"
    name = owner.name or owner_name or owner.email
    if name:
        # The owner is not on Slack: the channel is the fallback, so ask it by name.
        return f"<!here> *{name}* (the owner) is not on Slack —"
    return None


def thread_blocks(text: str) -> list[dict[str, Any]]:
    """A reply in the alert's thread: the timeline lines as one section."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def fallback_text(status: RemediationStatus) -> str:
    """The plain-text version Slack shows in notifications and screen readers."""
    badge = STATE_BADGE.get(status.state, status.state).split(" ", 1)[-1]
    return f"{status.headline} — {badge}"


def build_blocks(
    status: RemediationStatus,
    extra_links: list[Link],
    owner_mention: str | None,
    temporal_url: str,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    diagnosis: Diagnosis | None = status.diagnosis
    icon = SEVERITY_ICON.get(status.severity, "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": status.headline[:150] or "GTM error",
                "emoji": True,
            },
        },
    ]
    if diagnosis:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(f"*What happened*\n{diagnosis.summary}")},
            }
        )
        investigate = list(diagnosis.investigate)
        if investigate or extra_links:
            text = ""
            if investigate:
                text += f"*Where to investigate*\n{_links(investigate)}"
            if extra_links:
                text += ("\n" if text else "") + f"*Links for the customer*\n{_links(extra_links)}"
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}})
        todo = diagnosis.what_to_do
        if owner_mention and status.state not in ("resolved", "dismissed", "failed"):
            todo = f"{owner_mention} {todo}"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"*What to do*\n{todo}")}}
        )
    for note in notes or []:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(note)}})

    context = [
        f"{STATE_BADGE.get(status.state, status.state)}",
        f"{icon} {status.severity}",
        f"{status.error_type}",
    ]
    if status.escalation_level:
        context.append(f"escalation level {status.escalation_level}")
    if status.occurrences > 1:
        context.append(f"seen {status.occurrences} times")
    context.append(f"<{temporal_url}|{status.workflow_id}>")
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )

    if status.outcome:
        closer = next((e for e in reversed(status.timeline) if e.kind == "closed"), None)
        outcome = closed_phrase(status.outcome, closer.actor if closer else None)
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"*Outcome:* {outcome}",
                    }
                ],
            }
        )
    elif diagnosis and diagnosis.actions:
        buttons = []
        for action in diagnosis.actions:
            options = diagnosis.facts.get(action.select_from) if action.select_from else None
            if isinstance(options, list) and options:
                # A choice (which account to link): a select in its own block, whose id
                # carries the workflow id because the option values carry the choice.
                blocks.append(
                    {
                        "type": "section",
                        "block_id": f"canary:{status.workflow_id}"[:255],
                        "text": {"type": "mrkdwn", "text": f"*{action.label}*"},
                        "accessory": {
                            "type": "static_select",
                            "action_id": f"canary:{action.id}",
                            "placeholder": {"type": "plain_text", "text": "Choose…"},
                            "options": [
                                {
                                    "text": {"type": "plain_text", "text": str(o["label"])[:75]},
                                    "value": str(o["value"])[:150],
                                }
                                for o in options[:100]
                                if isinstance(o, dict) and "value" in o and "label" in o
                            ],
                        },
                    }
                )
                continue
            button: dict[str, Any] = {
                "type": "button",
                "action_id": f"canary:{action.id}",
                "text": {"type": "plain_text", "text": action.label[:75], "emoji": True},
                "value": status.workflow_id,
            }
            if action.style:
                button["style"] = action.style
            if action.confirm:
                button["confirm"] = {
                    "title": {"type": "plain_text", "text": action.label[:100]},
                    "text": {"type": "mrkdwn", "text": action.confirm},
                    "confirm": {"type": "plain_text", "text": "Yes"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                }
            buttons.append(button)
        blocks.append({"type": "actions", "block_id": "canary_actions", "elements": buttons[:25]})
    return blocks


def human_duration(delta: timedelta) -> str:
    """``4 hours``, ``1 day 2 hours``, ``45 minutes``: what a person would say."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} seconds"
    parts: list[str] = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
    return " ".join(parts)
