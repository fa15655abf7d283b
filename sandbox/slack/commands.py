"""Slash commands as Slack delivers them: a person types ``/canary …`` (the chat page's message
box, or ``POST /_sandbox/slack/command``), and the app gets the command's form fields (token,
team_id, team_domain, channel_id, channel_name, user_id, user_name, command, text, api_app_id,
is_enterprise_install, response_url, trigger_id) POSTed form-encoded and signed to its command
URL, or, while it has a Socket Mode connection open, as a ``slash_commands`` envelope.

The app's answer (the 200's body, or the envelope's acknowledgement payload: ``text``,
``blocks``, ``response_type`` ``ephemeral`` by default or ``in_channel``) is shown as Slack
shows it: to the person alone, or posted in the channel. Its ``response_url`` answers later
the same way, and its ``trigger_id`` opens a modal. Slack escapes ``&``, ``<`` and ``>`` in
the text it sends; a failure shows the person ``/canary failed with the error "…"``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from sandbox.deps import InteractivityClient, SandboxDep
from sandbox.slack import socket_mode
from sandbox.slack.interactivity import post_signed
from sandbox.slack.seed import APP_ID, TEAM_DOMAIN, TEAM_ID
from sandbox.slack.state import SlackApiError, SlackState
from sandbox.state import Sandbox

router = APIRouter()
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


class Command(BaseModel):
    """A person typing a slash command, as tests and the chat page send it."""

    user: str = Field(description="Slack user id of the person, e.g. U0ALICE.")
    channel: str = Field("gtm-alerts", description="Where it is typed: a channel's name or id.")
    text: str = Field(description="What is typed: '/canary status in_123', or its text alone.")
    command: str = "/canary"


def slash_command_payload(state: SlackState, command: Command) -> dict[str, str]:
    """The form fields Slack sends for ``command``; the caller holds ``state.lock``."""
    user = state.users.get(command.user)
    if user is None or user["is_bot"]:
        raise SlackApiError("user_not_found")
    channel = state.channel(command.channel)
    text = command.text.strip()
    if text.split(" ", 1)[0] == command.command:
        text = text[len(command.command) :].strip()
    return {
        "token": "sandbox-verification-token",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel["id"],
        "channel_name": channel.get("name") or "directmessage",
        "user_id": command.user,
        "user_name": user["name"],
        "command": command.command,
        "text": "".join(_ESCAPES.get(c, c) for c in text),
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": state.register_response_url(channel["id"], "", command.user),
        "trigger_id": state.views.issue_trigger(command.user),
    }


async def deliver_command(
    sandbox: Sandbox, client: httpx.AsyncClient, command: Command
) -> tuple[int, str]:
    """Send the command to the app and show its answer: (the app's status, its answer)."""
    slack = sandbox.slack
    with slack.lock:
        payload = slash_command_payload(slack, command)
    delivered = await socket_mode.deliver(sandbox, dict(payload))
    if delivered is not None:
        status, text = delivered.status, delivered.text
    else:
        url, secret = sandbox.config.slack_command_url, sandbox.config.slack_signing_secret
        if not url or not secret:
            status, text = (
                503,
                (
                    "the app has no Socket Mode connection open, and the sandbox has no command "
                    "URL or signing secret: start it with --command-url and SLACK_SIGNING_SECRET "
                    "(canary up does)"
                ),
            )
        else:
            status, text, _ = await post_signed(
                sandbox, client, "commands", url, secret, urlencode(payload).encode(), payload
            )
    _show(slack, payload, status, text)
    sandbox.bump()
    return status, text


def _show(slack: SlackState, payload: dict[str, str], status: int, text: str) -> None:
    """The app's immediate answer, as Slack shows it."""
    if not 200 <= status < 300:
        answer: Any = {"text": f'{payload["command"]} failed with the error "dispatch_failed"'}
    elif not text.strip():
        return
    else:
        try:
            answer = json.loads(text)
        except ValueError:
            answer = {"text": text}  # a plain-text body is shown as it is
        if not isinstance(answer, dict) or not (answer.get("text") or answer.get("blocks")):
            return
    with slack.lock:
        if answer.get("response_type") == "in_channel":
            slack.post(payload["channel_id"], str(answer.get("text") or ""), answer.get("blocks"))
            return
        slack.ephemeral.append(
            {
                "channel": payload["channel_id"],
                "user": payload["user_id"],
                "text": str(answer.get("text") or ""),
                "blocks": answer.get("blocks"),
                "ts": slack.next_ts(),
            }
        )


def _say(sandbox: Sandbox, command: Command) -> int:
    with sandbox.slack.lock:
        channel = sandbox.slack.channel(command.channel)
        sandbox.slack.post(channel["id"], command.text.strip(), None, user=command.user)
    sandbox.bump()
    return 200


@router.post("/_sandbox/slack/command", tags=["sandbox"])
async def type_command(
    sandbox: SandboxDep, client: InteractivityClient, request: Request
) -> Response:
    """Type a slash command as ``user`` in ``channel``. JSON in → JSON out (the app's status
    and answer); the chat page's message box gets a redirect."""
    from_page = "json" not in request.headers.get("content-type", "")
    if from_page:
        data: dict[str, Any] = dict((await request.form()).items())
    else:
        data = await request.json()
    try:
        command = Command.model_validate(data)
        typed = command.text.strip()
        if from_page and not typed.startswith("/"):
            status, text = _say(sandbox, command), ""  # a plain message, as its author
        elif from_page and typed.split(" ", 1)[0] != command.command:
            status, text = 404, f"{typed.split(' ', 1)[0]} is not a valid command"
        else:
            status, text = await deliver_command(sandbox, client, command)
    except SlackApiError as exc:
        status, text = 404, exc.error
    except ValueError as exc:
        status, text = 422, str(exc)
    if not from_page:
        return JSONResponse({"status": status, "body": text})
    target = f"/?channel={quote(str(data.get('channel', 'gtm-alerts')))}"
    target += f"&as={quote(str(data.get('user', '')))}"
    if not 200 <= status < 300:
        target += f"&err=1&flash={quote(f'The app answered {status}: {text[:200]}')}"
    return RedirectResponse(target, status_code=303)
