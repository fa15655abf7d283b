"""Slack Block Kit for an owner's daily digest: one message listing the findings that did not
need an alert of their own, each with its buttons."""

from __future__ import annotations

from typing import Any

from canary.blocks.alert import SEVERITY_ICON
from canary.models.detectors import DigestInput, DigestItem

MAX_ITEMS = 15  # Slack allows 50 blocks a message; each item takes three.
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _ordered(items: list[DigestItem]) -> list[DigestItem]:
    return sorted(items, key=lambda i: (SEVERITY_ORDER.get(i.severity, 9), i.workflow_id))


def _who(digest: DigestInput) -> str:
    return f"<@{digest.slack_user}>" if digest.slack_user else digest.owner


def digest_text(digest: DigestInput, items: list[DigestItem]) -> str:
    lines = [f"Daily digest for {_who(digest)}: {len(items)} open finding(s)"]
    lines += [f"• [{i.severity}] {i.headline}" for i in _ordered(items)]
    return "\n".join(lines)


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
                "text": f"{_who(digest)}: {len(items)} finding(s) that did not need an alert "
                "right away. Each has its own buttons.",
            },
        },
    ]
    for n, item in enumerate(shown):
        icon = SEVERITY_ICON.get(item.severity, "")
        summary = item.summary.strip()
        if len(summary) > 600:
            summary = summary[:599] + "…"
        blocks.append({"type": "divider"})
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{icon} *{item.headline}*\n{summary}"[:2900],
                },
            }
        )
        buttons = [
            {
                "type": "button",
                "action_id": f"canary:{action['id']}",
                "text": {"type": "plain_text", "text": str(action["label"])[:75], "emoji": True},
                "value": item.workflow_id,
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
