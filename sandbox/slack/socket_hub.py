"""What the sandbox's Slack holds of Socket Mode: the tickets ``apps.connections.open`` hands
out, the app's connections (open and closed) and the envelopes awaiting an acknowledgement.
The protocol itself (hello, envelopes, acks, disconnects) is ``socket_mode``'s."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from fastapi import WebSocket

from sandbox.slack.seed import APP_ID, Obj

#: Slack's deadline for an acknowledgement (docs.slack.dev, "Using Socket Mode").
ACK_TIMEOUT_SECONDS = 3.0
#: Where the sandbox serves the WebSocket, as Slack's ``wss://wss-primary.slack.com/link/``.
LINK_PATH = "/link/"


@dataclass
class Connection:
    """One open WebSocket of the app's."""

    id: str
    websocket: WebSocket
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: Obj) -> None:
        async with self.sending:  # one frame at a time on a socket several tasks write to
            await self.websocket.send_text(json.dumps(message, separators=(",", ":")))


@dataclass
class Delivery:
    """How an envelope's delivery went: acknowledged (with the answer's payload) or not, yet."""

    envelope_id: str
    acked: bool
    sent_at: float
    answer: Obj | None = None

    @property
    def status(self) -> int:
        """As the chat page reports an app's answer: 200 acknowledged, 408 not in time."""
        return 200 if self.acked else 408

    @property
    def text(self) -> str:
        if not self.acked:
            return (
                f"the app did not acknowledge envelope {self.envelope_id} within "
                f"{ACK_TIMEOUT_SECONDS:g} s; Slack sends it again (retry_reason timeout)"
            )
        answer = (self.answer or {}).get("payload")
        return json.dumps(answer) if answer else ""


class SocketModeHub:
    """The app's tickets, open connections and envelopes awaiting their acknowledgement."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tickets: set[str] = set()
        self.connections: list[Connection] = []
        self.acks: dict[str, asyncio.Future[Obj]] = {}
        #: A fault for tests: this many acknowledgements are lost on their way (the app acted
        #: but Slack never heard), so their envelopes are sent again.
        self.lose_acks = 0
        self.ack_timeout = ACK_TIMEOUT_SECONDS
        self._tasks: set[asyncio.Task[Any]] = set()

    def issue_url(self, public_url: str) -> str:
        """A WebSocket URL with a new single-use ticket (``apps.connections.open``)."""
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        base = urlsplit(public_url)
        scheme = "wss" if base.scheme == "https" else "ws"
        return f"{scheme}://{base.netloc}{LINK_PATH}?ticket={ticket}&app_id={APP_ID}"

    def redeem(self, ticket: str) -> bool:
        with self._lock:
            if ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)
            return True

    @property
    def open_connections(self) -> list[Connection]:
        return [c for c in self.connections if c.closed_at is None]

    def newest(self) -> Connection | None:
        """Where an envelope goes: the most recently opened connection still open (after a
        refresh, the new one)."""
        open_now = self.open_connections
        return open_now[-1] if open_now else None

    def spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop redeliveries and scheduled closes (the sandbox is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task

    def snapshot(self) -> Obj:
        return {
            "open": len(self.open_connections),
            "connections": [
                {"id": c.id, "opened_at": c.opened_at, "closed_at": c.closed_at}
                for c in self.connections
            ],
            "awaiting_ack": sorted(k for k, f in self.acks.items() if not f.done()),
            "lose_acks": self.lose_acks,
            "ack_timeout": self.ack_timeout,
        }
