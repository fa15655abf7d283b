"""Block actions: a button or a select on a Canary message becomes the remediation's update.

Buttons carry `action_id` ``canary:<action>`` and the workflow id as their value; a select
carries the choice as its value and the workflow id in its block id (``canary:<workflow id>``).

A click must come from Canary's own workspace and app (when ``SLACK_TEAM_ID`` /
``SLACK_APP_ID`` are set), and from a message or the clicker's own Home tab, before it
reaches Temporal; a refused click is logged and answered. The update then carries where it
came from and who the clicker is now (in ``CANARY_ADMINS`` or not), and the remediation's
validator decides in the same step as the action: the message must be one it posted with
its buttons, an action that asks first answers with its form (opened here), and a click only
a group could allow answers with the groups to read (read here, from Slack, answers reused
for a minute; the update is sent again with them). One round trip to the remediation for
most clicks, and no way to act on a message the remediation did not post.
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
from canary.models import ActionRequest, FormAsk, SlackRef
from canary.settings import Settings
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


def clicked_on(body: dict[str, Any], workflow_id: str) -> tuple[SlackRef | None, str | None]:
    """Where the click came from: the message (for the remediation to check as one of its
    own), or None from a Home tab checked here; and why it is refused, if it is."""
    if (body.get("container") or {}).get("type") == "view":
        return None, not_its_home(body, workflow_id)
    channel, ts = clicked_message(body)
    if not (channel and ts):
        return None, "it names no message"
    return SlackRef(channel=channel, ts=ts), None


def not_its_home(body: dict[str, Any], workflow_id: str) -> str | None:
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
    wanted = (actions[0].get("action_id"), workflow_id)
    if wanted not in ours and f"canary:{workflow_id}" not in {
        block.get("block_id") for block in view.get("blocks") or []
    }:
        return f"this Home tab does not list {workflow_id}"
    return None


async def vouched(
    request: ActionRequest,
    groups: list[str],
    settings: Settings,
    directory: SlackAdapter,
    workflow_id: str,
) -> ActionRequest:
    """The click with who the clicker is now: an admin (CANARY_ADMINS as this process reads
    it) and which of ``groups`` they are in (read from Slack, cached a minute)."""
    member_of: list[str] = []
    for group in groups:
        try:
            members = await directory.usergroup_members(group)
        except Exception as err:  # noqa: BLE001 - an unreadable group grants nothing
            log.warning("could not read @%s for a click on %s: %s", group, workflow_id, err)
            continue
        if request.user in members:
            member_of.append(group)
    return request.model_copy(
        update={
            "admin": request.user in settings.admins,
            "member_of": member_of,
            "groups_unread": False,
        }
    )


def register(
    app: AsyncApp, temporal: Callable[[], Client], settings: Settings, directory: SlackAdapter
) -> None:
    async def refuse(
        respond: Any, workflow_id: str, request: ActionRequest, why: str, said: bool = False
    ) -> None:
        """Log and answer a refusal: the gateway's own (``why``), or the remediation's
        (``said``: its answer, shown as it is)."""
        log.warning(
            "slack action %s on %s by %s refused: %s",
            request.action,
            workflow_id,
            request.user,
            why,
        )
        text = why if said else f"Canary refused this click: {why}."
        await respond(
            text=f":no_entry_sign: {text}", response_type="ephemeral", replace_original=False
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
        message, why = (None, why) if why else clicked_on(body, workflow_id)
        if why is not None:
            await refuse(respond, workflow_id, request, why)
            return
        request = request.model_copy(
            update={
                "admin": request.user in settings.admins,
                "groups_unread": True,
                "message": message,
                "pressed": bool(body.get("trigger_id")),
            }
        )
        update_id = click_id(body, action)
        result = await take_action(temporal(), workflow_id, request, update_id)
        if result.groups_to_read:
            # Only a group would let this person press it: read those, and ask again (the
            # refused first try left nothing behind, so the click's own id is free).
            groups = result.groups_to_read
            request = await vouched(request, groups, settings, directory, workflow_id)
            result = await take_action(temporal(), workflow_id, request, update_id)
        if result.form is not None:
            await open_form(body, client, respond, workflow_id, result.form)
            return
        if not result.accepted:
            await refuse(respond, workflow_id, request, result.message, said=True)
            return
        log.info(
            "slack action %s on %s by %s: %s",
            request.action,
            workflow_id,
            request.user,
            result.message,
        )
        await respond(text=result.message, response_type="ephemeral", replace_original=False)

    async def open_form(
        body: dict[str, Any], client: Any, respond: Any, workflow_id: str, form: FormAsk
    ) -> None:
        """The action's form (a reason, a note, a snooze length): it acts on submit."""
        channel, ts = clicked_message(body)
        context = FormContext(workflow_id, form.action.id, channel, ts)
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=form_view(form.action, form.headline, context)
            )
        except SlackApiError as err:
            error = err.response.get("error") if err.response else None
            if error == "exchanged_trigger_id":
                return  # the same click delivered again: its form is open already
            log.warning("could not open the %s form: %s", form.action.id, error)
            await respond(
                text=f":no_entry_sign: Slack did not open the form ({error}); "
                "press the button again.",
                response_type="ephemeral",
                replace_original=False,
            )

    app.action(ACTION_PATTERN)(on_click)
