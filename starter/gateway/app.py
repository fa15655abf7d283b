"""The gateway's app factory: settings, Temporal and Slack on the app's state, one router per
concern."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from temporalio.client import Client

from canary.client import connect
from canary.metrics import configure_metrics
from canary.settings import Settings, get_settings
from canary.telemetry import configure_tracing, tracing_on
from starter.gateway.docs import serve_docs
from starter.gateway.middleware import BodyLimitMiddleware
from starter.gateway.routes import api_router
from starter.gateway.slack.app import slack_directory, slack_handler
from starter.gateway.slack.socket_mode import socket_mode

DESCRIPTION = (
    "Webhooks, Slack buttons and the detection API of Canary, the self-healing "
    "remediation system for GTM errors. Every accepted detection becomes (or joins) one "
    "durable Temporal workflow per subject."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Connect to Temporal before serving, unless the caller handed in a client; then, with
    SLACK_APP_TOKEN set, open Slack's Socket Mode connection until the gateway stops. When it
    stops, the Slack listeners' directory closes its connections."""
    try:
        if app.state.temporal is None:
            app.state.temporal = await connect(app.state.settings)
        async with socket_mode(app.state.slack, app.state.settings):
            yield
    finally:
        if app.state.slack_directory is not None:
            await app.state.slack_directory.close()


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Canary gateway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    serve_docs(app, "/docs")
    app.state.settings = settings
    app.state.temporal = temporal
    configure_tracing(settings, "gateway")
    configure_metrics(settings, "gateway")
    if tracing_on():
        # Server spans for every route; the Temporal interceptor continues them into workflows.
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,livez")
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.state.slack_directory = slack_directory(settings)
    app.state.slack = slack_handler(settings, lambda: app.state.temporal, app.state.slack_directory)
    app.include_router(api_router)
    return app
