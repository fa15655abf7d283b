"""Slack Block Kit for an owner's daily digest: one message listing the findings that did not
need an alert of their own, each with its buttons."""

from __future__ import annotations

from typing import Any

from canary.blocks.alert import SEVERITY_ICON
from canary.blocks.mrkdwn import (
    MAX_BUTTON_TEXT,
    MAX_BUTTON_VALUE,
    MAX_SECTION_TEXT,
    MAX_TEXT_OBJECT,
    clip,
    clip_mrkdwn,
    escape,
    is_user_id,
)
from canary.models.detectors import DigestInput, DigestItem

MAX_ITEMS = 15  # Slack allows 50 blocks a message; each item takes three.
MAX_SUMMARY = 600  # an item's summary in the digest; the alert and timeline keep all of it
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _ordered(items: list[DigestItem]) -> list[DigestItem]:
    return sorted(items, key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.workflow_id))


def _who(digest: DigestInput) -> str:
    return f"<@{digest.slack_user}>" if is_user_id(digest.slack_user) else escape(digest.owner)


def digest_text(digest: DigestInput, items: list[DigestItem]) -> str:
    """The digest's notification text (mrkdwn, headlines escaped)."""
    lines = [f"Daily digest for {_who(digest)}: {len(items)} open finding(s)"]
    lines += [f"• [{escape(i.severity)}] {escape(i.headline)}" for i in _ordered(items)]
    return clip_mrkdwn("\n".join(lines), MAX_TEXT_OBJECT)


def digest_blocks(digest: DigestInput, items: list[DigestItem], day: str) -> list[dict[str, Any]]:
    """One message: a header, then per item its headline, a short summary and its buttons
    (``canary:<action>`` with the remediation's workflow id, as on a single alert)."""
    ordered = _ordered(items)
    shown = ordered[:MAX_ITEMS]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"Daily digest — {day}", "emoji": True},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": clip_mrkdwn(
                    f"{_who(digest)}: {len(items)} finding(s) that did not need an alert "
                    "right away. Each has its own buttons.",
                    MAX_SECTION_TEXT,
                ),
            },
        },
    ]
    for n, item in enumerate(shown):
        icon = SEVERITY_ICON.get(item.severity, "")
        summary = clip(item.summary.strip(), MAX_SUMMARY)
        text = f"{icon} *{escape(item.headline)}*\n{escape(summary)}"
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_SECTION_TEXT)},
            }
        )
        buttons = [
            {
                "type": "button",
                "action_id": f"canary:{action['id']}",
                "text": {
                    "type": "plain_text",
                    "text": clip(str(action["label"]), MAX_BUTTON_TEXT),
                    "emoji": True,
                },
                "value": item.workflow_id[:MAX_BUTTON_VALUE],
                **({"style": action["style"]} if action.get("style") else {}),
            }
            for action in item.actions[:5]
        ]
        if buttons:
            blocks.append(
                {"type": "actions", "block_id": f"canary_digest_{n}", "elements": buttons}
            )
    if len(ordered) > len(shown):
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"…and {len(ordered) - len(shown)} more: `canary list --open`.",
                    }
                ],
            }
        )
    return blocks
