"""Every message Canary shows people, built in one place: Slack Block Kit (the alert, its
thread lines, escalations, the digest, reports) and the alert's e-mail twin.

Pure functions of models, so the workflows can build a message themselves (deterministically)
and one activity only has to post it.
"""

from canary.blocks.alert import (
    SEVERITY_ICON,
    STATE_BADGE,
    THREAD_MRKDWN,
    build_blocks,
    closed_phrase,
    fallback_text,
    human_duration,
    owner_mention,
    temporal_ui_link,
    thread_blocks,
    thread_line,
    thread_text,
)
from canary.blocks.digest import digest_blocks, digest_text
from canary.blocks.email import alert_email
from canary.blocks.escalation import (
    escalation_blocks,
    escalation_thread_line,
    posts_to_escalation_channel,
)
from canary.blocks.report import report_blocks

__all__ = [
    "SEVERITY_ICON",
    "STATE_BADGE",
    "THREAD_MRKDWN",
    "alert_email",
    "build_blocks",
    "closed_phrase",
    "digest_blocks",
    "digest_text",
    "escalation_blocks",
    "escalation_thread_line",
    "fallback_text",
    "human_duration",
    "owner_mention",
    "posts_to_escalation_channel",
    "report_blocks",
    "temporal_ui_link",
    "thread_blocks",
    "thread_line",
    "thread_text",
]
