"""The sandbox: Stripe, Slack and Salesforce stand-ins and the chat page on one HTTP port.

Paths are the services' own (``/v1/…`` for Stripe, ``/api/<method>`` for Slack,
``/services/…`` for Salesforce), so the real SDKs reach it by changing only their base URL.
``/_sandbox/…`` holds what tests and the demo use to look inside: recorded requests, posted
messages, clicks, faults and configuration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from sandbox import controls
from sandbox.middleware import FaultMiddleware, LearnPublicUrl
from sandbox.salesforce import create_salesforce_router
from sandbox.salesforce import pages as salesforce_pages
from sandbox.slack import chat, commands, socket_mode
from sandbox.slack import router as slack_api
from sandbox.smtp import create_mail_router
from sandbox.state import Sandbox, SandboxConfig
from sandbox.stripe import pages as stripe_pages
from sandbox.stripe import router as stripe_api
from starter.gateway.docs import serve_docs


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """While the app serves: the e-mail sink (when configured) and the client that delivers
    chat-page clicks. Stripe's webhook deliveries and Socket Mode's redeliveries stop with the
    app."""
    sandbox: Sandbox = app.state.sandbox
    if sandbox.mail is not None:
        sandbox.mail.start()
    try:
        async with httpx.AsyncClient(timeout=10) as interactivity:
            yield {"interactivity": interactivity}
    finally:
        await sandbox.slack.socket_mode.close()
        sandbox.stripe.close()
        if sandbox.mail is not None:
            sandbox.mail.stop()


def create_app(config: SandboxConfig | None = None, sandbox: Sandbox | None = None) -> FastAPI:
    """The sandbox's app, serving ``sandbox`` (or a new one made from ``config``)."""
    sandbox = sandbox or Sandbox(config or SandboxConfig())
    app = FastAPI(
        title="Canary sandbox",
        description="Local, wire-faithful stand-ins for Stripe, Slack and Salesforce.",
        docs_url=None,
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    serve_docs(app, "/_sandbox/docs")
    app.add_middleware(FaultMiddleware, sandbox=sandbox)
    app.add_middleware(LearnPublicUrl, sandbox=sandbox)
    # Stripe's and Slack's APIs before Salesforce's many routes: routes are tried in order, and
    # those two carry most of the calls.
    app.include_router(stripe_api.router)
    app.include_router(slack_api.router)
    app.include_router(create_salesforce_router(sandbox.salesforce))
    app.include_router(socket_mode.router)
    app.include_router(chat.router)
    app.include_router(commands.router)
    app.include_router(stripe_pages.router)
    app.include_router(salesforce_pages.router)
    app.include_router(controls.router)
    if sandbox.mail is not None:
        app.include_router(create_mail_router(sandbox.mail))
    return app
