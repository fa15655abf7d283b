"""Shortcuts as Slack delivers them: a person picks one of the app's shortcuts, a global one
from the message box (``shortcut``) or a message one from a message's "…" menu
(``message_action``), and the app gets its payload, form-encoded and signed to its
interactivity URL, or as an ``interactive`` envelope over Socket Mode, as clicks go.

- A global shortcut's payload names the person, the workspace, the shortcut's ``callback_id``
  and a ``trigger_id`` (it opens a modal for 3 seconds): no channel and no ``response_url``.
- A message shortcut's adds the channel, the message as the API shows it (``message``,
  ``message_ts``) and a ``response_url`` that answers the person in that channel.
- Neither names the app (no ``api_app_id``), as Slack sends them: the signature (the app's
  signing secret) or the socket (the app's token) says which app it is for.
- Slack's client offers message shortcuts on messages, never on an ephemeral one.

The chat page offers the app's shortcuts (``seed.SHORTCUTS``, its manifest's); the control
route ``POST /_sandbox/slack/shortcut`` sends any callback id, as a manifest that declares a
shortcut the app's code does not know would.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from sandbox.deps import InteractivityClient, SandboxDep
from sandbox.slack.interactivity import deliver_interaction
from sandbox.slack.seed import TEAM_DOMAIN, TEAM_ID, Obj
from sandbox.slack.state import SlackApiError, SlackState, public_message
from sandbox.state import Sandbox

router = APIRouter()
#: How Slack names a direct message conversation in a payload's ``channel``.
DIRECT_MESSAGE = "directmessage"


class Shortcut(BaseModel):
    """A person using one of the app's shortcuts, as tests and the chat page send it."""

    user: str = Field(description="Slack user id of the person, e.g. U0ALICE.")
    callback_id: str = Field(min_length=1, max_length=255)
    channel: str | None = Field(
        None, description="A message shortcut: the message's channel (its name or id)."
    )
    ts: str | None = Field(
        None, description="A message shortcut: the message's ts. Without it, a global one."
    )


def _person(state: SlackState, user_id: str) -> Obj:
    user = state.users.get(user_id)
    if user is None or user["is_bot"]:
        raise SlackApiError("user_not_found")
    return user


def shortcut_payload(state: SlackState, shortcut: Shortcut) -> Obj:
    """The payload Slack sends for ``shortcut``; the caller holds ``state.lock``."""
    user = _person(state, shortcut.user)
    common: Obj = {
        "token": "sandbox-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": shortcut.callback_id,
        "trigger_id": state.views.issue_trigger(shortcut.user),
    }
    if shortcut.ts is None:
        return {
            "type": "shortcut",
            **common,
            "user": {"id": shortcut.user, "username": user["name"], "team_id": TEAM_ID},
        }
    channel = state.channel(shortcut.channel or "")
    message = state.find_message(channel["id"], shortcut.ts)
    if message is None:
        raise SlackApiError("message_not_found")
    return {
        "type": "message_action",
        **common,
        "user": {"id": shortcut.user, "name": user["name"]},
        "channel": {"id": channel["id"], "name": channel.get("name") or DIRECT_MESSAGE},
        "message_ts": message["ts"],
        "message": public_message(message, False),
        # Answers the person in the message's channel (not the message itself).
        "response_url": state.register_response_url(channel["id"], "", shortcut.user),
    }


async def deliver_shortcut(
    sandbox: Sandbox, client: httpx.AsyncClient, shortcut: Shortcut
) -> tuple[int, str]:
    """Send the shortcut to the app: (its status, its answer)."""
    with sandbox.slack.lock:
        payload = shortcut_payload(sandbox.slack, shortcut)
    status, text, _ = await deliver_interaction(sandbox, client, payload)
    sandbox.bump()
    return status, text


@router.post("/_sandbox/slack/shortcut", tags=["sandbox"])
async def use_shortcut(
    sandbox: SandboxDep, client: InteractivityClient, request: Request
) -> Response:
    """Use a shortcut as ``user``: a message one (``channel`` and ``ts`` of the message) or a
    global one. JSON in → JSON out (the app's status and answer); the chat page gets a
    redirect back to the channel it was on (``back``)."""
    from_page = "json" not in request.headers.get("content-type", "")
    if from_page:
        data: dict[str, Any] = {
            k: v for k, v in (await request.form()).items() if isinstance(v, str) and v
        }
    else:
        data = await request.json()
    try:
        status, text = await deliver_shortcut(sandbox, client, Shortcut.model_validate(data))
    except SlackApiError as exc:
        status, text = 404, exc.error
    except ValueError as exc:
        status, text = 422, str(exc)
    if not from_page:
        return JSONResponse({"status": status, "body": text})
    back = str(data.get("back") or data.get("channel") or "gtm-alerts")
    target = f"/?channel={quote(back)}&as={quote(str(data.get('user', '')))}"
    if not 200 <= status < 300:
        target += f"&err=1&flash={quote(f'The app answered {status}: {text[:200]}')}"
    return RedirectResponse(target, status_code=303)
