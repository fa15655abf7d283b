"""Socket Mode as Slack speaks it: the app asks ``apps.connections.open`` (with its app-level
``xapp-`` token) for a WebSocket URL, connects, is greeted with ``hello``, and from then on
receives every interaction as an envelope it must acknowledge within 3 seconds.

- ``apps.connections.open`` answers ``{"ok": true, "url": …}`` with a single-use ticket in the
  URL (``methods``, through :meth:`SocketModeHub.issue_url`).
- On connect the sandbox sends ``{"type": "hello", "num_connections", "connection_info",
  "debug_info"}``.
- An interaction goes out as ``{"envelope_id", "type", "payload", "accepts_response_payload",
  "retry_attempt", "retry_reason"}``: ``interactive`` (block actions, view submissions,
  shortcuts), ``slash_commands`` or ``events_api`` (:func:`envelope_type`). The app answers
  ``{"envelope_id": …}`` (with a ``payload`` where the envelope accepts one); an envelope not
  acknowledged within :data:`ACK_TIMEOUT_SECONDS` is sent again with ``retry_attempt`` + 1 and
  ``retry_reason`` ``"timeout"``, up to :data:`MAX_RETRIES` times.
- ``{"type": "disconnect", "reason": "refresh_requested" | "warning"}`` can be sent to every
  open connection (``POST /_sandbox/slack/socket/disconnect``); the app then opens a new one.

The one difference from Slack is the URL's scheme: Slack hands out ``wss://``; the sandbox is
one plain-HTTP port (its Stripe, Slack and Salesforce all speak HTTP there), so it hands out
``ws://`` on that port, or ``wss://`` when its public URL is ``https://`` (behind a TLS proxy).
Canary's client opens whatever URL Slack returns, so nothing in Canary differs between the
two, and no test or demo needs a certificate of its own or a setting that turns off TLS
checks, which a production gateway must never have.

Every envelope sent, acknowledgement received, hello and disconnect is recorded (service
``socket_mode``, path ``/link/``) for tests to assert on, like every Web API call. What the
sandbox holds between calls (tickets, connections, envelopes awaiting an ack) is
``socket_hub``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any, Literal

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field

from sandbox.deps import SandboxDep
from sandbox.slack.seed import APP_ID, Obj
from sandbox.slack.socket_hub import LINK_PATH, Connection, Delivery
from sandbox.state import Sandbox

#: Redeliveries of an envelope nobody acknowledged, after the first delivery.
MAX_RETRIES = 3
#: The host the sandbox names in ``debug_info``, as Slack names its ``applink-…`` hosts.
DEBUG_HOST = "applink-sandbox"
#: Payload types whose acknowledgement may carry an answer (a modal's ``response_action``,
#: a slash command's reply, a select's options).
_ANSWERABLE = {"view_submission", "block_suggestion"}

EnvelopeType = Literal["interactive", "slash_commands", "events_api"]
DisconnectReason = Literal["refresh_requested", "warning"]


def envelope_type(payload: Obj) -> EnvelopeType:
    """The envelope Slack wraps a payload in: an Events API callback, a slash command (its
    form fields, with ``command``) or an interaction (anything with an interactive ``type``)."""
    if payload.get("type") == "event_callback":
        return "events_api"
    if "command" in payload and "type" not in payload:
        return "slash_commands"
    return "interactive"


def accepts_response_payload(kind: EnvelopeType, payload: Obj) -> bool:
    return kind == "slash_commands" or payload.get("type") in _ANSWERABLE


def _record(sandbox: Sandbox, method: str, body: Any, status: int = 200) -> None:
    sandbox.recorder.record("socket_mode", method, LINK_PATH, body=body, status=status)


# -- the WebSocket ------------------------------------------------------------------------------

router = APIRouter()


@router.websocket(LINK_PATH)
async def link(websocket: WebSocket, ticket: str = "") -> None:
    """The app's end of Socket Mode: greeted with ``hello``, then envelopes out, acks in."""
    sandbox: Sandbox = websocket.app.state.sandbox
    hub = sandbox.slack.socket_mode
    if not hub.redeem(ticket):
        # Refused before the upgrade, so the client sees an HTTP 403, as for a used ticket.
        _record(sandbox, "CONNECT", {"ticket": ticket[:8]}, status=403)
        await websocket.close(code=1008)
        return
    await websocket.accept()
    connection = Connection(id=f"c{uuid.uuid4().hex[:12]}", websocket=websocket)
    hub.connections.append(connection)
    hello = {
        "type": "hello",
        "num_connections": len(hub.open_connections),
        "debug_info": {
            "host": DEBUG_HOST,
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": APP_ID},
    }
    try:
        await connection.send(hello)
        _record(sandbox, "HELLO", {"connection": connection.id, **hello})
        while True:
            _acknowledged(sandbox, connection, await websocket.receive_text())
    except WebSocketDisconnect:
        pass
    finally:
        connection.closed_at = time.time()
        _record(sandbox, "CLOSE", {"connection": connection.id})


def _acknowledged(sandbox: Sandbox, connection: Connection, text: str) -> None:
    """An acknowledgement from the app (``{"envelope_id": …, "payload"?: …}``)."""
    hub = sandbox.slack.socket_mode
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or not message.get("envelope_id"):
        _record(sandbox, "ACK", {"connection": connection.id, "unreadable": text[:500]}, 400)
        return
    if hub.lose_acks > 0:
        hub.lose_acks -= 1
        _record(sandbox, "ACK", {"connection": connection.id, "lost": True, **message}, 499)
        return
    _record(sandbox, "ACK", {"connection": connection.id, **message})
    waiting = hub.acks.get(str(message["envelope_id"]))
    if waiting is not None and not waiting.done():
        waiting.set_result(message)


# -- delivering envelopes -----------------------------------------------------------------------


async def deliver(sandbox: Sandbox, payload: Obj) -> Delivery | None:
    """Send ``payload`` to the app over its socket and wait for the first acknowledgement;
    None when the app has no open connection (the caller uses the app's HTTP URL instead).
    An envelope not acknowledged in time goes on being redelivered in the background."""
    hub = sandbox.slack.socket_mode
    if hub.newest() is None:
        return None
    kind = envelope_type(payload)
    envelope: Obj = {
        "envelope_id": str(uuid.uuid4()),
        "type": kind,
        "payload": payload,
        "accepts_response_payload": accepts_response_payload(kind, payload),
        "retry_attempt": 0,
        "retry_reason": "",
    }
    envelope_id = envelope["envelope_id"]
    hub.acks[envelope_id] = asyncio.get_running_loop().create_future()
    sent_at = time.time()
    answer = await _attempt(sandbox, envelope)
    if answer is not None:
        hub.acks.pop(envelope_id, None)
        return Delivery(envelope_id, True, sent_at, answer)
    hub.spawn(_redeliver(sandbox, envelope))
    return Delivery(envelope_id, False, sent_at)


async def _attempt(sandbox: Sandbox, envelope: Obj) -> Obj | None:
    """One delivery of ``envelope``: its acknowledgement, or None after the deadline."""
    hub = sandbox.slack.socket_mode
    waiting = hub.acks[envelope["envelope_id"]]
    connection = hub.newest()
    if connection is not None:
        try:
            await connection.send(envelope)
            _record(sandbox, "SEND", {"connection": connection.id, **envelope})
        except (RuntimeError, WebSocketDisconnect, OSError):
            # The connection is going away as it is written to: the deadline below decides.
            _record(sandbox, "SEND", {"connection": connection.id, **envelope}, status=502)
    try:
        return await asyncio.wait_for(asyncio.shield(waiting), hub.ack_timeout)
    except TimeoutError:
        return None


async def _redeliver(sandbox: Sandbox, envelope: Obj) -> None:
    hub = sandbox.slack.socket_mode
    envelope_id = envelope["envelope_id"]
    try:
        for attempt in range(1, MAX_RETRIES + 1):
            retry = {**envelope, "retry_attempt": attempt, "retry_reason": "timeout"}
            if await _attempt(sandbox, retry) is not None:
                return
        _record(sandbox, "GIVE_UP", {"envelope_id": envelope_id}, status=504)
    finally:
        hub.acks.pop(envelope_id, None)


# -- what tests and the demo control ------------------------------------------------------------


class Disconnect(BaseModel):
    reason: DisconnectReason = Field(
        "refresh_requested",
        description="refresh_requested: the connection is being replaced; warning: it "
        "closes in a few seconds. Either way the app opens a new one.",
    )
    close_after: float = Field(
        10.0,
        ge=0,
        description="Close the old connections after this many seconds if the "
        "app has not closed them itself.",
    )


class SocketFaults(BaseModel):
    lose_acks: int = Field(0, ge=0, description="Lose the next N acknowledgements.")


class Envelope(BaseModel):
    payload: Obj = Field(
        description="What Slack would send: an interaction's payload, a slash "
        "command's fields or an Events API callback."
    )


@router.get("/_sandbox/slack/socket", tags=["sandbox"])
async def socket_state(sandbox: SandboxDep) -> Obj:
    """The app's Socket Mode connections (open and closed) and envelopes awaiting an ack."""
    return sandbox.slack.socket_mode.snapshot()


@router.post("/_sandbox/slack/socket/disconnect", tags=["sandbox"])
async def disconnect(sandbox: SandboxDep, request: Disconnect) -> Obj:
    """Tell every open connection to go (``{"type": "disconnect", "reason": …}``)."""
    hub = sandbox.slack.socket_mode
    message = {"type": "disconnect", "reason": request.reason, "debug_info": {"host": DEBUG_HOST}}
    told = []
    for connection in hub.open_connections:
        with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError):
            await connection.send(message)
            told.append(connection.id)
            _record(sandbox, "DISCONNECT", {"connection": connection.id, **message})
            hub.spawn(_close_later(connection, request.close_after))
    return {"told": told}


async def _close_later(connection: Connection, seconds: float) -> None:
    await asyncio.sleep(seconds)
    if connection.closed_at is None:
        with contextlib.suppress(RuntimeError, OSError):
            await connection.websocket.close(code=1001)


@router.post("/_sandbox/slack/socket/faults", tags=["sandbox"])
async def socket_faults(sandbox: SandboxDep, faults: SocketFaults) -> Obj:
    sandbox.slack.socket_mode.lose_acks = faults.lose_acks
    return sandbox.slack.socket_mode.snapshot()


@router.post("/_sandbox/slack/socket/envelopes", tags=["sandbox"])
async def send_envelope(sandbox: SandboxDep, envelope: Envelope) -> Obj:
    """Send any payload over the app's socket (a slash command, an Events API callback) and
    say whether the app acknowledged it in time, with its answer."""
    delivery = await deliver(sandbox, envelope.payload)
    if delivery is None:
        return {"delivered": False, "why": "the app has no open Socket Mode connection"}
    return {
        "delivered": True,
        "envelope_id": delivery.envelope_id,
        "acked": delivery.acked,
        "answer": delivery.answer,
    }
