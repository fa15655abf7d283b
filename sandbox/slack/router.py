"""Slack over HTTP: the Web API at ``/api/<method>`` (rate-limited per method tier when the
limits are on), the ``response_url``s handed out with clicks, and what tests read of the
workspace under ``/_sandbox/slack``."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.deps import InteractivityClient, SandboxDep
from sandbox.slack.interactivity import deliver_interaction
from sandbox.slack.methods import METHOD_ERRORS, authenticate, call_method
from sandbox.slack.ratelimits import POST_MESSAGE
from sandbox.slack.state import SlackApiError
from sandbox.slack.views import NotDispatched, public, submit_view, view_block_actions
from sandbox.state import Sandbox

router = APIRouter()

#: The methods that change what the chat page or a Home shows; reads (history, replies,
#: permalinks, listings) leave the pages alone.
CHANGING = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral"}
    | {"views.open", "views.publish", "views.push", "views.update"}
)


@router.api_route("/api/{method}", methods=["GET", "POST"], summary="Slack Web API", tags=["slack"])
async def slack_endpoint(sandbox: SandboxDep, request: Request, method: str) -> Response:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    args: dict[str, Any] = dict(request.query_params)
    status, headers = 200, {"x-slack-req-id": f"sbx{time.time_ns()}"}
    try:
        try:
            if raw and "json" in content_type:
                parsed = json.loads(raw)
                if not isinstance(parsed, dict):
                    raise SlackApiError("json_not_object")
                args.update(parsed)
            elif raw:
                args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        except ValueError:
            raise SlackApiError("invalid_json") from None
        authenticate(request.headers.get("authorization"), args, method)
        limits = sandbox.config.slack_rate_limits
        if limits.enabled:
            wait = sandbox.slack.limiter.take(limits, method, _channel_key(sandbox, method, args))
            if wait is not None:
                status, headers["Retry-After"] = 429, str(wait)
                raise SlackApiError("ratelimited")
        body: dict[str, Any] = {"ok": True, **call_method(sandbox.slack, method, args)}
        if method in CHANGING:
            sandbox.bump()
    except SlackApiError as exc:
        # An answer the method's table does not list is the sandbox's own bug: loud, not sent.
        declared = METHOD_ERRORS.get(method)
        if declared is not None and exc.error not in declared:
            raise AssertionError(f"{method} answered {exc.error}, not in METHOD_ERRORS") from exc
        body = {"ok": False, "error": exc.error, **exc.extra}
    args.pop("token", None)
    sandbox.recorder.record(
        "slack",
        request.method,
        f"/api/{method}",
        query=dict(request.query_params),
        headers=dict(request.headers),
        body=args,
        status=status,
        response=body,
    )
    return JSONResponse(body, status_code=status, headers=headers)


def _channel_key(sandbox: Sandbox, method: str, args: dict[str, Any]) -> str:
    """The channel a chat.postMessage counts against (its id, however it was named)."""
    if method != POST_MESSAGE:
        return ""
    ref = str(args.get("channel") or "")
    with sandbox.slack.lock:
        try:
            return str(sandbox.slack.channel(ref)["id"])
        except SlackApiError:
            return ref


@router.post("/_sandbox/slack/respond/{token}", tags=["sandbox"], include_in_schema=False)
async def respond(sandbox: SandboxDep, token: str, request: Request) -> Response:
    """A ``response_url``: ephemeral replies, replace_original, delete_original."""
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        body = dict(parse_qsl(raw.decode("utf-8", "replace")))
    sandbox.recorder.record(
        "slack",
        "POST",
        "/_sandbox/slack/respond",
        body=body,
        headers=dict(request.headers),
        status=200,
    )
    try:
        sandbox.slack.respond(token, body)
    except SlackApiError as exc:
        return JSONResponse({"ok": False, "error": exc.error}, status_code=404)
    sandbox.bump()
    return JSONResponse({"ok": True})


@router.get("/_sandbox/slack/messages", tags=["sandbox"])
async def slack_messages(sandbox: SandboxDep, channel: str = "gtm-alerts") -> Response:
    """Messages in a channel, oldest first, with their blocks, threads and metadata."""
    slack = sandbox.slack
    with slack.lock:
        try:
            found = slack.channel(channel)
        except SlackApiError:
            return JSONResponse({"error": f"no channel {channel}"}, status_code=404)
        return JSONResponse(json.loads(json.dumps(slack.messages[found["id"]])))


@router.get("/_sandbox/slack/ephemeral", tags=["sandbox"])
async def slack_ephemeral(sandbox: SandboxDep, user: str | None = None) -> list[dict[str, Any]]:
    with sandbox.slack.lock:
        return [e for e in sandbox.slack.ephemeral if user is None or e["user"] == user]


class Submission(BaseModel):
    """A person submitting their open modal, as the chat page and tests send it."""

    user: str = Field(description="Slack user id of the person, e.g. U0ALICE.")
    view_id: str
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Block id → what was entered: text, an option's value, or a date.",
    )


@router.get("/_sandbox/slack/views", tags=["sandbox"])
async def slack_views(sandbox: SandboxDep, user: str) -> dict[str, Any]:
    """A person's open modals (root first) and Home tab."""
    with sandbox.slack.lock:
        views = sandbox.slack.views
        return {
            "modals": [public(v) for v in views.stacks.get(user, [])],
            "home": public(views.homes[user]) if user in views.homes else None,
        }


@router.post("/_sandbox/slack/views/submit", tags=["sandbox"])
async def slack_submit_view(
    sandbox: SandboxDep, client: InteractivityClient, submission: Submission
) -> JSONResponse:
    """Press the modal's submit button: Slack's client checks required fields, then the app
    gets ``view_submission`` and its answer is applied."""
    try:
        done = await submit_view(
            sandbox, client, submission.user, submission.view_id, submission.values
        )
    except SlackApiError as exc:
        return JSONResponse({"ok": False, "error": exc.error}, status_code=404)
    return JSONResponse(
        {"ok": done.closed, "closed": done.closed, "errors": done.errors, "answer": done.answer},
        status_code=200 if done.status < 300 else 502,
    )


class ViewAction(BaseModel):
    """A person acting on a control of their open modal (choosing an option, pressing a
    button), after entering ``values`` in its inputs, as the chat page and tests send it."""

    user: str = Field(description="Slack user id of the person, e.g. U0ALICE.")
    view_id: str
    action_id: str
    block_id: str | None = None
    value: str | None = Field(None, description="The text typed, or the date picked.")
    selected_option: str | None = Field(None, description="The chosen option's value.")
    values: dict[str, Any] = Field(
        default_factory=dict,
        description="Block id → what was entered in the modal's inputs so far.",
    )


@router.post("/_sandbox/slack/views/action", tags=["sandbox"])
async def slack_view_action(
    sandbox: SandboxDep, client: InteractivityClient, acted: ViewAction
) -> JSONResponse:
    """The app gets ``block_actions`` from the modal (a ``view`` container, the view with what
    was entered so far); an input's element only when its block says ``dispatch_action``."""
    given = acted.selected_option if acted.selected_option is not None else acted.value
    try:
        with sandbox.slack.lock:
            payload = view_block_actions(
                sandbox.slack,
                acted.user,
                acted.view_id,
                acted.block_id,
                acted.action_id,
                given,
                acted.values,
            )
    except NotDispatched:
        return JSONResponse(
            {
                "ok": False,
                "error": "not_dispatched",
                "detail": "this input's block has no dispatch_action: Slack sends nothing "
                "until the form is submitted",
            },
            status_code=409,
        )
    except SlackApiError as exc:
        return JSONResponse({"ok": False, "error": exc.error}, status_code=404)
    status, text, _ = await deliver_interaction(sandbox, client, payload)
    sandbox.bump()
    return JSONResponse({"status": status, "body": text[:500]})
