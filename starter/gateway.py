"""The HTTP gateway: Stripe webhooks, Slack buttons, the detection API.

Handlers stay thin: verify, acknowledge, convert to a model, hand to Temporal. Nothing here
decides how to remediate; that is the workflow's job.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import stripe
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, Field, ValidationError
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from canary.blocks import temporal_ui_link
from canary.client import connect
from canary.metrics import configure_metrics
from canary.models import ActionRequest, Detection, RemediationStatus
from canary.reports import Report, build_report, render_html, report_request
from canary.settings import MissingSettingError, Settings, get_settings
from canary.telemetry import configure_tracing
from starter.intake import (
    get_status,
    signal_external,
    submit_detection,
    take_action,
)
from starter.stripe_events import (
    detection_from_event,
    resolution_from_event,
    stage_detection_from_event,
)

log = logging.getLogger("canary.gateway")
ACTION_PATTERN = re.compile(r"^canary:(?P<action>[a-z_]+)$")


class Accepted(BaseModel):
    workflow_id: str = Field(description="The remediation this detection started or joined.")
    error_type: str
    temporal_ui: str


class WebhookAnswer(BaseModel):
    received: bool = True
    action: str = Field(
        description="started_or_folded | signalled | signalled_and_started | ignored"
    )
    workflow_ids: list[str] = Field(default_factory=list)
    detail: str = ""


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


@asynccontextmanager
async def _refused_as(status: int) -> AsyncIterator[None]:
    """Temporal refusing what a request carried (an id or a search attribute over its size
    limits, say) is the request's fault: answer ``status``, not 500."""
    try:
        yield
    except RPCError as err:
        if err.status != RPCStatusCode.INVALID_ARGUMENT:
            raise
        raise HTTPException(status, f"Temporal refused it: {err.message}"[:500]) from err


def _temporal(request: Request) -> Client:
    client: Client | None = request.app.state.temporal
    if client is None:
        raise HTTPException(503, "Temporal is not connected yet")
    return client


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def build_slack_app(settings: Settings, temporal: Callable[[], Client]) -> AsyncApp:
    """slack-bolt verifies the signing secret (and its 5-minute replay window) for us."""
    secret = settings.require("slack_signing_secret", "to verify Slack button clicks")
    token = settings.require("slack_bot_token", "to answer Slack button clicks")
    web = AsyncWebClient(token=token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL)
    bolt = AsyncApp(
        signing_secret=secret,
        client=web,
        process_before_response=False,  # ack inside Slack's 3 s, run the update after
        raise_error_for_unhandled_request=False,
    )

    @bolt.action(ACTION_PATTERN)
    async def on_click(
        ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        match = ACTION_PATTERN.match(action.get("action_id", ""))
        selected = (action.get("selected_option") or {}).get("value")
        block_id = str(action.get("block_id") or "")
        # Buttons carry the workflow id as their value; a select carries the choice as its
        # value and the workflow id in its block id ("canary:<workflow id>").
        workflow_id = (
            block_id.removeprefix("canary:")
            if selected and block_id.startswith("canary:")
            else action.get("value")
        )
        if not match or not workflow_id:
            await respond(
                text="This button is not wired to a remediation.",
                response_type="ephemeral",
                replace_original=False,
            )
            return
        user = body.get("user") or {}
        request = ActionRequest(
            action=match.group("action"),
            user=user.get("id", "unknown"),
            user_name=user.get("name") or user.get("username"),
            source="slack",
            value=selected,
        )
        result = await take_action(temporal(), workflow_id, request)
        log.info(
            "slack action %s on %s by %s: accepted=%s %s",
            request.action,
            workflow_id,
            request.user,
            result.accepted,
            result.message,
        )
        prefix = "" if result.accepted else ":no_entry: "
        await respond(
            text=f"{prefix}{result.message}", response_type="ephemeral", replace_original=False
        )

    return bolt


def create_app(settings: Settings | None = None, temporal: Client | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.temporal is None:
            app.state.temporal = await connect(settings)
        yield

    app = FastAPI(
        title="Canary gateway",
        version="0.1.0",
        description="Webhooks, Slack buttons and the detection API of Canary, the self-healing "
        "remediation system for GTM errors. Every accepted detection becomes (or joins) one "
        "durable Temporal workflow per subject.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.temporal = temporal
    configure_tracing(settings, "gateway")
    configure_metrics(settings, "gateway")
    # Server spans for every route; the Temporal interceptor continues them into workflows.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz")
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)

    slack_handler: AsyncSlackRequestHandler | None = None
    slack_verifier: SignatureVerifier | None = None
    if settings.slack_signing_secret and settings.slack_bot_token:
        slack_handler = AsyncSlackRequestHandler(
            build_slack_app(settings, lambda: app.state.temporal)
        )
        slack_verifier = SignatureVerifier(settings.slack_signing_secret)

    bearer = HTTPBearer(auto_error=False)

    def require_token(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    ) -> None:
        expected = settings.api_token
        if not expected:
            raise HTTPException(503, "CANARY_API_TOKEN is not set: the detection API is off")
        if credentials is None or not hmac.compare_digest(credentials.credentials, expected):
            raise HTTPException(
                401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
            )

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> dict[str, Any]:
        client: Client | None = request.app.state.temporal
        return {
            "ok": True,
            "temporal": "connected" if client else "connecting",
            "task_queue": settings.task_queue,
            "slack_actions": slack_handler is not None,
            "stripe_webhooks": bool(settings.stripe_webhook_secret),
        }

    @app.post(
        "/webhooks/stripe",
        response_model=WebhookAnswer,
        tags=["webhooks"],
        responses={400: {"description": "unsigned, forged, stale or malformed"}},
    )
    async def stripe_webhook(request: Request) -> WebhookAnswer:
        secret = settings.stripe_webhook_secret
        if not secret:
            raise HTTPException(
                503, str(MissingSettingError("STRIPE_WEBHOOK_SECRET", "to verify Stripe webhooks"))
            )
        payload = await request.body()
        signature = request.headers.get("stripe-signature")
        if not signature:
            raise HTTPException(400, "missing Stripe-Signature header")
        try:
            # Verify the bytes first, then parse them ourselves: the SDK's construct_event
            # assumes a JSON object and would crash (a 500) on any other JSON value.
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", errors="replace"),
                signature,
                secret,
                stripe.Webhook.DEFAULT_TOLERANCE,
            )
        except stripe.SignatureVerificationError as exc:
            raise HTTPException(
                400, f"signature verification failed: {exc.user_message or exc}"
            ) from exc
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise HTTPException(400, f"malformed JSON: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise HTTPException(400, "not a Stripe event: expected an object with 'data'")
        client = _temporal(request)
        try:
            detection = detection_from_event(event)
            resolution = resolution_from_event(event) if detection is None else None
            stage = stage_detection_from_event(event) if resolution is not None else None
        except (ValueError, TypeError, AttributeError) as exc:
            # Fields of the wrong shape or size (pydantic's ValidationError is a ValueError).
            raise HTTPException(400, f"not a Stripe event Canary can read: {exc}"[:500]) from exc

        if detection is not None:
            async with _refused_as(400):
                submitted = await submit_detection(client, detection, settings)
            log.info("stripe %s %s → %s", event.get("type"), event.get("id"), submitted.workflow_id)
            return WebhookAnswer(action="started_or_folded", workflow_ids=[submitted.workflow_id])
        if resolution is not None:
            targets, external = resolution
            async with _refused_as(400):
                signalled = [wid for wid in targets if await signal_external(client, wid, external)]
                started: list[str] = []
                if stage is not None:
                    # Paid for a deal: its opportunity should be Closed Won. The remediation
                    # verifies that in Salesforce and closes quietly when it already is.
                    started.append((await submit_detection(client, stage, settings)).workflow_id)
            if started:
                return WebhookAnswer(
                    action="signalled_and_started", workflow_ids=signalled + started
                )
            return WebhookAnswer(
                action="signalled" if signalled else "ignored",
                workflow_ids=signalled,
                detail="" if signalled else "no open remediation for this payment",
            )
        # Stripe retries non-2xx for days; an event Canary does not handle is acknowledged.
        return WebhookAnswer(action="ignored", detail=f"Canary does not act on {event.get('type')}")

    @app.post("/slack/actions", tags=["webhooks"])
    async def slack_actions(request: Request) -> Response:
        if slack_handler is None or slack_verifier is None:
            raise HTTPException(
                503,
                "SLACK_SIGNING_SECRET and SLACK_BOT_TOKEN must be set to "
                "accept Slack button clicks",
            )
        # slack-bolt parses the body before it checks the signature, and answers 500 to a body
        # that is not UTF-8 or whose payload is not a JSON object (and to a timestamp that is
        # not a number): check the signature first, then that bolt can read what it is given.
        body = await request.body()
        try:
            signed = slack_verifier.is_valid(
                body,
                request.headers.get("x-slack-request-timestamp"),
                request.headers.get("x-slack-signature"),
            )
        except ValueError:
            signed = False
        if not signed:
            raise HTTPException(401, "invalid or stale Slack signature")
        try:
            AsyncBoltRequest(
                body=body.decode("utf-8"),
                query=str(request.query_params),
                headers=dict(request.headers),
            )
        except Exception as exc:  # noqa: BLE001 - whatever bolt cannot read is a bad request
            raise HTTPException(400, "not a Slack interaction payload") from exc
        return await slack_handler.handle(request)

    @app.post(
        "/api/detections",
        response_model=Accepted,
        status_code=202,
        tags=["api"],
        dependencies=[Depends(require_token)],
    )
    async def post_detection(detection: Detection, request: Request) -> Accepted:
        """Report a GTM error from any tool (Zapier, Workato, n8n, a warehouse job).

        The remediation is keyed by error type + subject: reporting the same subject again
        while it is open adds an occurrence instead of a second remediation."""
        async with _refused_as(422):
            submitted = await submit_detection(_temporal(request), detection, settings)
        return Accepted(
            workflow_id=submitted.workflow_id,
            error_type=submitted.error_type,
            temporal_ui=temporal_ui_link(
                settings.temporal_ui_url, settings.temporal_namespace, submitted.workflow_id
            ),
        )

    @app.get(
        "/api/remediations/{workflow_id:path}",
        response_model=RemediationStatus,
        tags=["api"],
        dependencies=[Depends(require_token)],
    )
    async def get_remediation(workflow_id: str, request: Request) -> RemediationStatus:
        status = await get_status(_temporal(request), workflow_id)
        if status is None:
            raise HTTPException(404, f"no remediation {workflow_id}")
        return status

    basic = HTTPBasic(auto_error=False, realm="Canary")

    def require_viewer(
        request: Request,
        credentials: HTTPBasicCredentials | None = Depends(basic),
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

    async def _report(request: Request, since: str, until: str | None, limit: int) -> Report:
        try:
            wanted = report_request(since, until, limit=limit)
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return await build_report(_temporal(request), settings, wanted)

    @app.get(
        "/api/report",
        response_model=Report,
        tags=["report"],
        dependencies=[Depends(require_viewer)],
    )
    async def get_report_json(
        request: Request,
        since: str = Query("7d", description="Window start: 7d, 12h, 30m, 2w or ISO."),
        until: str | None = Query(None, description="Window end (ISO or 1d ago); now."),
        limit: int = Query(2000, ge=1, le=20000),
    ) -> Report:
        """The report's numbers, the same as `canary report --json`."""
        return await _report(request, since, until, limit)

    @app.get(
        "/report",
        response_class=HTMLResponse,
        tags=["report"],
        dependencies=[Depends(require_viewer)],
    )
    async def get_report_page(
        request: Request,
        since: str = Query("7d", description="Window start: 7d, 12h, 30m, 2w or ISO."),
        until: str | None = Query(None, description="Window end (ISO or 1d ago); now."),
        limit: int = Query(2000, ge=1, le=20000),
        refresh: int = Query(60, ge=5, le=3600, description="Seconds between self-refreshes."),
    ) -> HTMLResponse:
        """The dashboard: server-rendered HTML with inline SVG charts, no scripts."""
        found = await _report(request, since, until, limit)
        json_url = "/api/report?" + urlencode(
            {k: v for k, v in {"since": since, "until": until, "limit": limit}.items() if v}
        )
        return HTMLResponse(render_html(found, refresh_seconds=refresh, json_url=json_url))

    return app
