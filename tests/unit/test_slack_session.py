"""Canary's Slack adapter keeps its connection: calls through one adapter go over one pooled
aiohttp session, so a storm of posts reuses a kept-alive connection instead of opening (and
closing) one per call as slack-sdk's WebClient does. The session belongs to the event loop
that opened it; a closed adapter, or one used from another loop, opens a new one and leaves
none unclosed. And an activity's outside call awaits an async adapter on the loop, while a
blocking one still runs in a thread. A call costs no debug lines unless DEBUG is on.

The Slack here is a local HTTP/1.1 server that answers every method ``ok`` and counts the TCP
connections it accepts (the pattern of tests/security/test_ids.py's ``listener``).
"""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from slack_sdk import WebClient

from activities.calls import call
from canary.adapters import SlackAdapter
from canary.logs import SLACK_SDK_LOGGERS, setup_logging
from canary.settings import Settings

TOKEN = "xoxb-session-test"
#: What every method answers: enough for users.info, chat.postMessage and chat.update.
ANSWER = json.dumps(
    {
        "ok": True,
        "user": {"id": "U0ALICE", "name": "alice"},
        "channel": "C0GTMALERTS",
        "ts": "1712345678.000100",
    }
).encode()


@dataclass
class CountingSlack:
    url: str
    connections: list[int] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)
    #: False: each answer closes its connection, as a server without keep-alive does.
    keep_alive: bool = True


@pytest.fixture()
def slack_server() -> Iterator[CountingSlack]:
    """An HTTP/1.1 server on 127.0.0.1 that keeps connections alive, answers every request
    with ``ANSWER`` and records each connection it accepts and each request it hears."""
    connections: list[int] = []
    heard: list[str] = []
    counting: CountingSlack | None = None

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive unless the client says close

        def setup(self) -> None:
            super().setup()
            connections.append(self.client_address[1])

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            heard.append(self.path.split("?")[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(ANSWER)))
            if counting is not None and not counting.keep_alive:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(ANSWER)

        do_GET = do_POST = _answer  # slack-sdk reads (users.info) with GET

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    counting = CountingSlack(f"http://127.0.0.1:{server.server_address[1]}", connections, heard)
    try:
        yield counting
    finally:
        server.shutdown()
        server.server_close()


async def test_calls_through_one_adapter_share_one_connection(
    slack_server: CountingSlack,
) -> None:
    # What Canary used before: slack-sdk's WebClient opens a connection per call.
    web = WebClient(token=TOKEN, base_url=slack_server.url + "/api/")
    for _ in range(3):
        await asyncio.to_thread(web.users_info, user="U0ALICE")
    assert len(slack_server.connections) == 3, "the server counts each connection"
    slack_server.connections.clear()

    adapter = SlackAdapter(TOKEN, slack_server.url + "/api/")
    try:
        assert (await adapter.user_info("U0ALICE") or {}).get("id") == "U0ALICE"
        assert await adapter.post("C0GTMALERTS", "one") == ("C0GTMALERTS", "1712345678.000100")
        await adapter.post("C0GTMALERTS", "two", thread_ts="1712345678.000100")
        await adapter.update("C0GTMALERTS", "1712345678.000100", "one, changed")
        await adapter.post_ephemeral("C0GTMALERTS", "U0ALICE", "only you")
    finally:
        await adapter.close()
    assert slack_server.heard[-5:] == [
        "/api/users.info",
        "/api/chat.postMessage",
        "/api/chat.postMessage",
        "/api/chat.update",
        "/api/chat.postEphemeral",
    ]
    assert len(slack_server.connections) == 1


async def test_a_closed_adapter_opens_a_new_connection_when_used_again(
    slack_server: CountingSlack,
) -> None:
    adapter = SlackAdapter(TOKEN, slack_server.url + "/api/")
    try:
        await adapter.user_info("U0ALICE")
        await adapter.close()
        assert (await adapter.user_info("U0ALICE") or {}).get("id") == "U0ALICE"
    finally:
        await adapter.close()
    assert len(slack_server.connections) == 2


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[aiohttp.ClientSession]:
    """Every aiohttp session opened during the test."""
    sessions: list[aiohttp.ClientSession] = []
    session = aiohttp.ClientSession

    def recorded(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        sessions.append(session(*args, **kwargs))
        return sessions[-1]

    monkeypatch.setattr(aiohttp, "ClientSession", recorded)
    return sessions


def test_each_event_loop_gets_a_session_of_its_own(
    slack_server: CountingSlack, opened: list[aiohttp.ClientSession]
) -> None:
    """An adapter built before any loop runs, then used from two loops: each loop's calls go
    over that loop's session, and ``close()`` closes the session of the loop it runs on."""
    adapter = SlackAdapter(TOKEN, slack_server.url + "/api/")
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        assert first.run_until_complete(adapter.user_info("U0ALICE")) is not None
        assert second.run_until_complete(adapter.user_info("U0ALICE")) is not None
        assert first.run_until_complete(adapter.user_info("U0ALICE")) is not None
        assert len(opened) == 2 and len(slack_server.connections) == 2

        first.run_until_complete(adapter.close())
        assert [s.closed for s in opened] == [True, False]
        second.run_until_complete(adapter.close())
        assert [s.closed for s in opened] == [True, True]
    finally:
        first.close()
        second.close()


def test_a_session_its_loop_closed_under_is_closed_by_the_next_loop(
    slack_server: CountingSlack, opened: list[aiohttp.ClientSession]
) -> None:
    """Tests run each in a loop of their own: the adapter's session of a loop that ended
    without ``close()`` is closed (nothing left to send on it) when the next loop opens its
    own, not left to the garbage collector's "Unclosed client session"."""
    slack_server.keep_alive = False  # the ended loop leaves no open connection behind
    adapter = SlackAdapter(TOKEN, slack_server.url + "/api/")

    assert asyncio.run(adapter.user_info("U0ALICE")) is not None
    assert asyncio.run(adapter.user_info("U0ALICE")) is not None
    assert [s.closed for s in opened] == [True, False]

    asyncio.run(adapter.close())
    assert [s.closed for s in opened] == [True, True]


async def test_an_outside_call_awaits_an_async_adapter_on_the_loop() -> None:
    loop_thread = threading.current_thread()

    async def on_the_loop(value: str) -> tuple[str, threading.Thread]:
        return value, threading.current_thread()

    def blocking(value: str) -> tuple[str, threading.Thread]:
        return value, threading.current_thread()

    assert await call(on_the_loop, "posted") == ("posted", loop_thread)
    value, thread = await call(blocking, "read")
    assert value == "read" and thread is not loop_thread


@pytest.fixture()
def logging_restored() -> Iterator[None]:
    """The root logger and slack-sdk's as they were, whatever ``setup_logging`` changed."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    sdk_levels = {name: logging.getLogger(name).level for name in SLACK_SDK_LOGGERS}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, sdk_level in sdk_levels.items():
            logging.getLogger(name).setLevel(sdk_level)


@pytest.mark.parametrize(("level", "lines"), [("INFO", 0), ("WARNING", 0), ("DEBUG", 2)])
async def test_slack_sdk_writes_a_calls_debug_lines_only_when_debug_is_on(
    slack_server: CountingSlack,
    monkeypatch: pytest.MonkeyPatch,
    logging_restored: None,
    level: str,
    lines: int,
) -> None:
    # slack-sdk formats the request's body and the answer before asking whether DEBUG is
    # on, unless its logger has a level of its own: what Canary's logging gives it.
    setup_logging(Settings(), level)
    sdk_logger = logging.getLogger("slack_sdk.web.async_base_client")
    written: list[str] = []
    monkeypatch.setattr(sdk_logger, "debug", lambda message, *a, **k: written.append(message))
    adapter = SlackAdapter(TOKEN, slack_server.url + "/api/")
    try:
        await adapter.post("C0GTMALERTS", "a post whose body is long " * 50)
    finally:
        await adapter.close()
    assert slack_server.heard[-1] == "/api/chat.postMessage"
    calls = [line for line in written if line.startswith(("Sending a request", "Received"))]
    assert len(calls) == lines, written
