"""ASGI middleware of the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse


class BodyLimitMiddleware:
    """Refuse oversized bodies before reading them: a webhook endpoint is public."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            length = headers.get(b"content-length")
            too_big = length is not None and length.isdigit() and int(length) > self.limit
            if too_big:
                response = JSONResponse(
                    {"detail": f"request body over {self.limit} bytes"}, status_code=413
                )
                await response(scope, receive, send)
                return
            received = 0

            async def limited_receive() -> Any:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.limit:
                        raise HTTPException(413, f"request body over {self.limit} bytes")
                return message

            await self.app(scope, limited_receive, send)
            return
        await self.app(scope, receive, send)
