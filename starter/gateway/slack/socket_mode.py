"""Socket Mode: with ``SLACK_APP_TOKEN`` set, the gateway also keeps a WebSocket open to Slack
and takes interactions over it, through the same bolt app and listeners as
``POST /slack/actions``, for a gateway that Slack cannot reach (no public URL).

Slack authenticates the socket by the app-level token: ``apps.connections.open``, called with
it, hands out the connection's URL, and what arrives on that connection comes from Slack, over
TLS to Slack's host. So an envelope carries no signature to check: bolt's request verification
skips Socket Mode requests, and the route's signature check (``routes/slack``) is for HTTP.
Every other check (the workspace, the app, the message clicked, who may press) is the
listeners', the same whichever way a click came in.

slack-sdk's client (aiohttp) acknowledges each envelope once bolt's listener has called
``ack()``, reconnects when Slack says ``disconnect`` or the connection drops, and calls the Web
API (``apps.connections.open`` included) at ``SLACK_API_URL``, so the sandbox stands in for
Slack here too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.errors import SlackApiError

from canary.settings import MissingSettingError, Settings


class SocketModeRefused(RuntimeError):
    """Slack would not open a Socket Mode connection with the configured app token."""


@asynccontextmanager
async def socket_mode(
    handler: AsyncSlackRequestHandler | None, settings: Settings
) -> AsyncIterator[AsyncSocketModeHandler | None]:
    """While the gateway serves: the Socket Mode connection when ``SLACK_APP_TOKEN`` is set
    (None otherwise), on the bolt app ``handler`` serves HTTP with."""
    token = settings.slack_app_token
    if not token:
        yield None
        return
    if handler is None:
        raise MissingSettingError("SLACK_BOT_TOKEN", "to answer Slack interactions in Socket Mode")
    socket = AsyncSocketModeHandler(handler.app, app_token=token)
    try:
        # slack-sdk's connect() retries a refused token forever; ask for the first URL here,
        # so a wrong token stops the gateway with Slack's answer instead.
        socket.client.wss_uri = await socket.client.issue_new_wss_url()
    except SlackApiError as err:
        await socket.client.close()
        raise SocketModeRefused(
            f"Slack refused SLACK_APP_TOKEN in apps.connections.open: {err.response['error']} "
            "(it must be the app-level token, xapp-…, with the connections:write scope)"
        ) from err
    await socket.connect_async()
    try:
        yield socket
    finally:
        await socket.close_async()
