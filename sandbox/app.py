"""The sandbox: Stripe, Slack and Salesforce stand-ins and the chat page on one HTTP port.

Paths are the services' own (``/v1/…`` for Stripe, ``/api/<method>`` for Slack,
``/services/…`` for Salesforce), so the real SDKs reach it by changing only their base URL.
``/_sandbox/…`` holds what tests and the demo use to look inside: recorded requests, posted
messages, clicks, faults and configuration.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox import slack_api, stripe_api
from sandbox.mrkdwn import mrkdwn, text_of
from sandbox.recorder import Fault, Recorder
from sandbox.salesforce import SalesforceState, create_salesforce_router
from sandbox.slack_api import SlackApiError, SlackState
from sandbox.stripe_api import TEST_CARDS, StripeApiError, StripeState

_TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


class SandboxConfig(BaseModel):
    """How the sandbox presents itself and where chat-page clicks go."""

    public_url: str = Field("", description="Base URL others reach the sandbox at.")
    slack_interactivity_url: str | None = Field(
        None, description="The app's interactivity URL (the gateway's /slack/actions)."
    )
    slack_signing_secret: str | None = Field(None, description="Signs clicks like Slack does.")
    seed: bool = Field(True, description="Seed demo customers, people, channels and CRM data.")
    smtp_port: int | None = Field(
        None, description="Also receive e-mail on this SMTP port (0: any free port; None: off)."
    )


class ConfigUpdate(BaseModel):
    slack_interactivity_url: str | None = None
    slack_signing_secret: str | None = None


class Click(BaseModel):
    """A click on the chat page, as tests and the page send it."""

    user: str = Field(description="Slack user id of the person clicking, e.g. U0ALICE.")
    channel: str
    ts: str
    action_id: str
    block_id: str | None = None
    value: str | None = None
    selected_option: str | None = None


class Sandbox:
    """All of the sandbox's state, shared by its routes."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.recorder = Recorder()
        self.stripe = StripeState(config.public_url, seed=config.seed)
        self.slack = SlackState(config.public_url)
        self.salesforce = _RecordedSalesforce(self.recorder, seed=config.seed)
        self.version = 0
        self._version_lock = threading.Lock()

    def set_public_url(self, url: str) -> None:
        self.config.public_url = url.rstrip("/")
        self.stripe.public_url = self.config.public_url
        self.slack.public_url = self.config.public_url

    def bump(self) -> None:
        with self._version_lock:
            self.version += 1


class _RecordedSalesforce(SalesforceState):
    """Salesforce's own recording, mirrored into the sandbox-wide one."""

    def __init__(self, recorder: Recorder, seed: bool = True) -> None:
        self._recorder = recorder
        super().__init__(seed=seed)

    def record_request(self, entry: dict[str, Any]) -> dict[str, Any]:
        recorded = super().record_request(entry)
        self._recorder.record(
            "salesforce",
            entry["method"],
            entry["path"],
            query=entry.get("query"),
            headers=entry.get("headers"),
            body=entry.get("body"),
            status=entry["status"],
            response=entry.get("response"),
        )
        return recorded


# -- faults -------------------------------------------------------------------------------------

_SERVICE_PREFIXES = (("/v1/", "stripe"), ("/api/", "slack"), ("/services/", "salesforce"))


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
                "code": "rate_limit" if status == 429 else None,
                "message": "Too many requests hit the API too quickly."
                if status == 429
                else "An unknown error occurred (sandbox fault).",
            }
        }
    elif service == "slack":
        body = {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}
    else:
        body = [
            {
                "errorCode": "REQUEST_LIMIT_EXCEEDED"
                if status in (403, 429)
                else "SERVER_UNAVAILABLE",
                "message": "Sandbox fault",
            }
        ]
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


# -- the app ------------------------------------------------------------------------------------


def _money(amount: int | None, currency: str = "usd") -> str:
    from canary.adapters.stripe_adapter import format_amount

    return format_amount(amount, currency)


def _card_choices() -> list[tuple[str, str]]:
    labels = {
        "pm_card_visa": "Visa •••• 4242 (succeeds)",
        "pm_card_mastercard": "Mastercard •••• 4444 (succeeds)",
        "pm_card_chargeDeclinedInsufficientFunds": "Visa •••• 9995 (insufficient funds)",
        "pm_card_chargeDeclinedExpiredCard": "Visa •••• 0069 (expired)",
        "pm_card_chargeDeclined": "Visa •••• 0002 (declined)",
        "pm_card_authenticationRequired": "Visa •••• 3184 (needs authentication)",
    }
    return [(token, labels[token]) for token in labels if token in TEST_CARDS]


def create_app(config: SandboxConfig | None = None, sandbox: Sandbox | None = None) -> FastAPI:
    sandbox = sandbox or Sandbox(config or SandboxConfig())
    app = FastAPI(
        title="Canary sandbox",
        description="Local, wire-faithful stand-ins for Stripe, Slack and Salesforce.",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
    )
    app.state.sandbox = sandbox
    app.add_middleware(FaultMiddleware, sandbox=sandbox)
    app.add_middleware(LearnPublicUrl, sandbox=sandbox)
    if sandbox.config.smtp_port is not None:
        from sandbox.smtp import SmtpSink, create_mail_router

        # The e-mail Canary sends for high-priority cases lands here, listed at /_sandbox/mail.
        sink = SmtpSink(port=sandbox.config.smtp_port).start()
        app.state.smtp = sink
        app.include_router(create_mail_router(sink))
    interactivity = httpx.AsyncClient(timeout=10)

    @app.on_event("shutdown")
    async def _close() -> None:
        await interactivity.aclose()
        sandbox.stripe.close()
        if getattr(app.state, "smtp", None) is not None:
            app.state.smtp.stop()

    # -- Stripe ---------------------------------------------------------------------------

    async def stripe_endpoint(request: Request, path: str) -> Response:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        full = f"/v1/{path}"
        headers: dict[str, str] = {}
        try:
            stripe_api.authenticate(request.headers.get("authorization"))
            params = stripe_api.params_of(request.method, request.url.query, raw, content_type)
        except StripeApiError as exc:
            status, body = exc.status, {"error": exc.body}
            params = {}
        else:
            status, body, headers = await asyncio.to_thread(
                stripe_api.dispatch,
                sandbox.stripe,
                request.method,
                full,
                params,
                request.headers.get("idempotency-key"),
            )
        sandbox.recorder.record(
            "stripe",
            request.method,
            full,
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=params,
            status=status,
            response=body,
        )
        return JSONResponse(body, status_code=status, headers=headers)

    app.add_api_route(
        "/v1/{path:path}",
        stripe_endpoint,
        methods=["GET", "POST", "DELETE"],
        summary="Stripe API (test mode)",
        tags=["stripe"],
    )

    # -- Slack ----------------------------------------------------------------------------

    async def slack_endpoint(request: Request, method: str) -> Response:
        raw = await request.body()
        content_type = request.headers.get("content-type", "")
        args: dict[str, Any] = dict(request.query_params)
        try:
            if raw:
                if "json" in content_type:
                    parsed = json.loads(raw)
                    if not isinstance(parsed, dict):
                        raise SlackApiError("invalid_json")
                    args.update(parsed)
                else:
                    args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        except ValueError:
            body: dict[str, Any] = {"ok": False, "error": "invalid_json"}
        else:
            try:
                slack_api.authenticate(request.headers.get("authorization"), args)
                body = {"ok": True, **slack_api.call_method(sandbox.slack, method, args)}
                if method.startswith(("chat.", "conversations.")):
                    sandbox.bump()
            except SlackApiError as exc:
                body = {"ok": False, "error": exc.error, **exc.extra}
        args.pop("token", None)
        sandbox.recorder.record(
            "slack",
            request.method,
            f"/api/{method}",
            query=dict(request.query_params),
            headers=dict(request.headers),
            body=args,
            status=200,
            response=body,
        )
        return JSONResponse(body, headers={"x-slack-req-id": f"sbx{time.time_ns()}"})

    app.add_api_route(
        "/api/{method}",
        slack_endpoint,
        methods=["GET", "POST"],
        summary="Slack Web API",
        tags=["slack"],
    )
    # Salesforce's many routes after Stripe's and Slack's two: routes are tried in order, and
    # those two carry most of the calls.
    app.include_router(create_salesforce_router(sandbox.salesforce))

    # -- chat page ------------------------------------------------------------------------

    def render_page(request: Request, flash: str | None = None, error: bool = False) -> str:
        slack = sandbox.slack
        with slack.lock:
            name = request.query_params.get("channel") or "gtm-alerts"
            try:
                channel = slack.channel(name)
            except SlackApiError:
                channel = slack.channels["C0GTMALERTS"]
            acting = request.query_params.get("as") or "U0ALICE"
            if acting not in slack.users:
                acting = "U0ALICE"
            people = [u for u in slack.users.values() if not u["is_bot"]]
            counts = {
                cid: sum(1 for m in ms if m.get("thread_ts") in (None, m["ts"]))
                for cid, ms in slack.messages.items()
            }
            top = [
                m for m in slack.messages[channel["id"]] if m.get("thread_ts") in (None, m["ts"])
            ]
            replies: dict[str, list[dict[str, Any]]] = {}
            for m in slack.messages[channel["id"]]:
                if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
                    replies.setdefault(m["thread_ts"], []).append(m)
            ephemeral = [
                e for e in slack.ephemeral if e["channel"] == channel["id"] and e["user"] == acting
            ][-5:]
            name_of = slack.user_name

            def view(m: dict[str, Any]) -> dict[str, Any]:
                author = name_of(m.get("user") or "")
                blocks = []
                for b in m.get("blocks") or []:
                    shown = dict(b)
                    shown["text_html"] = text_of(b.get("text"), name_of)
                    shown["fields_html"] = [text_of(f, name_of) for f in b.get("fields") or []]
                    if b.get("type") == "context":
                        shown["elements_html"] = [
                            text_of(e, name_of)
                            for e in b.get("elements") or []
                            if e.get("type") in ("mrkdwn", "plain_text")
                        ]
                    blocks.append(shown)
                return {
                    "ts": m["ts"],
                    "channel": m["channel"],
                    "author": author,
                    "initial": author[:1].upper(),
                    "bot": bool(m.get("bot_id")),
                    "when": datetime.fromtimestamp(float(m["ts"].split(".")[0]), UTC).strftime(
                        "%H:%M:%S UTC"
                    ),
                    "edited": bool(m.get("edited")),
                    "blocks": blocks,
                    "text_html": mrkdwn(m.get("text") or "", name_of),
                    "replies": [view(r) for r in replies.get(m["ts"], [])],
                }

            def render_element(m: dict[str, Any], b: dict[str, Any], el: dict[str, Any]) -> Markup:
                confirm = el.get("confirm") or {}
                el = dict(
                    el,
                    confirm_text=" ".join(
                        str((confirm.get(k) or {}).get("text", "")) for k in ("title", "text")
                    ).strip()
                    if confirm
                    else "",
                )
                return Markup(
                    _TEMPLATES.get_template("element.html").render(m=m, b=b, el=el, acting=acting)
                )

            def render_message(m: dict[str, Any]) -> Markup:
                return Markup(
                    _TEMPLATES.get_template("message.html").render(
                        m=m, render_message=render_message, render_element=render_element
                    )
                )

            return _TEMPLATES.get_template("chat.html").render(
                channel=channel,
                channels=list(slack.channels.values()),
                counts=counts,
                users=people,
                acting=acting,
                messages=[view(m) for m in top],
                ephemeral=[{"html": mrkdwn(e["text"], name_of)} for e in ephemeral],
                render_message=render_message,
                flash=flash,
                flash_error=error,
                version=sandbox.version,
            )

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(request: Request) -> HTMLResponse:
        flash = request.query_params.get("flash")
        return HTMLResponse(render_page(request, flash, request.query_params.get("err") == "1"))

    @app.get("/archives/{channel}/{message}", include_in_schema=False)
    async def permalink(channel: str, message: str) -> Response:
        try:
            name = sandbox.slack.channel(channel)["name"]
        except SlackApiError:
            return PlainTextResponse("No such channel", status_code=404)
        ts = message.removeprefix("p")
        anchor = f"{ts[:-6]}.{ts[-6:]}" if len(ts) > 6 else ts
        return RedirectResponse(f"/?channel={name}#m{anchor}", status_code=302)

    @app.get("/_sandbox/slack/version", tags=["sandbox"])
    async def slack_version() -> dict[str, int]:
        return {"version": sandbox.version}

    @app.get("/_sandbox/slack/messages", tags=["sandbox"])
    async def slack_messages(channel: str = "gtm-alerts") -> Response:
        """Messages in a channel, oldest first, with their blocks, threads and metadata."""
        slack = sandbox.slack
        with slack.lock:
            try:
                found = slack.channel(channel)
            except SlackApiError:
                return JSONResponse({"error": f"no channel {channel}"}, status_code=404)
            return JSONResponse(json.loads(json.dumps(slack.messages[found["id"]])))

    @app.get("/_sandbox/slack/ephemeral", tags=["sandbox"])
    async def slack_ephemeral(user: str | None = None) -> list[dict[str, Any]]:
        with sandbox.slack.lock:
            return [e for e in sandbox.slack.ephemeral if user is None or e["user"] == user]

    async def deliver_click(click: Click) -> tuple[int, str, float | None]:
        slack = sandbox.slack
        url = sandbox.config.slack_interactivity_url
        secret = sandbox.config.slack_signing_secret
        if not url or not secret:
            return (
                503,
                "the sandbox has no interactivity URL or signing secret: start it with "
                "--interactivity-url and SLACK_SIGNING_SECRET (canary up does)",
                None,
            )
        with slack.lock:
            channel = slack.channel(click.channel)
            message = slack.find_message(channel["id"], click.ts)
            if message is None:
                raise SlackApiError("message_not_found")
            element, block_id = slack_api.find_element(message, click.action_id, click.block_id)
            payload = slack_api.block_actions_payload(
                slack,
                click.user,
                channel["id"],
                message,
                element,
                block_id,
                click.selected_option,
                click.value,
            )
        body = ("payload=" + quote(json.dumps(payload, separators=(",", ":")))).encode()
        timestamp = str(int(time.time()))
        signature = (
            "v0="
            + hmac.new(
                secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256
            ).hexdigest()
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        sent_at = time.time()
        try:
            response = await interactivity.post(url, content=body, headers=headers)
            status, text = response.status_code, response.text
        except httpx.HTTPError as exc:
            status, text = 502, f"could not reach the interactivity URL: {exc}"
        sandbox.recorder.record(
            "interactivity",
            "POST",
            url,
            headers=headers,
            body={"payload": payload},
            status=status,
            response=text[:2000],
        )
        return status, text, sent_at

    @app.post("/_sandbox/slack/click", tags=["sandbox"])
    async def click(request: Request) -> Response:
        """Click a button or choose an option, as ``user``: Slack's signed ``block_actions``
        goes to the interactivity URL. JSON in → JSON out; the chat page's forms get a redirect."""
        from_page = "json" not in request.headers.get("content-type", "")
        if from_page:
            form = dict((await request.form()).items())
            data: dict[str, Any] = {k: v for k, v in form.items() if v != ""}
        else:
            data = await request.json()
        sent_at: float | None = None
        try:
            parsed = Click.model_validate(data)
            status, text, sent_at = await deliver_click(parsed)
        except SlackApiError as exc:
            status, text = 404, exc.error
        except ValueError as exc:
            status, text = 422, str(exc)
        if not from_page:
            # sent_at: when the signed request left for the app (epoch seconds), so a caller
            # can time the app apart from the sandbox's own work.
            return JSONResponse(
                {"status": status, "body": text, "sent_at": sent_at},
                status_code=200 if status < 500 or status == 502 else status,
            )
        channel = data.get("channel", "gtm-alerts")
        try:
            channel = sandbox.slack.channel(channel)["name"]
        except SlackApiError:
            pass
        flash = "" if 200 <= status < 300 else f"The app answered {status}: {text[:200]}"
        target = f"/?channel={quote(str(channel))}&as={quote(str(data.get('user', '')))}"
        if flash:
            target += f"&err=1&flash={quote(flash)}"
        return RedirectResponse(target, status_code=303)

    @app.post("/_sandbox/slack/respond/{token}", tags=["sandbox"], include_in_schema=False)
    async def respond(token: str, request: Request) -> Response:
        """A ``response_url``: ephemeral replies, replace_original, delete_original."""
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = dict(parse_qsl(raw.decode("utf-8", "replace")))
        sandbox.recorder.record(
            "slack",
            "POST",
            "/_sandbox/slack/respond",
            body=body,
            headers=dict(request.headers),
            status=200,
        )
        try:
            sandbox.slack.respond(token, body)
        except SlackApiError as exc:
            return JSONResponse({"ok": False, "error": exc.error}, status_code=404)
        sandbox.bump()
        return JSONResponse({"ok": True})

    # -- hosted pages: invoice payment, billing portal, dashboard -------------------------------

    def _render(name: str, **values: Any) -> HTMLResponse:
        return HTMLResponse(_TEMPLATES.get_template(name).render(money=_money, **values))

    @app.get("/hosted/invoices/{invoice_id}", response_class=HTMLResponse, tags=["stripe pages"])
    async def hosted_invoice(invoice_id: str, paid: int = 0, error: str | None = None) -> Response:
        with sandbox.stripe.lock:
            try:
                invoice = stripe_api.public(sandbox.stripe.get("invoice", invoice_id))
            except StripeApiError as exc:
                return PlainTextResponse(exc.body["message"], status_code=404)
        message = error or ("Thank you: payment received." if paid else None)
        return _render(
            "hosted_invoice.html",
            invoice=invoice,
            cards=_card_choices(),
            message=message,
            error=bool(error),
        )

    @app.post("/hosted/invoices/{invoice_id}/pay", tags=["stripe pages"])
    async def hosted_pay(invoice_id: str, request: Request) -> Response:
        """The payer pays on Stripe's hosted invoice page."""
        form = dict((await request.form()).items())
        token = str(form.get("payment_method") or "pm_card_visa")
        state = sandbox.stripe

        def pay() -> tuple[int, str | None]:
            with state.lock:
                invoice = state.get("invoice", invoice_id)
                if invoice["status"] != "open":
                    return 409, f"This invoice is {invoice['status']}."
                pm = stripe_api._attach(state, token, invoice["customer"])
                try:
                    stripe_api.charge(state, invoice, pm, None)
                except StripeApiError as exc:
                    return 402, str(exc.body["message"])
                return 303, None

        try:
            status, problem = await asyncio.to_thread(pay)
        except StripeApiError as exc:
            status, problem = exc.status, str(exc.body["message"])
        sandbox.recorder.record(
            "hosted", "POST", f"/hosted/invoices/{invoice_id}/pay", body=form, status=status
        )
        if problem:
            return RedirectResponse(
                f"/hosted/invoices/{invoice_id}?error={quote(problem)}", status_code=303
            )
        return RedirectResponse(f"/hosted/invoices/{invoice_id}?paid=1", status_code=303)

    @app.get("/hosted/invoices/{invoice_id}/pdf", tags=["stripe pages"])
    async def invoice_pdf(invoice_id: str) -> Response:
        with sandbox.stripe.lock:
            try:
                invoice = sandbox.stripe.get("invoice", invoice_id)
            except StripeApiError as exc:
                return PlainTextResponse(exc.body["message"], status_code=404)
            lines = (
                [f"Invoice {invoice['number']} — {invoice['customer_name']}"]
                + [
                    f"  {line['description']}: {_money(line['amount'], line['currency'])}"
                    for line in invoice["lines"]["data"]
                ]
                + [
                    f"Amount due: {_money(invoice['amount_due'], invoice['currency'])}",
                    f"Status: {invoice['status']}",
                ]
            )
        return PlainTextResponse("\n".join(lines))

    @app.get(
        "/billing_portal/sessions/{session_id}", response_class=HTMLResponse, tags=["stripe pages"]
    )
    async def portal(session_id: str, updated: int = 0) -> Response:
        state = sandbox.stripe
        with state.lock:
            try:
                session = state.get("billing_portal.session", session_id, "session")
            except StripeApiError as exc:
                return PlainTextResponse(exc.body["message"], status_code=404)
            customer = state.get("customer", session["customer"])
            pm_id = customer["invoice_settings"]["default_payment_method"]
            card = state.objects.get("payment_method", {}).get(pm_id or "", {}).get("card")
            invoices = [
                stripe_api.public(i)
                for i in state.all("invoice")
                if i["customer"] == customer["id"] and i["status"] != "draft"
            ]
        return _render(
            "portal.html",
            session=session,
            customer=customer,
            card=card,
            invoices=invoices,
            cards=_card_choices(),
            message="Payment method updated." if updated else None,
        )

    @app.post("/billing_portal/sessions/{session_id}/payment_method", tags=["stripe pages"])
    async def portal_update(session_id: str, request: Request) -> Response:
        """The customer replaces their card in the billing portal."""
        form = dict((await request.form()).items())
        token = str(form.get("payment_method") or "pm_card_visa")
        state = sandbox.stripe
        with state.lock:
            try:
                session = state.get("billing_portal.session", session_id, "session")
            except StripeApiError as exc:
                return PlainTextResponse(exc.body["message"], status_code=404)
            customer = state.get("customer", session["customer"])
            pm = stripe_api._attach(state, token, customer["id"])
            state.emit("payment_method.attached", stripe_api.public(pm))
            previous = {"invoice_settings": dict(customer["invoice_settings"])}
            customer["invoice_settings"]["default_payment_method"] = pm["id"]
            state.emit("customer.updated", stripe_api.public(customer), previous=previous)
        sandbox.recorder.record(
            "hosted",
            "POST",
            f"/billing_portal/sessions/{session_id}/payment_method",
            body=form,
            status=303,
        )
        return RedirectResponse(f"/billing_portal/sessions/{session_id}?updated=1", status_code=303)

    dashboard_kinds = {
        "invoices": "invoice",
        "customers": "customer",
        "payments": "payment_intent",
        "charges": "charge",
        "events": "event",
    }

    @app.get("/dashboard", response_class=HTMLResponse, tags=["stripe pages"])
    async def dashboard_home() -> Response:
        state = sandbox.stripe
        with state.lock:
            invoices = sorted(state.all("invoice"), key=lambda i: i["created"], reverse=True)
            items = [
                (
                    f"{i.get('number') or i['id']} — {i.get('customer_name')}",
                    f"/dashboard/invoices/{i['id']}",
                    f"{_money(i['amount_due'], i['currency'])} · {i['status']}",
                )
                for i in invoices[:100]
            ]
        return _render(
            "object.html",
            brand="Stripe (sandbox)",
            home="/dashboard",
            home_label="Dashboard",
            title="Invoices",
            subtitle="Test mode",
            rows=[],
            items=items,
            raw=None,
        )

    @app.get("/dashboard/{kind}/{object_id}", response_class=HTMLResponse, tags=["stripe pages"])
    async def dashboard_object(kind: str, object_id: str) -> Response:
        object_type = dashboard_kinds.get(kind)
        if object_type is None:
            return PlainTextResponse(f"No dashboard page for {kind}", status_code=404)
        with sandbox.stripe.lock:
            try:
                obj = stripe_api.public(sandbox.stripe.get(object_type, object_id))
            except StripeApiError as exc:
                return PlainTextResponse(exc.body["message"], status_code=404)
        rows = [(k, v) for k, v in obj.items() if not isinstance(v, dict | list) and v is not None][
            :30
        ]
        return _render(
            "object.html",
            brand="Stripe (sandbox)",
            home="/dashboard",
            home_label="Dashboard",
            title=f"{object_type.replace('_', ' ')} {object_id}",
            subtitle="Test mode",
            rows=rows,
            items=[],
            raw=json.dumps(obj, indent=2),
        )

    @app.get(
        "/lightning/r/{sobject}/{record_id}/view",
        response_class=HTMLResponse,
        tags=["salesforce pages"],
    )
    async def lightning_record(sobject: str, record_id: str) -> Response:
        record = sandbox.salesforce.get(sobject, record_id)
        if record is None:
            return PlainTextResponse(f"No {sobject} {record_id}", status_code=404)
        rows = [(k, v) for k, v in record.items() if v is not None and not isinstance(v, dict)]
        return _render(
            "object.html",
            brand="Salesforce (sandbox)",
            home="/lightning/o/Account/list",
            home_label="Accounts",
            title=f"{sobject}: {record.get('Name') or record_id}",
            subtitle=record_id,
            rows=rows,
            items=[],
            raw=None,
        )

    @app.get("/lightning/o/{sobject}/list", response_class=HTMLResponse, tags=["salesforce pages"])
    async def lightning_list(sobject: str) -> Response:
        try:
            records = sandbox.salesforce.all(sobject)
        except Exception:
            return PlainTextResponse(f"No object {sobject}", status_code=404)
        items = [
            (
                r.get("Name") or r["Id"],
                f"/lightning/r/{sobject}/{r['Id']}/view",
                r.get("Website") or r.get("StageName") or "",
            )
            for r in records
        ]
        return _render(
            "object.html",
            brand="Salesforce (sandbox)",
            home=f"/lightning/o/{sobject}/list",
            home_label=sobject,
            title=f"{sobject} records",
            subtitle=None,
            rows=[],
            items=items,
            raw=None,
        )

    # -- controls -------------------------------------------------------------------------

    @app.get("/_sandbox/requests", tags=["sandbox"])
    async def recorded(
        service: str | None = None,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        since_id: int = 0,
    ) -> list[dict[str, Any]]:
        """Every call the services received, oldest first, with parsed bodies and the
        idempotency key; filter by service, method, exact path or path prefix."""
        return sandbox.recorder.find(service, method, path, path_prefix, since_id)

    @app.delete("/_sandbox/requests", tags=["sandbox"])
    async def forget() -> dict[str, bool]:
        sandbox.recorder.clear()
        return {"ok": True}

    @app.get("/_sandbox/stripe/deliveries", tags=["sandbox"])
    async def deliveries() -> list[dict[str, Any]]:
        """Webhook deliveries: event, endpoint, attempts, last status."""
        with sandbox.stripe.lock:
            return [dict(d) for d in sandbox.stripe.deliveries]

    @app.get("/_sandbox/faults", tags=["sandbox"])
    async def faults() -> list[Fault]:
        return list(sandbox.recorder.faults)

    @app.post("/_sandbox/faults", tags=["sandbox"], status_code=201)
    async def add_fault(fault: Fault) -> Fault:
        """Make the next calls to a service fail (500, 429 + Retry-After, slow, malformed)."""
        return sandbox.recorder.add_fault(fault)

    @app.delete("/_sandbox/faults", tags=["sandbox"])
    async def clear_faults() -> dict[str, bool]:
        sandbox.recorder.clear_faults()
        return {"ok": True}

    @app.get("/_sandbox/config", tags=["sandbox"])
    async def get_config() -> dict[str, Any]:
        return {
            "public_url": sandbox.config.public_url,
            "slack_interactivity_url": sandbox.config.slack_interactivity_url,
            "slack_signing_secret_set": bool(sandbox.config.slack_signing_secret),
        }

    @app.post("/_sandbox/config", tags=["sandbox"])
    async def set_config(update: ConfigUpdate) -> dict[str, Any]:
        """Point chat-page clicks at an app (its interactivity URL and signing secret)."""
        if update.slack_interactivity_url is not None:
            sandbox.config.slack_interactivity_url = update.slack_interactivity_url
        if update.slack_signing_secret is not None:
            sandbox.config.slack_signing_secret = update.slack_signing_secret
        return await get_config()

    @app.post("/_sandbox/reset", tags=["sandbox"])
    async def reset() -> dict[str, bool]:
        """Back to the seeded state: objects, messages, recordings and faults."""
        sandbox.stripe.reset()
        sandbox.slack.reset()
        sandbox.salesforce.reset()
        sandbox.recorder.clear()
        sandbox.recorder.clear_faults()
        sandbox.bump()
        return {"ok": True}

    @app.get("/_sandbox/healthz", tags=["sandbox"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


# -- running it -----------------------------------------------------------------------------


class SandboxServer:
    """The sandbox on a free port in a background thread (tests, benchmarks)."""

    def __init__(
        self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        import socket

        if port == 0:
            with socket.socket() as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
        self.host, self.port = host, port
        self.config = config or SandboxConfig()
        if not self.config.public_url:
            self.config.public_url = self.url
        self.sandbox = Sandbox(self.config)
        self.app = create_app(sandbox=self.sandbox)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=host, port=port, log_level="warning", access_log=False, lifespan="on"
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.run, name="canary-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run(host: str, port: int, config: SandboxConfig) -> None:
    """``canary sandbox``: serve until interrupted."""
    if not config.public_url:
        config.public_url = f"http://{host}:{port}"
    # No access log: every call is recorded, with its body and answer, at /_sandbox/requests
    # (and a line per call was a tenth of the sandbox's CPU in a burst).
    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)
