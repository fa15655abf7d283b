"""Block actions: a button or a select on a Canary message becomes the remediation's update.

Buttons carry `action_id` ``canary:<action>`` and the workflow id as their value; a select
carries the choice as its value and the workflow id in its block id (``canary:<workflow id>``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from temporalio.client import Client

from canary.models import ActionRequest
from starter.intake import take_action

log = logging.getLogger("canary.gateway")
ACTION_PATTERN = re.compile(r"^canary:(?P<action>[a-z_]+)$")


def action_request(
    body: dict[str, Any], action: dict[str, Any]
) -> tuple[str, ActionRequest] | None:
    """The remediation a click aims at and what it asks; None for a control Canary did not wire."""
    match = ACTION_PATTERN.match(action.get("action_id", ""))
    selected = (action.get("selected_option") or {}).get("value")
    block_id = str(action.get("block_id") or "")
    workflow_id = (
        block_id.removeprefix("canary:")
        if selected and block_id.startswith("canary:")
        else action.get("value")
    )
    if not match or not workflow_id:
        return None
    user = body.get("user") or {}
    return workflow_id, ActionRequest(
        action=match.group("action"),
        user=user.get("id", "unknown"),
        user_name=user.get("name") or user.get("username"),
        source="slack",
        value=selected,
    )


def register(app: AsyncApp, temporal: Callable[[], Client]) -> None:
    async def on_click(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any
    ) -> None:
        await ack()  # inside Slack's 3 s; the update runs after (process_before_response off)
        clicked = action_request(body, action)
        if clicked is None:
            await respond(
                text="This button is not wired to a remediation.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        workflow_id, request = clicked
        result = await take_action(temporal(), workflow_id, request)
        log.info(
            "slack action %s on %s by %s: accepted=%s %s",
            request.action,
            workflow_id,
            request.user,
            result.accepted,
            result.message,
        )
        prefix = "" if result.accepted else ":no_entry: "
        await respond(
            text=f"{prefix}{result.message}", response_type="ephemeral", replace_original=False
        )

    app.action(ACTION_PATTERN)(on_click)
