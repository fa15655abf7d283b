"""The sandbox's Socket Mode against Slack's: ``apps.connections.open`` through slack-sdk as
bolt calls it, and the WebSocket through slack-sdk's own Socket Mode client (hello, envelopes,
acknowledgements, redelivery, disconnect and reconnection).

Slack's description of the Web API (``../shared/reference/slack/slack_web_openapi_v2.json``,
version 1.7.0) is older than Socket Mode and has no ``apps.connections.open``; the sandbox is
held here to the method's reference page (docs.slack.dev/reference/methods/apps.connections.open):
a POST with the app-level token in the Authorization header, answering ``{"ok": true, "url"}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from sandbox import SandboxConfig, SandboxServer
from sandbox.slack.methods import METHOD_ERRORS
from sandbox.slack.seed import APP_ID
from tests.helpers import eventually

ROOT = Path(__file__).parents[2]
DESCRIPTION = json.loads(
    (ROOT.parent / "shared" / "reference" / "slack" / "slack_web_openapi_v2.json").read_text()
)
APP_TOKEN = "xapp-1-A0CANARY-1-socket"
BOT_TOKEN = "xoxb-socket-test"
#: The errors the sandbox may answer for apps.connections.open: the token's (the common errors
#: every method's reference page lists, and ``not_allowed_token_type`` for a token of another
#: kind), a body that is not JSON, and its Tier 1 rate limit.
OPEN_ERRORS = {
    "not_authed",
    "invalid_auth",
    "not_allowed_token_type",
    "invalid_json",
    "json_not_object",
    "ratelimited",
}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture
async def web(sandbox: SandboxServer) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=BOT_TOKEN, base_url=f"{sandbox.url}/api/")


class App:
    """slack-sdk's Socket Mode client, acknowledging every envelope unless told not to."""

    def __init__(self, web: AsyncWebClient) -> None:
        self.client = SocketModeClient(app_token=APP_TOKEN, web_client=web, ping_interval=1)
        self.received: list[SocketModeRequest] = []
        self.unacked = 0
        self.client.socket_mode_request_listeners.append(self.on_request)  # type: ignore[arg-type]

    async def on_request(self, client: SocketModeClient, request: SocketModeRequest) -> None:
        self.received.append(request)
        if self.unacked:
            self.unacked -= 1
            return
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))


@pytest.fixture
async def app(web: AsyncWebClient, sandbox: SandboxServer) -> AsyncIterator[App]:
    connected = App(web)
    await connected.client.connect()
    yield connected
    await connected.client.close()
    # The sandbox sees the close: no connection of this test's is left for the next one.
    await eventually(lambda: state(sandbox), lambda s: s["open"] == 0)


async def state(sandbox: SandboxServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        return dict((await http.get(f"{sandbox.url}/_sandbox/slack/socket")).json())


async def recorded(sandbox: SandboxServer, method: str, since: int = 0) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{sandbox.url}/_sandbox/requests",
            params={"service": "socket_mode", "method": method, "since_id": since},
        )
        return list(answer.json())


async def click(sandbox: SandboxServer, web: AsyncWebClient) -> dict[str, Any]:
    """Post a message with a button and click it as Alice, through the chat page's endpoint."""
    button = {
        "type": "button",
        "action_id": "canary:resolve",
        "text": {"type": "plain_text", "text": "Mark resolved"},
        "value": "payment_failed:invoice:in_socket",
    }
    posted = await web.chat_postMessage(
        channel="#gtm-alerts", text="A", blocks=[{"type": "actions", "elements": [button]}]
    )
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{sandbox.url}/_sandbox/slack/click",
            json={
                "user": "U0ALICE",
                "channel": "#gtm-alerts",
                "ts": posted["ts"],
                "action_id": "canary:resolve",
            },
        )
    return dict(answer.json())


# -- apps.connections.open -----------------------------------------------------------------------


def test_slacks_description_has_no_apps_connections_open() -> None:
    """When the reference is updated to a description that has it, check the sandbox against
    it as test_slack_conformance does for the other methods."""
    assert "/apps.connections.open" not in DESCRIPTION["paths"]
    assert DESCRIPTION["info"]["version"] == "1.7.0"
    assert set(METHOD_ERRORS["apps.connections.open"]) == OPEN_ERRORS


async def test_the_app_token_opens_a_url_on_the_sandbox(
    sandbox: SandboxServer, web: AsyncWebClient
) -> None:
    answer = await web.apps_connections_open(app_token=APP_TOKEN)
    assert set(answer.data) == {"ok", "url"} and answer["ok"] is True
    url = urlsplit(answer["url"])
    # ws://, not Slack's wss://: the sandbox is one plain-HTTP port (see sandbox.slack.socket_mode).
    assert url.scheme == "ws" and url.netloc == urlsplit(sandbox.url).netloc
    assert url.path == "/link/"
    query = parse_qs(url.query)
    assert query["app_id"] == [APP_ID] and len(query["ticket"][0]) >= 32
    call = (await recorded_calls(sandbox))[-1]
    assert call["method"] == "POST" and call["headers"]["authorization"].startswith("Bearer xapp-")


async def recorded_calls(sandbox: SandboxServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        answer = await http.get(
            f"{sandbox.url}/_sandbox/requests",
            params={"service": "slack", "path": "/api/apps.connections.open"},
        )
        return list(answer.json())


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (BOT_TOKEN, "not_allowed_token_type"),
        ("xoxp-a-person", "not_allowed_token_type"),
        ("not-a-token", "invalid_auth"),
    ],
)
async def test_a_token_that_is_not_an_app_token_is_refused(
    web: AsyncWebClient, token: str, error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await web.apps_connections_open(app_token=token)
    assert refused.value.response.data == {"ok": False, "error": error}


async def test_the_app_token_goes_in_the_header_only(sandbox: SandboxServer) -> None:
    async with httpx.AsyncClient() as http:
        as_argument = await http.post(
            f"{sandbox.url}/api/apps.connections.open", data={"token": APP_TOKEN}
        )
    assert as_argument.json() == {"ok": False, "error": "not_authed"}


async def test_a_ticket_opens_one_connection(sandbox: SandboxServer, web: AsyncWebClient) -> None:
    url = (await web.apps_connections_open(app_token=APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as first:
            hello = await first.receive_json(timeout=10)
            assert hello["type"] == "hello"
            with pytest.raises(aiohttp.WSServerHandshakeError) as again:
                await session.ws_connect(url)
            assert again.value.status == 403


# -- the socket ---------------------------------------------------------------------------------


async def test_hello_then_a_click_as_an_interactive_envelope(
    sandbox: SandboxServer, web: AsyncWebClient, app: App
) -> None:
    [hello] = [h["body"] for h in await recorded(sandbox, "HELLO")][-1:]
    assert {k: hello[k] for k in ("type", "num_connections", "connection_info")} == {
        "type": "hello",
        "num_connections": 1,
        "connection_info": {"app_id": APP_ID},
    }
    assert set(hello["debug_info"]) == {"host", "build_number", "approximate_connection_time"}

    answer = await click(sandbox, web)

    assert answer["status"] == 200
    [request] = app.received
    assert request.type == "interactive" and request.payload["type"] == "block_actions"
    assert request.payload["actions"][0]["action_id"] == "canary:resolve"
    assert request.accepts_response_payload is False
    assert (request.retry_attempt, request.retry_reason) == (0, "")
    sent = [s["body"] for s in await recorded(sandbox, "SEND")]
    assert set(sent[-1]) - {"connection"} == {
        "envelope_id",
        "type",
        "payload",
        "accepts_response_payload",
        "retry_attempt",
        "retry_reason",
    }
    acks = [a["body"] for a in await recorded(sandbox, "ACK")]
    assert acks[-1]["envelope_id"] == request.envelope_id
    clicks_over_http = [
        r for r in (await sandbox_requests(sandbox)) if r["service"] == "interactivity"
    ]
    assert clicks_over_http == []


async def sandbox_requests(sandbox: SandboxServer) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        return list((await http.get(f"{sandbox.url}/_sandbox/requests")).json())


async def test_an_envelope_not_acknowledged_in_time_is_sent_again(
    sandbox: SandboxServer, web: AsyncWebClient, app: App
) -> None:
    app.unacked = 1

    answer = await click(sandbox, web)

    assert answer["status"] == 408 and "did not acknowledge" in answer["body"]

    async def received() -> list[SocketModeRequest]:
        return app.received

    await eventually(received, lambda r: len(r) == 2, timeout=15)
    first, again = app.received
    assert again.envelope_id == first.envelope_id and again.payload == first.payload
    assert (first.retry_attempt, first.retry_reason) == (0, "")
    assert (again.retry_attempt, again.retry_reason) == (1, "timeout")
    await eventually(lambda: state(sandbox), lambda s: s["awaiting_ack"] == [])
    assert len(app.received) == 2, "acknowledged the second time: not sent a third"


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
async def test_after_a_disconnect_the_app_reconnects_and_gets_the_next_click(
    sandbox: SandboxServer, web: AsyncWebClient, app: App, reason: str
) -> None:
    before = await state(sandbox)
    [old] = [c["id"] for c in before["connections"] if c["closed_at"] is None]
    async with httpx.AsyncClient() as http:
        told = await http.post(
            f"{sandbox.url}/_sandbox/slack/socket/disconnect", json={"reason": reason}
        )
    assert told.json() == {"told": [old]}
    [disconnect] = [d["body"] for d in await recorded(sandbox, "DISCONNECT")][-1:]
    assert disconnect["type"] == "disconnect" and disconnect["reason"] == reason

    # The client asks for a new URL, connects to it and closes the old connection.
    after = await eventually(
        lambda: state(sandbox),
        lambda s: s["open"] == 1 and all(c["id"] != old for c in s["connections"][-1:]),
    )
    assert next(c for c in after["connections"] if c["id"] == old)["closed_at"] is not None

    answer = await click(sandbox, web)
    assert answer["status"] == 200
    new = after["connections"][-1]["id"]
    assert [s["body"]["connection"] for s in await recorded(sandbox, "SEND")][-1] == new
