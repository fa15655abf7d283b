"""A person's Home tab in Slack: the remediations that concern them, and the quiet windows.

Pure, from the remediations' statuses, so the publishing activity and the gateway's
``app_home_opened`` listener build the same view. In order: what waits for the person (open,
awaiting a person, not snoozed; by severity, then oldest first), their other open
remediations (digest-only and snoozed ones too), what closed in the last seven days, then the
quiet windows. A remediation concerns a person who owns it (by Slack id or e-mail) or may press
one of its buttons (named in ``allowed.users`` or a member of an action's groups); ``anyone``
actions and admins' break-glass rights do not put everything on everyone's Home.

The buttons are the alert's own (:func:`canary.blocks.alert._action_blocks`: the same
``action_id`` and ``value``), so a click acts exactly as on the alert. The view's
``private_metadata`` names the person it was built for (:func:`home_owner`): the gateway
accepts a click from a Home view only when it names the clicker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from canary.blocks.alert import SEVERITY_ICON, STATE_BADGE, _action_blocks
from canary.blocks.mrkdwn import (
    MAX_BLOCK_ID,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    MAX_TEXT_OBJECT,
    clip,
    clip_mrkdwn,
    escape,
    link,
    mention,
)
from canary.models import OPEN_STATES, QuietWindow, RemediationStatus

#: Slack's limit on a Home view's blocks (a message has 50).
MAX_HOME_BLOCKS = 100
#: Closed remediations stay on the Home tab this long.
CLOSED_FOR = timedelta(days=7)
#: The private_metadata prefix naming whose Home a view is.
HOME_METADATA = "canary-home:"
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
WAITING_STATES = frozenset({"awaiting_human", "escalated"})


@dataclass(frozen=True)
class Person:
    """Whom a Home is for: their Slack id, their e-mail and the user groups they are in
    (handles or ids, as the SOPs name them)."""

    user_id: str
    email: str | None = None
    groups: frozenset[str] = field(default_factory=frozenset)


@dataclass
class HomeContent:
    """The Home's remediations, section by section, before they become blocks."""

    waiting: list[RemediationStatus]
    other_open: list[RemediationStatus]
    closed: list[RemediationStatus]
    windows: list[QuietWindow]


def owns(person: Person, status: RemediationStatus) -> bool:
    if status.owner_slack_user and status.owner_slack_user == person.user_id:
        return True
    return bool(person.email and status.owner and status.owner.lower() == person.email.lower())


def may_act(person: Person, status: RemediationStatus) -> bool:
    """Whether one of its actions names the person or one of their groups."""
    actions = status.diagnosis.actions if status.diagnosis else []
    for action in actions:
        allowed = action.allowed
        if person.user_id in allowed.users:
            return True
        if any(group.lstrip("@") in person.groups for group in allowed.groups):
            return True
    return False


def concerns(person: Person, status: RemediationStatus) -> bool:
    return owns(person, status) or may_act(person, status)


def is_open(status: RemediationStatus) -> bool:
    return status.outcome is None and status.state in OPEN_STATES


def is_waiting(status: RemediationStatus, now: datetime) -> bool:
    """Open, waiting for a person, not snoozed, and not retrying quietly on its plan."""
    snoozed = status.snoozed_until is not None and status.snoozed_until > now
    quiet = status.retrying_quietly
    return is_open(status) and status.state in WAITING_STATES and not snoozed and not quiet


def home_content(
    person: Person,
    statuses: Iterable[RemediationStatus],
    windows: Iterable[QuietWindow],
    now: datetime,
) -> HomeContent:
    """What the person's Home lists, section by section, in order."""
    mine = [s for s in statuses if concerns(person, s)]
    waiting = sorted(
        (s for s in mine if is_waiting(s, now)),
        key=lambda s: (SEVERITY_RANK.get(s.severity, 9), s.started_at, s.workflow_id),
    )
    other = sorted(
        (s for s in mine if is_open(s) and not is_waiting(s, now)),
        key=lambda s: (SEVERITY_RANK.get(s.severity, 9), s.started_at, s.workflow_id),
    )
    closed = sorted(
        (s for s in mine if not is_open(s) and s.updated_at >= now - CLOSED_FOR),
        key=lambda s: (s.updated_at, s.workflow_id),
        reverse=True,
    )
    shown = sorted((w for w in windows if w.end > now), key=lambda w: (w.starts_at, w.id))
    return HomeContent(waiting, other, closed, shown)


def home_owner(view: dict[str, Any]) -> str | None:
    """The Slack user a Canary Home view was built for; None for any other view."""
    metadata = str(view.get("private_metadata") or "")
    if view.get("type") != "home" or not metadata.startswith(HOME_METADATA):
        return None
    return metadata.removeprefix(HOME_METADATA) or None


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True},
    }


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_SECTION_TEXT)},
    }


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_TEXT_OBJECT)}],
    }


def remediation_blocks(status: RemediationStatus, n: int) -> list[dict[str, Any]]:
    """One remediation: its headline (a link to the alert), state, severity, account, and,
    while it is open, the alert's buttons. ``n`` keeps the buttons' block id unique."""
    headline = status.headline.strip() or status.workflow_id
    permalink = status.slack.permalink if status.slack else None
    title = link(permalink, headline) if permalink else escape(headline)
    facts = [
        STATE_BADGE.get(status.state, escape(status.state)),
        f"{SEVERITY_ICON.get(status.severity, '')} {escape(status.severity)}".strip(),
        escape(status.account.label()),
    ]
    if status.retrying_quietly and is_open(status):
        facts.append(
            f"retrying quietly ({escape(status.next_retry)})"
            if status.next_retry
            else "retrying quietly"
        )
    if status.snoozed_until and is_open(status):
        facts.append(f"snoozed until {status.snoozed_until:%a %d %b %H:%M} UTC")
    if status.close_reason and not is_open(status):
        facts.append(escape(status.close_reason))
    blocks = [_section(f"*{title}*\n{' · '.join(facts)}")]
    if is_open(status) and status.diagnosis and status.diagnosis.actions:
        for block in _action_blocks(status, status.diagnosis):
            if block.get("block_id") == "canary_actions":
                # Slack wants block ids unique in a view; a button's click reads only its
                # action_id and value, so the id may change.
                block = dict(block, block_id=f"canary_actions:{n}"[:MAX_BLOCK_ID])
            blocks.append(block)
    return blocks


def _window_line(window: QuietWindow) -> str:
    """One window: its reason in quotes (a person's words, escaped and kept apart from
    Canary's own emphasis), what it mutes, when, and its opener's mention."""
    return (
        f":zipper_mouth_face: “{escape(window.reason)}” — {escape(window.scope())}, "
        f"{window.starts_at:%a %d %b %H:%M} to {window.end:%a %d %b %H:%M} UTC, "
        f"opened by {mention(window.opened_by, window.opened_by_name)}"
    )


def home_view(
    person: Person,
    statuses: Iterable[RemediationStatus],
    windows: Iterable[QuietWindow],
    now: datetime,
    more_url: str | None = None,
) -> dict[str, Any]:
    """The person's Home view for ``views.publish``, within Slack's 100 blocks: what does not
    fit is counted in "…and N more" with ``more_url`` (the dashboard) and ``canary list``."""
    content = home_content(person, statuses, windows, now)
    blocks: list[dict[str, Any]] = []
    left_out = 0
    # Room for the last section's "…and N more" and the quiet windows' header.
    reserve = 3
    sections = (
        ("Waiting for you", content.waiting, "Nothing waits for you."),
        ("Your other open remediations", content.other_open, "Nothing else open."),
        ("Closed this week", content.closed, "Nothing closed this week."),
    )
    n = 0
    for title, items, empty in sections:
        if len(blocks) + 2 > MAX_HOME_BLOCKS - reserve:
            left_out += len(items)
            continue
        blocks.append(_header(title))
        if not items:
            blocks.append(_context(empty))
        for item in items:
            made = remediation_blocks(item, n)
            if len(blocks) + len(made) + 1 > MAX_HOME_BLOCKS - reserve:
                left_out += 1
                continue
            blocks.extend(made)
            n += 1
        blocks.append({"type": "divider"})
    window_blocks: list[dict[str, Any]] = [_header("Quiet windows")]
    lines = [_window_line(w) for w in content.windows] or ["No quiet window is open."]
    text = ""
    for line in lines:
        if len(text) + len(line) + 1 > MAX_SECTION_TEXT:
            break
        text = f"{text}\n{line}" if text else line
    window_blocks.append(_context(text) if not content.windows else _section(text))
    if left_out:
        where = f" on {link(more_url, 'the dashboard')} or" if more_url else ""
        blocks.append(_context(f"…and {left_out} more:{where} in `canary list --open`."))
    blocks.extend(window_blocks)
    return {
        "type": "home",
        "private_metadata": HOME_METADATA + person.user_id,
        "blocks": blocks[:MAX_HOME_BLOCKS],
    }
