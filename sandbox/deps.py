"""What the sandbox's routes depend on: its state, and the client that delivers clicks."""

from __future__ import annotations

from typing import Annotated, cast

import httpx
from fastapi import Depends, Request

from sandbox.state import Sandbox

# Both are ``async`` so that FastAPI calls them on the event loop, not on a worker thread.


async def get_sandbox(request: Request) -> Sandbox:
    """The sandbox that ``create_app`` put on the app."""
    return cast(Sandbox, request.app.state.sandbox)


async def get_interactivity_client(request: Request) -> httpx.AsyncClient:
    """The HTTP client the lifespan opened for posting clicks to the app's interactivity URL."""
    return cast(httpx.AsyncClient, request.state.interactivity)


SandboxDep = Annotated[Sandbox, Depends(get_sandbox)]
InteractivityClient = Annotated[httpx.AsyncClient, Depends(get_interactivity_client)]
