"""The app's Home tab as Slack shows it: opening it sends the app ``app_home_opened`` (an
``event_callback`` of the Events API, POSTed signed to the app's events URL, or an
``events_api`` envelope over Socket Mode while the app has a connection open); the page shows
the Home view the app published (``views.publish``) for the person; a button on it goes to the
app as ``block_actions`` with a ``view`` container, as Slack sends clicks from a Home tab, and
the modal a button opens from there is drawn over the tab.

The events URL is the interactivity URL: a bolt app serves Events API requests (and Slack's
``url_verification``) on the same request handler as interactions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field

from sandbox.deps import InteractivityClient, SandboxDep
from sandbox.slack import socket_mode
from sandbox.slack.interactivity import deliver_interaction
from sandbox.slack.modal_page import field_errors, page_modal
from sandbox.slack.mrkdwn import text_of
from sandbox.slack.seed import APP_ID, TEAM_ID, Obj
from sandbox.slack.state import SlackApiError, SlackState, im_id
from sandbox.slack.views import public, view_action_payload
from sandbox.state import Sandbox
from sandbox.templating import TEMPLATES

router = APIRouter()


def event_callback(event: Obj) -> Obj:
    """The Events API's outer envelope around one event, as Slack POSTs it."""
    return {
        "token": "sandbox-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + secrets.token_hex(5).upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": TEAM_ID,
                "user_id": "U0CANARY",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def app_home_opened(state: SlackState, user: str) -> Obj:
    """``app_home_opened`` for the Home tab, with the view Slack shows when there is one."""
    if user not in state.users:
        raise SlackApiError("user_not_found")
    event: Obj = {
        "type": "app_home_opened",
        "user": user,
        "channel": im_id(user),
        "tab": "home",
        "event_ts": f"{time.time():.6f}",
    }
    if user in state.views.homes:
        event["view"] = public(state.views.homes[user])
    return event_callback(event)


async def deliver_event(
    sandbox: Sandbox, client: httpx.AsyncClient, payload: Obj
) -> tuple[int, str]:
    """An Events API payload to the app: over its socket, else POSTed as JSON, signed."""
    delivered = await socket_mode.deliver(sandbox, payload)
    if delivered is not None:
        return delivered.status, delivered.text
    url = sandbox.config.slack_interactivity_url
    secret = sandbox.config.slack_signing_secret
    if not url or not secret:
        return 503, "the app has no Socket Mode connection open and the sandbox no events URL"
    body = json.dumps(payload, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:".encode() + body
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    try:
        response = await client.post(url, content=body, headers=headers)
        status, text = response.status_code, response.text
    except httpx.HTTPError as exc:
        status, text = 502, f"could not reach the events URL: {exc}"
    sandbox.recorder.record(
        "events", "POST", url, headers=headers, body=payload, status=status, response=text[:2000]
    )
    return status, text


def home_block_actions(
    state: SlackState, user: str, action_id: str, value: str | None, selected: str | None
) -> Obj:
    """``block_actions`` for a control on the person's Home view (container type ``view``;
    no channel, message or response_url, as from Slack's Home tab)."""
    view = state.views.homes.get(user)
    if view is None:
        raise SlackApiError("not_found")
    for block in view.get("blocks") or []:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if element.get("action_id") != action_id:
                continue
            if (
                element.get("type") == "button"
                and value is not None
                and element.get("value") != value
            ):
                continue
            entry: Obj = {
                "action_id": action_id,
                "block_id": block.get("block_id") or "",
                "type": element.get("type", "button"),
                "action_ts": f"{time.time():.6f}",
            }
            if entry["type"] == "button":
                entry["text"] = element.get("text")
                entry["value"] = element.get("value", "")
            else:
                chosen = next(
                    (o for o in element.get("options") or [] if o.get("value") == selected), None
                )
                if chosen is None:
                    raise SlackApiError("invalid_option")
                entry["selected_option"] = chosen
            return view_action_payload(state, user, view, entry)
    raise SlackApiError("action_not_found")


class HomeClick(BaseModel):
    """A click on a person's Home tab, as tests and the page send it."""

    user: str = Field(description="Slack user id of the person, e.g. U0ALICE.")
    action_id: str
    value: str | None = None
    selected_option: str | None = None


@router.post("/_sandbox/slack/home/open", tags=["sandbox"])
async def open_home(sandbox: SandboxDep, client: InteractivityClient, user: str) -> JSONResponse:
    """The person opens the app's Home tab: ``app_home_opened`` goes to the app."""
    try:
        with sandbox.slack.lock:
            payload = app_home_opened(sandbox.slack, user)
    except SlackApiError as exc:
        return JSONResponse({"ok": False, "error": exc.error}, status_code=404)
    status, text = await deliver_event(sandbox, client, payload)
    return JSONResponse({"status": status, "body": text[:500]})


@router.post("/_sandbox/slack/home/click", tags=["sandbox"])
async def click_home(
    sandbox: SandboxDep, client: InteractivityClient, request: Request
) -> Response:
    """Press a control on the person's Home tab. JSON in → JSON out; the page gets a redirect."""
    from_page = "json" not in request.headers.get("content-type", "")
    data: dict[str, Any] = (
        {k: v for k, v in (await request.form()).items() if v != ""}
        if from_page
        else await request.json()
    )
    try:
        click = HomeClick.model_validate(data)
        with sandbox.slack.lock:
            payload = home_block_actions(
                sandbox.slack, click.user, click.action_id, click.value, click.selected_option
            )
        status, text, _ = await deliver_interaction(sandbox, client, payload)
    except SlackApiError as exc:
        status, text = 404, exc.error
    except ValueError as exc:
        status, text = 422, str(exc)
    if not from_page:
        return JSONResponse({"status": status, "body": text})
    target = f"/home?as={quote(str(data.get('user', '')))}&shown=1"
    if not 200 <= status < 300:
        target += f"&flash={quote(f'The app answered {status}: {text[:200]}')}"
    return RedirectResponse(target, status_code=303)


@router.get("/home", response_class=HTMLResponse, include_in_schema=False)
async def home_page(sandbox: SandboxDep, client: InteractivityClient, request: Request) -> Response:
    """The acting person's Home tab; opening it (without ``shown``) fires app_home_opened."""
    slack = sandbox.slack
    acting = request.query_params.get("as") or "U0ALICE"
    if acting not in slack.users:
        acting = "U0ALICE"
    if not request.query_params.get("shown"):
        with slack.lock:
            payload = app_home_opened(slack, acting)
        status, text = await deliver_event(sandbox, client, payload)
        target = f"/home?as={quote(acting)}&shown=1"
        if not 200 <= status < 300:
            target += f"&flash={quote(f'The app answered {status}: {text[:200]}')}"
        return RedirectResponse(target, status_code=303)
    with slack.lock:
        view = slack.views.homes.get(acting)
        blocks = []
        for block in (view or {}).get("blocks") or []:
            shown = dict(block)
            shown["text_html"] = text_of(block.get("text"), slack.user_name)
            shown["elements_html"] = [
                text_of(e, slack.user_name)
                for e in block.get("elements") or []
                if e.get("type") in ("mrkdwn", "plain_text")
            ]
            blocks.append(shown)
        people = [u for u in slack.users.values() if not u["is_bot"]]
        channels = list(slack.channels.values())
        # A button on the Home tab that asks first opens its modal over the tab, as in Slack.
        open_modal = slack.views.top(acting)
        modal = (
            page_modal(
                open_modal,
                slack.user_name,
                field_errors(request.query_params),
                slack.views.drafts.get(open_modal["id"]),
            )
            if open_modal
            else None
        )
    return HTMLResponse(
        TEMPLATES.get_template("home.html").render(
            acting=acting,
            users=people,
            channels=channels,
            blocks=blocks,
            published=view is not None,
            modal=modal,
            flash=request.query_params.get("flash"),
            version=sandbox.version,
        )
    )
