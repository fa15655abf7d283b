"""POST /slack/actions and POST /slack/commands: Slack's interactivity and slash command
requests, checked here and handed to the bolt app (`starter.gateway.slack`), whose listeners
acknowledge them and update the remediation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.starlette.async_handler import to_async_bolt_request, to_starlette_response
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from starter.gateway.deps import SettingsDep

router = APIRouter(tags=["webhooks"])


async def signed_interaction(request: Request, settings: SettingsDep) -> AsyncBoltRequest:
    """The request, read by bolt, when it is signed with `SLACK_SIGNING_SECRET` and bolt can
    read it.

    slack-bolt parses the body before it checks the signature, and answers 500 to a body that
    is not UTF-8 or whose payload is not a JSON object (and to a timestamp that is not a
    number): check the signature first, then that bolt can read what it is given. The request
    bolt read is the one the app dispatches: a click's body (the whole message it was on, URL
    encoded) is parsed once."""
    handler: AsyncSlackRequestHandler | None = request.app.state.slack
    if handler is None or not settings.slack_signing_secret:
        raise HTTPException(
            503,
            "SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN must be set to accept Slack button clicks",
        )
    body = await request.body()
    try:
        signed = SignatureVerifier(settings.slack_signing_secret).is_valid(
            body,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
        )
    except ValueError:
        signed = False
    if not signed:
        raise HTTPException(401, "invalid or stale Slack signature")
    try:
        return to_async_bolt_request(request, body)
    except Exception as exc:  # noqa: BLE001 - whatever bolt cannot read is a bad request
        raise HTTPException(400, "not a Slack interaction payload") from exc


SignedInteraction = Annotated[AsyncBoltRequest, Depends(signed_interaction)]


async def dispatched(request: Request, interaction: AsyncBoltRequest) -> Response:
    """Bolt's answer to the interaction (its own checks, the listener's ack), as the response."""
    handler: AsyncSlackRequestHandler = request.app.state.slack
    return to_starlette_response(await handler.app.async_dispatch(interaction))


@router.post("/slack/actions")
async def slack_actions(request: Request, interaction: SignedInteraction) -> Response:
    return await dispatched(request, interaction)


@router.post("/slack/commands")
async def slack_commands(request: Request, interaction: SignedInteraction) -> Response:
    """``/canary``: Slack's slash command request (form-encoded, signed like clicks)."""
    return await dispatched(request, interaction)
