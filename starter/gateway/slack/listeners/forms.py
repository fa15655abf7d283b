"""Form submissions: a Canary modal's ``view_submission`` becomes the remediation's update,
as the button that opened it would have, with what the form says (a reason, a note, a snooze
length). The same checks as a click (Canary's workspace and app here; the message it was
opened from, checked by the remediation's validator; who the person is now), then the same
update; a refusal is shown in the form, next to the field, and the form stays open.

Slack wants the answer within 3 seconds; an update slower than that closes the form and its
answer comes as an ephemeral message instead.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp
from temporalio.client import Client

from canary.adapters import SlackAdapter
from canary.blocks.forms import FORM_CALLBACK, FormContext, FormError, read_form
from canary.models import ActionRequest, ActionResult, SlackRef
from canary.settings import Settings
from starter.gateway.slack.listeners.actions import foreign, vouched
from starter.intake import get_status, take_action

log = logging.getLogger("canary.gateway")
FORM_PATTERN = re.compile("^" + re.escape(FORM_CALLBACK) + r"[a-z_]+$")
#: How long the form waits for the update before it closes and answers in the channel.
ANSWER_WITHIN_SECONDS = 2.5


def _first_input(view: dict[str, Any]) -> str:
    blocks = [b for b in view.get("blocks") or [] if b.get("type") == "input"]
    return str(blocks[0].get("block_id")) if blocks else "note"


def submission_id(body: dict[str, Any], view: dict[str, Any]) -> str:
    """One submission's id, the same however often Slack delivers it: the update's id."""
    team = (body.get("team") or {}).get("id") or ""
    user = (body.get("user") or {}).get("id") or ""
    return f"slack/{team}/{user}/view/{view.get('id')}/{view.get('hash')}"


def register(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    async def on_submit(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        field = _first_input(view)

        async def refuse(why: str, errors: dict[str, str] | None = None) -> None:
            log.warning("slack form %s refused: %s", view.get("callback_id"), why)
            await ack(response_action="errors", errors=errors or {field: why[:300]})

        try:
            context = FormContext.loads(view.get("private_metadata") or "")
        except ValueError as exc:
            await refuse(f"Canary cannot read this form: {exc}.")
            return
        if (why := foreign(body, settings)) is not None:
            await refuse(f"Canary refused this form: {why}.")
            return
        status = await get_status(temporal(), context.workflow_id)
        if status is None:
            await refuse(f"No remediation {context.workflow_id}.")
            return
        offered = status.diagnosis.actions if status.diagnosis else []
        action = next((a for a in offered if a.id == context.action), None)
        if action is None or status.outcome:
            await refuse("This action is no longer offered: the remediation has moved on.")
            return
        user = body.get("user") or {}
        request = ActionRequest(
            action=action.id,
            user=user.get("id", "unknown"),
            user_name=user.get("name") or user.get("username"),
            source="slack",
            # The remediation checks the message the form was opened from as one of its own.
            message=SlackRef(channel=context.channel, ts=context.ts or "")
            if context.channel
            else None,
        )
        try:
            request = read_form(
                action,
                (view.get("state") or {}).get("values") or {},
                request,
                datetime.now(UTC).date(),
            )
        except FormError as exc:
            await refuse(str(exc), exc.errors)
            return
        groups = action.allowed.groups
        request = await vouched(request, groups, settings, directory, context.workflow_id)
        acting = asyncio.ensure_future(
            take_action(temporal(), context.workflow_id, request, submission_id(body, view))
        )
        try:
            result: ActionResult = await asyncio.wait_for(
                asyncio.shield(acting), ANSWER_WITHIN_SECONDS
            )
        except TimeoutError:
            await ack()
            result = await acting
            await _answer(client, context, request, result)
            return
        if not result.accepted:
            await refuse(result.message)
            return
        await ack()
        await _answer(client, context, request, result)

    app.view(FORM_PATTERN)(on_submit)


async def _answer(
    client: Any, context: FormContext, request: ActionRequest, result: ActionResult
) -> None:
    """The update's answer, to the person only, where the alert is."""
    log.info(
        "slack form %s on %s by %s: accepted=%s %s",
        request.action,
        context.workflow_id,
        request.user,
        result.accepted,
        result.message,
    )
    if not context.channel:
        return
    prefix = "" if result.accepted else ":no_entry_sign: "
    try:
        await client.chat_postEphemeral(
            channel=context.channel, user=request.user, text=f"{prefix}{result.message}"
        )
    except Exception as exc:  # noqa: BLE001 - the update is done; the answer is a courtesy
        log.warning("could not answer %s's form: %s", request.user, exc)
