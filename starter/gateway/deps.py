"""What the routes need, as FastAPI dependencies: the gateway's settings, the Temporal client,
and the token checks of the API (a bearer token) and of the report (a bearer token or HTTP
Basic with the token as password)."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from canary.settings import Settings


def gateway_settings(request: Request) -> Settings:
    """The settings `create_app` was given."""
    settings: Settings = request.app.state.settings
    return settings


def temporal_client(request: Request) -> Client:
    """The client the lifespan connected (or the caller handed in); 503 until there is one."""
    client: Client | None = request.app.state.temporal
    if client is None:
        raise HTTPException(503, "Temporal is not connected yet")
    return client


SettingsDep = Annotated[Settings, Depends(gateway_settings)]
TemporalDep = Annotated[Client, Depends(temporal_client)]

bearer = HTTPBearer(auto_error=False)
basic = HTTPBasic(auto_error=False, realm="Canary")


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """The detection API answers only to `CANARY_API_TOKEN` as a bearer token."""
    expected = settings.api_token
    if not expected:
        raise HTTPException(503, "CANARY_API_TOKEN is not set: the detection API is off")
    if credentials is None or not hmac.compare_digest(credentials.credentials, expected):
        raise HTTPException(
            401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


def require_viewer(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
) -> None:
    """The dashboard names customers, so it is not public like the webhooks beside it.
    A browser signs in with HTTP Basic (any user name, the API token as password); tools
    send the token as a bearer, like the rest of the API."""
    expected = settings.api_token
    if not expected:
        raise HTTPException(503, "CANARY_API_TOKEN is not set: the report is off")
    given = credentials.password if credentials else None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        given = header[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401,
            "sign in with the API token as password",
            headers={"WWW-Authenticate": 'Basic realm="Canary", charset="UTF-8"'},
        )


@asynccontextmanager
async def refused_as(status: int) -> AsyncIterator[None]:
    """Temporal refusing what a request carried (an id or a search attribute over its size
    limits, say) is the request's fault: answer ``status``, not 500."""
    try:
        yield
    except RPCError as err:
        if err.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        raise HTTPException(status, f"Temporal refused it: {err.message}"[:500]) from err
