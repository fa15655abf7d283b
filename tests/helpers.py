"""Test helpers: signing requests exactly as Stripe and Slack do, polling for state."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")


def stripe_signature(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<ts>,v1=<HMAC-SHA256 of "<ts>.<payload>">."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def slack_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """X-Slack-Signature: v0=<HMAC-SHA256 of "v0:<ts>:<body>">."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    mac = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={mac}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def stripe_event(kind: str, obj: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": obj},
            "request": {"id": None, "idempotency_key": None},
        }
    ).encode()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    check: Callable[[T], bool],
    timeout: float = 20.0,
    interval: float = 0.2,
) -> T:
    """Poll ``probe`` until ``check`` holds; fail with the last value seen."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while True:
        try:
            last = await probe()
            if check(last):
                return last
        except Exception as exc:  # noqa: BLE001 - not there yet: keep polling
            last = exc  # type: ignore[assignment]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


async def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Wait in real time until ``condition`` holds (on the time-skipping server the virtual
    clock stays locked meanwhile: no timer fires while a test waits on something else)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.05)


async def end_if_running(handle: WorkflowHandle[Any, Any], reason: str = "test over") -> None:
    """Terminate a workflow a test is done with, unless it has closed by itself.

    Asking first and terminating after races the workflow: on the time-skipping server its
    last timer can fire between the two calls, and the server then refuses the termination
    ("Completed workflow", NOT_FOUND). The refusal is what says it had closed."""
    try:
        await handle.terminate(reason)
    except RPCError as refusal:
        if refusal.status != RPCStatusCode.NOT_FOUND:
            raise


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a synchronous condition (for threads and other processes) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.05)


def payload_data(message: Any) -> Iterator[bytes]:
    """The bytes of every payload anywhere in a history event (inputs, results, signal and
    update arguments, markers, search attributes, memo), which its JSON shows base64."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.GetOptions().map_entry:
            items = list(value.values())
        elif isinstance(value, Sequence) or hasattr(value, "extend"):
            items = list(value)
        else:
            items = [value]
        for item in items:
            if not hasattr(item, "ListFields"):
                continue
            if item.DESCRIPTOR.full_name == "temporal.api.common.v1.Payload":
                yield item.data
            else:
                yield from payload_data(item)


#: Where free ports are picked: below Linux's ephemeral range (32768–60999), from which every
#: outbound connection of the tests running in parallel takes its local port. A port picked
#: there could be taken by one of them between the check here and the server's bind (seen
#: once in CI: `canary up` refused a port the check had found free).
PICKED_PORTS = range(20000, 32768)
#: The OS's randomness, not the random module's shared state, which a test may seed: two test
#: processes seeded alike would pick the same ports in the same order.
_port_picker = random.SystemRandom()


def free_port() -> int:
    """A port nothing listens on or connects from now, for a server a test starts."""
    while True:
        port = _port_picker.choice(PICKED_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
