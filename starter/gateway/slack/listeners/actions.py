"""Block actions: a button or a select on a Canary message becomes the remediation's update.

Buttons carry `action_id` ``canary:<action>`` and the workflow id as their value; a select
carries the choice as its value and the workflow id in its block id (``canary:<workflow id>``).

Before a click reaches the remediation it must come from Canary's own workspace and app (when
``SLACK_TEAM_ID`` / ``SLACK_APP_ID`` are set) and from a message that carries that
remediation's buttons (its alert, an escalation post, a digest listing it). A refused click is
logged and answered, and never reaches Temporal. An accepted one carries what the gateway read
as it arrived: whether the clicker is in ``CANARY_ADMINS`` and which of the action's groups
they are in (Slack, answers reused for a minute), which the workflow decides by.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from temporalio.client import Client

from activities.home import publish_home
from canary.adapters import SlackAdapter
from canary.blocks.forms import FormContext, form_view
from canary.blocks.home import home_owner
from canary.models import ActionRequest, RemediationStatus
from canary.models.sop import HumanAction
from canary.settings import Settings
from starter.intake import get_status, take_action

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


def click_id(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """One click's own id, the same however often Slack delivers it (an envelope whose ack was
    lost comes again, identical): the workflow update's id, so the click acts once."""
    team = (body.get("team") or {}).get("id") or ""
    user = (body.get("user") or {}).get("id") or ""
    stamp = action.get("action_ts")
    return f"slack/{team}/{user}/{action.get('action_id')}/{stamp}" if stamp else None


def foreign(body: dict[str, Any], settings: Settings) -> str | None:
    """Why a request from another workspace or app is refused; None when it is Canary's own.
    An interaction names its workspace as ``team.id`` (and ``user.team_id``); an Events API
    callback (``app_home_opened``) and a slash command name it as ``team_id``."""
    team = (
        (body.get("team") or {}).get("id")
        or body.get("team_id")
        or (body.get("user") or {}).get("team_id")
    )
    if settings.slack_team_id and team != settings.slack_team_id:
        return f"it came from another Slack workspace ({team or 'none named'})"
    app_id = body.get("api_app_id")
    if settings.slack_app_id and app_id != settings.slack_app_id:
        return f"it came through another Slack app ({app_id or 'none named'})"
    return None


def clicked_message(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The channel and ts of the message the button is on, as Slack's payload names them."""
    container = body.get("container") or {}
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    return channel, ts


def not_its_message(body: dict[str, Any], status: RemediationStatus) -> str | None:
    """Why a click on a message (or a Home tab) without this remediation's buttons is
    refused; else None."""
    if (body.get("container") or {}).get("type") == "view":
        return not_its_home(body, status)
    channel, ts = clicked_message(body)
    if status.carries_buttons_in(channel, ts):
        return None
    return f"the message (channel {channel}, ts {ts}) is not one of {status.workflow_id}'s"


def not_its_home(body: dict[str, Any], status: RemediationStatus) -> str | None:
    """Why a click from a view is refused; None when it comes from the clicker's own Home,
    as Canary published it (its private_metadata names that person: Slack hands the view
    back as it was published, in a payload it signs or sends over the app's socket), and
    that Home carries this remediation's button (Canary lists a remediation on a Home only
    for someone it concerns; the workflow still checks who may press)."""
    view = body.get("view") or {}
    user = (body.get("user") or {}).get("id")
    container = body.get("container") or {}
    if container.get("view_id") != view.get("id") or home_owner(view) is None:
        return "it came from a view that is not a Canary Home tab"
    if home_owner(view) != user:
        return "it came from another person's Home tab"
    ours = {
        (element.get("action_id"), element.get("value"))
        for block in view.get("blocks") or []
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]
    }
    actions = body.get("actions") or [{}]
    wanted = (actions[0].get("action_id"), status.workflow_id)
    if wanted not in ours and f"canary:{status.workflow_id}" not in {
        block.get("block_id") for block in view.get("blocks") or []
    }:
        return f"this Home tab does not list {status.workflow_id}"
    return None


async def vouched(
    request: ActionRequest, status: RemediationStatus, settings: Settings, directory: SlackAdapter
) -> ActionRequest:
    """The click with who the clicker is now: an admin (CANARY_ADMINS as this process reads
    it) and which of the action's groups they are in (read from Slack, cached a minute)."""
    offered = status.diagnosis.actions if status.diagnosis else []
    action = next((a for a in offered if a.id == request.action), None)
    member_of: list[str] = []
    for group in action.allowed.groups if action else []:
        try:
            members = await directory.usergroup_members(group)
        except Exception as err:  # noqa: BLE001 - an unreadable group grants nothing
            log.warning("could not read @%s for a click on %s: %s", group, status.workflow_id, err)
            continue
        if request.user in members:
            member_of.append(group)
    return request.model_copy(
        update={"admin": request.user in settings.admins, "member_of": member_of}
    )


def form_action(status: RemediationStatus, action_id: str) -> HumanAction | None:
    """The remediation's action when pressing it opens a form first; None otherwise."""
    offered = status.diagnosis.actions if status.diagnosis and not status.outcome else []
    action = next((a for a in offered if a.id == action_id), None)
    return action if action is not None and action.asks_in_a_form() else None


def register(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    async def refuse(respond: Any, workflow_id: str, request: ActionRequest, why: str) -> None:
        log.warning(
            "slack action %s on %s by %s refused: %s",
            request.action,
            workflow_id,
            request.user,
            why,
        )
        await respond(
            text=f":no_entry_sign: Canary refused this click: {why}.",
            response_type="ephemeral",
            replace_original=False,
        )

    more_url = settings.gateway_url.rstrip("/") + "/report"

    def answerer(body: dict[str, Any], respond: Any) -> Any:
        """Where a click's answer goes: its message's response_url; a click on a Home tab has
        none, so its answer is the clicker's Home published again, as it now stands."""
        if (body.get("container") or {}).get("type") != "view":
            return respond
        user = str((body.get("user") or {}).get("id") or "")

        async def republish(text: str = "", **_: Any) -> None:
            log.info("answer to %s's click on their Home tab: %s", user, text)
            try:
                await publish_home(temporal(), directory, [user], more_url)
            except Exception:
                log.exception("could not publish %s's Home tab again", user)

        return republish

    async def on_click(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: Any
    ) -> None:
        await ack()  # inside Slack's 3 s; the update runs after (process_before_response off)
        respond = answerer(body, respond)
        clicked = action_request(body, action)
        if clicked is None:
            await respond(
                text="This button is not wired to a remediation.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        workflow_id, request = clicked
        why = foreign(body, settings)
        if why is not None:
            await refuse(respond, workflow_id, request, why)
            return
        status = await get_status(temporal(), workflow_id)
        if status is not None:
            if (why := not_its_message(body, status)) is not None:
                await refuse(respond, workflow_id, request, why)
                return
            offered = form_action(status, request.action)
            if offered is not None and body.get("trigger_id"):
                # It asks first (a reason, a note, a snooze length): the form acts on submit.
                channel, ts = clicked_message(body)
                context = FormContext(workflow_id, offered.id, channel, ts)
                try:
                    await client.views_open(
                        trigger_id=body["trigger_id"],
                        view=form_view(offered, status.headline, context),
                    )
                except SlackApiError as err:
                    error = err.response.get("error") if err.response else None
                    if error == "exchanged_trigger_id":
                        return  # the same click delivered again: its form is open already
                    log.warning("could not open the %s form: %s", offered.id, error)
                    await respond(
                        text=f":no_entry_sign: Slack did not open the form ({error}); "
                        "press the button again.",
                        response_type="ephemeral",
                        replace_original=False,
                    )
                return
            request = await vouched(request, status, settings, directory)
        result = await take_action(temporal(), workflow_id, request, click_id(body, action))
        log.info(
            "slack action %s on %s by %s: accepted=%s %s",
            request.action,
            workflow_id,
            request.user,
            result.accepted,
            result.message,
        )
        prefix = "" if result.accepted else ":no_entry_sign: "
        await respond(
            text=f"{prefix}{result.message}", response_type="ephemeral", replace_original=False
        )

    app.action(ACTION_PATTERN)(on_click)
