"""The Slack bolt app, built in one place: signing secret, bot client, the listeners and the
directory they read people and groups from."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client

from canary.adapters import SlackAdapter
from canary.adapters.slack_adapter import CLICK_DIRECTORY_TTL_SECONDS
from canary.settings import Settings
from starter.gateway.slack.listeners import register_listeners


def slack_directory(settings: Settings) -> SlackAdapter | None:
    """What the listeners read who a person is and who is in a group from (answers kept a
    minute, one pooled session that the gateway closes when it stops); None without a bot
    token."""
    if not settings.slack_bot_token:
        return None
    return SlackAdapter(
        settings.slack_bot_token,
        settings.slack_api_url,
        directory_ttl=CLICK_DIRECTORY_TTL_SECONDS,
    )


def build_slack_app(
    settings: Settings, temporal: Callable[[], Client], directory: SlackAdapter
) -> AsyncApp:
    """slack-bolt verifies the signing secret (and its 5-minute replay window) of requests
    over HTTP for us; over Socket Mode, the app token is what Slack checks (``socket_mode``),
    so a gateway in Socket Mode alone needs no signing secret."""
    secret = settings.slack_signing_secret or ""
    if not settings.slack_app_token:
        secret = settings.require("slack_signing_secret", "to verify Slack button clicks")
    token = settings.require("slack_bot_token", "to answer Slack button clicks")
    web = AsyncWebClient(token=token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL)
    bolt = AsyncApp(
        signing_secret=secret,
        client=web,
        process_before_response=False,  # ack inside Slack's 3 s, run the update after
        raise_error_for_unhandled_request=False,
    )
    register_listeners(bolt, temporal, settings, directory)
    return bolt


def slack_handler(
    settings: Settings, temporal: Callable[[], Client], directory: SlackAdapter | None
) -> AsyncSlackRequestHandler | None:
    """What POST /slack/actions (and Socket Mode) hand requests to; None while Slack is not
    configured (no bot token, hence no ``directory``, or neither a signing secret nor an app
    token)."""
    if directory is None or not (settings.slack_signing_secret or settings.slack_app_token):
        return None
    return AsyncSlackRequestHandler(build_slack_app(settings, temporal, directory))
