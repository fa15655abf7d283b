"""POST /slack/actions and POST /slack/commands: Slack's interactivity and slash command
requests, checked here and handed to the bolt app (`starter.gateway.slack`), whose listeners
acknowledge them and update the remediation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from starter.gateway.deps import SettingsDep

router = APIRouter(tags=["webhooks"])


async def signed_interaction(request: Request, settings: SettingsDep) -> AsyncSlackRequestHandler:
    """The bolt handler for a request signed with `SLACK_SIGNING_SECRET` that bolt can read.

    slack-bolt parses the body before it checks the signature, and answers 500 to a body that
    is not UTF-8 or whose payload is not a JSON object (and to a timestamp that is not a
    number): check the signature first, then that bolt can read what it is given."""
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
        AsyncBoltRequest(
            body=body.decode("utf-8"),
            query=str(request.query_params),
            headers=dict(request.headers),
        )
    except Exception as exc:  # noqa: BLE001 - whatever bolt cannot read is a bad request
        raise HTTPException(400, "not a Slack interaction payload") from exc
    return handler


@router.post("/slack/actions")
async def slack_actions(
    request: Request, handler: Annotated[AsyncSlackRequestHandler, Depends(signed_interaction)]
) -> Response:
    return await handler.handle(request)


@router.post("/slack/commands")
async def slack_commands(
    request: Request, handler: Annotated[AsyncSlackRequestHandler, Depends(signed_interaction)]
) -> Response:
    """``/canary``: Slack's slash command request (form-encoded, signed like clicks)."""
    return await handler.handle(request)
