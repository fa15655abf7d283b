"""A click as Slack delivers it: the ``block_actions`` payload for the element clicked, with a
working ``response_url``, posted form-encoded to the app's interactivity URL and signed with
``X-Slack-Signature`` as Slack signs it, or, while the app has a Socket Mode connection open,
sent over it as an ``interactive`` envelope (``socket_mode``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import quote

import httpx
from pydantic import BaseModel, Field

from sandbox.slack import socket_mode
from sandbox.slack.seed import APP_ID, TEAM_DOMAIN, TEAM_ID, Obj
from sandbox.slack.state import SlackApiError, SlackState, public_message
from sandbox.state import Sandbox


class Click(BaseModel):
    """A click on the chat page, as tests and the page send it."""

    user: str = Field(description="Slack user id of the person clicking, e.g. U0ALICE.")
    channel: str
    ts: str
    action_id: str
    block_id: str | None = None
    value: str | None = None
    selected_option: str | None = None


def block_actions_payload(
    state: SlackState,
    user_id: str,
    channel_id: str,
    message: Obj,
    action: Obj,
    block_id: str | None,
    selected: str | None,
    value: str | None,
) -> Obj:
    """The ``block_actions`` payload Slack posts to the interactivity URL for one click."""
    user = state.users.get(user_id)
    if user is None:
        raise SlackApiError("user_not_found")
    now = f"{time.time():.6f}"
    entry: Obj = {
        "action_id": action["action_id"],
        "block_id": block_id or "",
        "type": action.get("type", "button"),
        "action_ts": now,
    }
    if entry["type"] == "button":
        entry["text"] = action.get("text") or {"type": "plain_text", "text": ""}
        entry["value"] = value if value is not None else action.get("value", "")
        if action.get("style"):
            entry["style"] = action["style"]
    else:
        options = action.get("options") or []
        chosen = next((o for o in options if o.get("value") == selected), None)
        if chosen is None:
            raise SlackApiError("invalid_option")
        entry["selected_option"] = chosen
        if action.get("placeholder"):
            entry["placeholder"] = action["placeholder"]
    channel = state.channels[channel_id]
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user["name"], "name": user["name"], "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "sandbox-verification-token",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": state.views.issue_trigger(user_id),
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel.get("name") or "directmessage"},
        "message": public_message(message, False),
        "state": {"values": {}},
        "response_url": state.register_response_url(channel_id, message["ts"], user_id),
        "actions": [entry],
    }


def find_element(message: Obj, action_id: str, block_id: str | None) -> tuple[Obj, str | None]:
    """The interactive element a click refers to, and its block's id."""
    for block in message.get("blocks") or []:
        if block_id and block.get("block_id") != block_id:
            continue
        elements = list(block.get("elements") or [])
        if "accessory" in block:
            elements.append(block["accessory"])
        for element in elements:
            if element.get("action_id") == action_id:
                return element, block.get("block_id")
    raise SlackApiError("action_not_found")


async def deliver_click(
    sandbox: Sandbox, client: httpx.AsyncClient, click: Click
) -> tuple[int, str, float | None]:
    """Send the click's ``block_actions`` to the app: (its status, its answer, when it left)."""
    slack = sandbox.slack
    with slack.lock:
        channel = slack.channel(click.channel)
        message = slack.find_message(channel["id"], click.ts)
        if message is None:
            raise SlackApiError("message_not_found")
        element, block_id = find_element(message, click.action_id, click.block_id)
        payload = block_actions_payload(
            slack,
            click.user,
            channel["id"],
            message,
            element,
            block_id,
            click.selected_option,
            click.value,
        )
    return await deliver_interaction(sandbox, client, payload)


async def deliver_interaction(
    sandbox: Sandbox, client: httpx.AsyncClient, payload: Obj
) -> tuple[int, str, float | None]:
    """An interaction payload to the app as Slack sends it: over the app's Socket Mode
    connection while it has one open, else POSTed, signed, to its interactivity URL."""
    delivered = await socket_mode.deliver(sandbox, payload)
    if delivered is not None:
        return delivered.status, delivered.text, delivered.sent_at
    url = sandbox.config.slack_interactivity_url
    secret = sandbox.config.slack_signing_secret
    if not url or not secret:
        return (
            503,
            "the app has no Socket Mode connection open, and the sandbox has no interactivity "
            "URL or signing secret: start it with --interactivity-url and SLACK_SIGNING_SECRET "
            "(canary up does)",
            None,
        )
    body = ("payload=" + quote(json.dumps(payload, separators=(",", ":")))).encode()
    return await post_signed(
        sandbox, client, "interactivity", url, secret, body, {"payload": payload}
    )


async def post_signed(
    sandbox: Sandbox,
    client: httpx.AsyncClient,
    service: str,
    url: str,
    secret: str,
    body: bytes,
    recorded: Obj,
) -> tuple[int, str, float]:
    """POST a form-encoded ``body`` to the app, signed as Slack signs its requests
    (``X-Slack-Signature``: v0, HMAC-SHA256 of ``v0:<timestamp>:<body>``), and record it under
    ``service`` (``interactivity``, ``commands``): (its status, its answer, when it left)."""
    timestamp = str(int(time.time()))
    signature = (
        "v0="
        + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    sent_at = time.time()
    try:
        response = await client.post(url, content=body, headers=headers)
        status, text = response.status_code, response.text
    except httpx.HTTPError as exc:
        status, text = 502, f"could not reach {url}: {exc}"
    sandbox.recorder.record(
        service, "POST", url, headers=headers, body=recorded, status=status, response=text[:2000]
    )
    return status, text, sent_at
