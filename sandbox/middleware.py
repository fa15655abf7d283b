"""The sandbox's two middlewares, both pure ASGI so that a call costs no extra task and bodies
pass untouched: one learns the public URL from the first request, one applies faults."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.recorder import Fault
from sandbox.state import Sandbox

_SERVICE_PREFIXES = (("/v1/", "stripe"), ("/api/", "slack"), ("/services/", "salesforce"))
#: The messages Salesforce sends with the error codes a fault may name.
_SALESFORCE_MESSAGES = {
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable (sandbox fault)",
}


def _fault_response(service: str, fault: Fault) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-type": "application/json"}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    if fault.malformed:
        return 200, headers, b'{"truncated": tr'
    status = fault.status
    if service == "stripe":
        kind = "invalid_request_error" if status == 429 else "api_error"
        body: Any = {
            "error": {
                "type": kind,
                "code": fault.error_code or ("rate_limit" if status == 429 else None),
                "message": "Too many requests hit the API too quickly."
                if status == 429
                else "An unknown error occurred (sandbox fault).",
            }
        }
    elif service == "slack":
        error = fault.error_code or ("ratelimited" if status == 429 else "fatal_error")
        body = {"ok": False, "error": error}
    else:
        code = fault.error_code or (
            "REQUEST_LIMIT_EXCEEDED" if status in (403, 429) else "SERVER_UNAVAILABLE"
        )
        body = [{"message": _SALESFORCE_MESSAGES.get(code, "Sandbox fault"), "errorCode": code}]
    return status, headers, json.dumps(body).encode()


class LearnPublicUrl:
    """Links the sandbox hands out (hosted invoices, permalinks) must point where the caller
    reached it when no public URL was configured: the first request tells (pure ASGI, so a
    call costs no extra task)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.sandbox.config.public_url:
            self.sandbox.set_public_url(str(Request(scope).base_url))
        await self.app(scope, receive, send)


class FaultMiddleware:
    """Applies configured faults before a service sees the call (pure ASGI: bodies untouched)."""

    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        service = next((s for prefix, s in _SERVICE_PREFIXES if path.startswith(prefix)), None)
        fault = (
            self.sandbox.recorder.take_fault(service, scope["method"], path) if service else None
        )
        if fault is None or service is None:
            await self.app(scope, receive, send)
            return
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.passthrough:
            if not fault.respond_after:
                await self.app(scope, receive, send)
                return
            pause = fault.respond_after

            async def answer_late(message: Any) -> None:
                if message["type"] == "http.response.start":
                    await asyncio.sleep(pause)
                await send(message)

            await self.app(scope, receive, answer_late)
            return
        status, headers, body = _fault_response(service, fault)
        self.sandbox.recorder.record(
            service, scope["method"], path, status=status, response=body.decode(), fault=True
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})
