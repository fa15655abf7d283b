"""What the routes need, as FastAPI dependencies: the gateway's settings, the Temporal client,
and the token checks: an intake token writes detections, a read token reads remediations and
the report (a bearer token, or HTTP Basic with the token as password for the dashboard), and
`CANARY_API_TOKEN` does both. Whatever a client sends in `Authorization`, a wrong token is a
401 with `WWW-Authenticate`."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import StrEnum
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

# Every dependency here is ``async``: FastAPI runs a plain ``def`` dependency in its thread
# pool, a thread hop per request (a webhook's time to alert waited on two) for work that
# never blocks.


async def gateway_settings(request: Request) -> Settings:
    """The settings `create_app` was given."""
    settings: Settings = request.app.state.settings
    return settings


async def temporal_client(request: Request) -> Client:
    """The client the lifespan connected (or the caller handed in); 503 until there is one."""
    client: Client | None = request.app.state.temporal
    if client is None:
        raise HTTPException(503, "Temporal is not connected yet")
    return client


SettingsDep = Annotated[Settings, Depends(gateway_settings)]
TemporalDep = Annotated[Client, Depends(temporal_client)]

bearer = HTTPBearer(auto_error=False)
# A header that says Basic but is not base64 of "user:password" is FastAPI's own 401.
basic = HTTPBasic(auto_error=False, realm="Canary")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
BasicDep = Annotated[HTTPBasicCredentials | None, Depends(basic)]


class Scope(StrEnum):
    """What a token may do: write detections, or read remediations and the report."""

    INTAKE = "intake"
    READ = "read"


SCOPE_VARIABLES = {Scope.INTAKE: "CANARY_INTAKE_TOKENS", Scope.READ: "CANARY_READ_TOKENS"}


def scope_tokens(settings: Settings, scope: Scope) -> list[bytes]:
    """Every token that may act in ``scope``: its own list, and the API token of every scope."""
    scoped = settings.intake_tokens if scope is Scope.INTAKE else settings.read_tokens
    tokens = [*scoped, settings.api_token] if settings.api_token else scoped
    # Settings allow only printable ASCII in tokens.
    return [token.encode("ascii") for token in tokens]


def token_matches(given: str | None, accepted: list[bytes]) -> bool:
    """Whether ``given`` is one of ``accepted``, in constant time on bytes: every token of the
    scope is compared, whatever matched first, so the time taken tells nothing."""
    if not given:
        return False
    try:
        # ASGI servers decode headers as Latin-1, so this gives back the bytes the client
        # sent, whatever they are (compare_digest raises on a str with non-ASCII characters).
        presented = given.encode("latin-1")
    except UnicodeEncodeError:
        return False
    matched = False
    for token in accepted:
        matched |= hmac.compare_digest(presented, token)
    return matched


def _tokens_or_off(settings: Settings, scope: Scope, what: str) -> list[bytes]:
    accepted = scope_tokens(settings, scope)
    if not accepted:
        raise HTTPException(
            503, f"{SCOPE_VARIABLES[scope]} and CANARY_API_TOKEN are not set: {what} is off"
        )
    return accepted


async def require_intake(settings: SettingsDep, credentials: BearerDep) -> None:
    """Reporting detections takes an intake token (or the API token) as a bearer token."""
    accepted = _tokens_or_off(settings, Scope.INTAKE, "the detection API")
    if not token_matches(credentials.credentials if credentials else None, accepted):
        raise HTTPException(
            401,
            "missing or wrong bearer token: reporting takes an intake token",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_reader(settings: SettingsDep, credentials: BearerDep) -> None:
    """Reading a remediation takes a read token (or the API token) as a bearer token."""
    accepted = _tokens_or_off(settings, Scope.READ, "reading remediations")
    if not token_matches(credentials.credentials if credentials else None, accepted):
        raise HTTPException(
            401,
            "missing or wrong bearer token: reading takes a read token",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_viewer(
    settings: SettingsDep, bearer_credentials: BearerDep, basic_credentials: BasicDep
) -> None:
    """The dashboard names customers, so it is not public like the webhooks beside it.
    A browser signs in with HTTP Basic (any user name, a read token or the API token as
    password); tools send the token as a bearer, like the rest of the API."""
    accepted = _tokens_or_off(settings, Scope.READ, "the report")
    if bearer_credentials:
        given: str | None = bearer_credentials.credentials
    else:
        given = basic_credentials.password if basic_credentials else None
    if not token_matches(given, accepted):
        raise HTTPException(
            401,
            "sign in with a read token as password",
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
