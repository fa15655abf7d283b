"""Slack Block Kit for a remediation's alert: what happened, where to investigate, what to do,
buttons; and the reply lines of its thread.

Pure functions of the remediation's status, so the workflow can build the message itself
(deterministically) and one activity only has to post or update it. Every value from outside
is escaped here (:mod:`canary.blocks.mrkdwn`) and every block kept within Block Kit's limits.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any
from urllib.parse import quote

from canary.blocks.mrkdwn import (
    MAX_ACTIONS_ELEMENTS,
    MAX_BLOCK_ID,
    MAX_BLOCKS,
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_CONFIRM_TEXT,
    MAX_CONFIRM_TITLE,
    MAX_HEADER_TEXT,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_OPTIONS,
    MAX_SECTION_TEXT,
    MAX_TEXT_OBJECT,
    clip,
    clip_mrkdwn,
    escape,
    is_user_id,
    link,
    mention,
)
from canary.models import Diagnosis, Link, RemediationStatus, ResolveOwnerOutput, TimelineEntry
from canary.models.state import THREAD_MRKDWN

STATE_BADGE = {
    "diagnosing": ":mag: Diagnosing",
    "remediating": ":wrench: Trying the automated fix",
    "awaiting_human": ":raising_hand: Waiting for a person",
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


def temporal_ui_link(ui_url: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"


def _links(links: list[Link]) -> str:
    return "\n".join(f"• {link(item.url, item.label)}" for item in links)


def _section(text: str) -> dict[str, Any]:
    """A section of mrkdwn (already escaped), cut to Slack's limit."""
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_SECTION_TEXT)},
    }


def thread_line(entry: TimelineEntry) -> str:
    """One timeline entry as a line of the alert's thread: ```14:05` <@U0ALICE>: text``,
    its text escaped and cut to what one section holds (the timeline keeps it whole); an
    entry with a line of Canary's own for the thread (:data:`THREAD_MRKDWN`) shows that."""
    written = entry.data.get(THREAD_MRKDWN)
    if isinstance(written, str) and entry.actor == "canary":
        return clip_mrkdwn(f"`{entry.at:%H:%M}` {written}", MAX_SECTION_TEXT)
    line = f"`{entry.at:%H:%M}` {mention(entry.actor)}: {escape(entry.text)}"
    return clip_mrkdwn(line, MAX_SECTION_TEXT)


def thread_text(entries: list[TimelineEntry]) -> str:
    """One reply in the alert's thread for a batch of changes (mrkdwn)."""
    return "\n".join(thread_line(entry) for entry in entries)


def owner_mention(owner: ResolveOwnerOutput, owner_name: str | None) -> str | None:
    """Who the alert addresses (mrkdwn): the owner on Slack, or the channel asked to find
    them by name (the name escaped: it comes from the CRM or Stripe)."""
    if is_user_id(owner.slack_user):
        return f"<@{owner.slack_user}>"
    name = owner.name or owner_name or owner.email
    if name:
        # The owner is not on Slack: the channel is the fallback, so ask it by name.
        return f"<!here> *{escape(name)}* (the owner) is not on Slack —"
    return None


def thread_blocks(text: str) -> list[dict[str, Any]]:
    """A reply in the alert's thread: its mrkdwn lines (from :func:`thread_text` or an
    escalation line) in sections of at most Slack's length, at most Slack's block count."""
    sections: list[str] = []
    for line in text.split("\n"):
        line = clip_mrkdwn(line, MAX_SECTION_TEXT)
        if sections and len(sections[-1]) + 1 + len(line) <= MAX_SECTION_TEXT:
            sections[-1] += "\n" + line
        else:
            sections.append(line)
    if len(sections) > MAX_BLOCKS:
        sections = [*sections[: MAX_BLOCKS - 1], "…cut here: the timeline has the rest."]
    return [_section(text) for text in sections if text.strip()]


def fallback_text(status: RemediationStatus) -> str:
    """The text Slack shows in notifications and screen readers (mrkdwn: Slack parses a
    message's ``text`` for mentions too, so the headline is escaped)."""
    badge = STATE_BADGE.get(status.state, status.state).split(" ", 1)[-1]
    return clip_mrkdwn(f"{escape(status.headline)} — {badge}", MAX_TEXT_OBJECT)


def build_blocks(
    status: RemediationStatus,
    extra_links: list[Link],
    owner_mention: str | None,
    temporal_url: str,
    notes: list[str] | None = None,
) -> list[dict[str, Any]]:
    """The alert. ``owner_mention`` is mrkdwn from :func:`owner_mention`; everything else is
    raw text and escaped here."""
    diagnosis: Diagnosis | None = status.diagnosis
    icon = SEVERITY_ICON.get(status.severity, "")
    head: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": clip(status.headline.strip(), MAX_HEADER_TEXT) or "GTM error",
                "emoji": True,
            },
        },
    ]
    if diagnosis:
        head.append(_section(f"*What happened*\n{escape(diagnosis.summary)}"))
        investigate = list(diagnosis.investigate)
        if investigate or extra_links:
            text = ""
            if investigate:
                text += f"*Where to investigate*\n{_links(investigate)}"
            if extra_links:
                text += ("\n" if text else "") + f"*Links for the customer*\n{_links(extra_links)}"
            head.append(_section(text))
        if status.outcome:
            # After a decision the alert is its record: what was decided, by whom and when,
            # instead of a "What to do" that no longer applies.
            head.append(_section(f"*Outcome*\n{_outcome(status)}"))
        else:
            todo = escape(diagnosis.what_to_do)
            if owner_mention:
                todo = f"{owner_mention} {todo}"
            if status.next_retry:
                # The recovery plan, in the payer's time: "next retry Thu 1 Jan 09:00 UTC, …".
                todo += f"\n*Recovery plan:* {escape(status.next_retry)}"
            head.append(_section(f"*What to do*\n{todo}"))

    context = [
        f"{STATE_BADGE.get(status.state, escape(status.state))}",
        f"{icon} {escape(status.severity)}",
        escape(status.error_type),
    ]
    if status.escalation_level:
        context.append(f"escalation level {status.escalation_level}")
    if status.occurrences > 1:
        context.append(f"seen {status.occurrences} times")
    context.append(link(temporal_url, status.workflow_id))
    tail: list[dict[str, Any]] = [
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": clip_mrkdwn(" · ".join(context), MAX_TEXT_OBJECT)}
            ],
        }
    ]

    if status.outcome and not diagnosis:
        tail.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": clip_mrkdwn(f"*Outcome:* {_outcome(status)}", MAX_TEXT_OBJECT),
                    }
                ],
            }
        )
    elif not status.outcome and diagnosis and diagnosis.actions:
        tail.extend(_action_blocks(status, diagnosis))

    # Notes (warnings kept under the alert) take the room the other blocks leave.
    room = MAX_BLOCKS - len(head) - len(tail)
    shown = [_section(escape(note)) for note in notes or []]
    if len(shown) > room:
        shown = shown[: max(room - 1, 0)] + (
            [_section(f"…and {len(shown) - room + 1} more notes in the timeline.")] if room else []
        )
    return [*head, *shown, *tail]


def _action_blocks(status: RemediationStatus, diagnosis: Diagnosis) -> list[dict[str, Any]]:
    """The alert's choices (a select each) and buttons (one actions block)."""
    blocks: list[dict[str, Any]] = []
    buttons: list[dict[str, Any]] = []
    for action in diagnosis.actions:
        options = diagnosis.facts.get(action.select_from) if action.select_from else None
        if isinstance(options, list) and options:
            # A choice (which account to link): a select in its own block, whose id carries
            # the workflow id because the option values carry the choice. An option whose
            # value is longer than Slack allows is left out (cut, it would choose another).
            choices = [
                {
                    "text": {"type": "plain_text", "text": clip(str(o["label"]), MAX_OPTION_TEXT)},
                    "value": str(o["value"]),
                }
                for o in options
                if isinstance(o, dict) and "value" in o and "label" in o
                if 0 < len(str(o["value"])) <= MAX_OPTION_VALUE
            ][:MAX_OPTIONS]
            if not choices:
                continue
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"canary:{status.workflow_id}"[:MAX_BLOCK_ID],
                    "text": {"type": "mrkdwn", "text": f"*{escape(clip(action.label, 200))}*"},
                    "accessory": {
                        "type": "static_select",
                        "action_id": f"canary:{action.id}"[:MAX_BLOCK_ID],
                        "placeholder": {"type": "plain_text", "text": "Choose…"},
                        "options": choices,
                    },
                }
            )
            continue
        button: dict[str, Any] = {
            "type": "button",
            "action_id": f"canary:{action.id}"[:MAX_BLOCK_ID],
            "text": {
                "type": "plain_text",
                "text": clip(action.label, MAX_BUTTON_TEXT),
                "emoji": True,
            },
            "value": status.workflow_id[:MAX_BUTTON_VALUE],
        }
        if action.style:
            button["style"] = action.style
        if action.confirm:
            button["confirm"] = {
                "title": {"type": "plain_text", "text": clip(action.label, MAX_CONFIRM_TITLE)},
                "text": {
                    "type": "mrkdwn",
                    "text": clip_mrkdwn(escape(action.confirm), MAX_CONFIRM_TEXT),
                },
                "confirm": {"type": "plain_text", "text": "Yes"},
                "deny": {"type": "plain_text", "text": "Cancel"},
            }
        buttons.append(button)
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": "canary_actions",
                "elements": buttons[:MAX_ACTIONS_ELEMENTS],
            }
        )
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


def _outcome(status: RemediationStatus) -> str:
    """How it ended and when: "dismissed by @Alice on Thu 3 Dec 10:32 UTC"."""
    closer = next((e for e in reversed(status.timeline) if e.kind == "closed"), None)
    # The closer is a Slack user id (a mention) or a CLI user's name (escaped).
    phrase = closed_phrase(status.outcome, closer.actor if closer else None)
    why = f" — {escape(status.close_reason)}" if status.close_reason else ""
    if closer is None:
        return phrase + why
    when = closer.at.astimezone(UTC)
    return f"{phrase} on {when:%a} {when.day} {when:%b %H:%M} UTC{why}"


def closed_phrase(outcome: str | None, closed_by: str | None) -> str:
    """How a remediation ended, in the words every message uses: the alert's outcome line,
    the answer to a click, the refusal of a click that came too late. A Slack user id becomes
    a mention, any other name escaped text."""
    who = mention(closed_by) if closed_by and closed_by not in ("canary", "system") else None
    match outcome:
        case "auto_resolved":
            return "fixed automatically by Canary"
        case "resolved_by_human":
            return "resolved by a person" + (f" ({who})" if who else "")
        case "resolved_externally":
            return "resolved at the source" + (f" ({who})" if who else "")
        case "dismissed":
            return "dismissed" + (f" by {who}" if who else "")
        case "expired":
            return "expired with nobody acting"
    return "closed"
