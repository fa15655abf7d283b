"""`canary codec-server`: Temporal's remote codec endpoints over Canary's payload keys.

The Temporal UI (its "Codec Server" setting, or the server's ``--ui-codec-endpoint``) and the
`temporal` CLI (``--codec-endpoint``, with ``--codec-auth``) send the payloads of a history
here as ``POST /decode`` (and ``POST /encode`` to send a signal or start a workflow) and show
what comes back. Decoding hands out customer data, so every request needs the server's own
bearer token, ``CANARY_CODEC_TOKEN``, compared in constant time; browsers are let in only from
the Temporal UI's origin (``CANARY_TEMPORAL_UI_URL``).

The body is Temporal's proto-JSON: ``{"payloads": [{"metadata": {"encoding": "<base64>"},
"data": "<base64>"}]}``, and so is the answer.

A browser cannot add a bearer token to the UI's codec requests, so a person signs in once at
``/session`` with the token: the answer is an HttpOnly, SameSite=Strict cookie on the codec
server's own origin, which the UI's requests then carry when its codec setting "include
cross-origin credentials" is on (the proxy in front of the UI can add the header instead).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Form, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, RedirectResponse
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from canary.codec import EncryptionCodec, UndecryptablePayloadError
from canary.settings import MissingSettingError, Settings
from starter.gateway.deps import BearerDep, token_matches

log = logging.getLogger("canary.codec_server")

#: The largest request read: Temporal's own limit on a gRPC message is 4 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024

PayloadsFunction = Callable[[Iterable[Payload]], Awaitable[list[Payload]]]

#: The cookie a browser signed in at /session carries (the token itself, never readable by
#: scripts, sent only to this origin and never from another site).
SESSION_COOKIE = "canary_codec"
#: How long a browser's sign-in lasts.
SESSION_SECONDS = 12 * 3600

SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Canary codec server</title></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto">
<h1>Canary codec server</h1>
<p>{status}</p>
<form method="post" action="/session">
<label>Codec token (<code>CANARY_CODEC_TOKEN</code>)
<input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in this browser</button>
</form>
<p>Then, in the Temporal UI's codec server settings, turn on
<em>Include cross-origin credentials</em>.</p>
</body></html>
"""


def ui_origin(ui_url: str) -> str:
    """The browser origin of the Temporal UI's address (scheme, host and port, no path)."""
    parts = urlsplit(ui_url)
    return f"{parts.scheme}://{parts.netloc}"


def require_token(request: Request, credentials: BearerDep) -> None:
    """The codec endpoints take the server's token, as a bearer token or as the cookie of a
    browser signed in at /session; anything else is a 401."""
    token: bytes = request.app.state.codec_token
    given = credentials.credentials if credentials else request.cookies.get(SESSION_COOKIE)
    if not token_matches(given, [token]):
        raise HTTPException(
            401,
            "A bearer token (CANARY_CODEC_TOKEN) is needed to use the codec server; "
            "a browser signs in at /session",
            headers={"WWW-Authenticate": "Bearer"},
        )


def create_codec_app(settings: Settings) -> FastAPI:
    """The codec server's app; it refuses to start without keys or a token."""
    if not settings.payload_keys:
        raise MissingSettingError(
            "CANARY_PAYLOAD_KEYS", "for the codec server to decrypt payloads for the Temporal UI"
        )
    token = settings.require(
        "codec_token", "so that only those given it can read decrypted payloads"
    ).encode("ascii")  # settings allow only printable ASCII in tokens
    codec = EncryptionCodec(settings.payload_keys)

    async def apply(request: Request, operation: str, function: PayloadsFunction) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"At most {MAX_BODY_BYTES} bytes of payloads per request")
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError, ValueError) as exc:
            raise HTTPException(
                400, 'The body must be Temporal\'s JSON payloads: {"payloads": [...]}'
            ) from exc
        try:
            answer = Payloads(payloads=await function(payloads.payloads))
        except UndecryptablePayloadError as exc:
            raise HTTPException(422, str(exc)) from exc
        # Who read how much, never what: the payloads are what the keys protect.
        log.info(
            "codec server: %s of %d payloads for namespace %s",
            operation,
            len(payloads.payloads),
            request.headers.get("x-namespace", "-")[:100],
        )
        return Response(json_format.MessageToJson(answer), media_type="application/json")

    app = FastAPI(
        title="Canary codec server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.codec_token = token
    # The browser sends the UI's origin; an answer readable by any other page would let any
    # site its users visit decode through them. Preflights carry no token and need none.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[ui_origin(settings.temporal_ui_url)],
        allow_methods=["POST"],
        allow_headers=["Authorization", "Content-Type", "X-Namespace"],
        allow_credentials=True,
    )

    @app.get("/session", response_class=HTMLResponse)
    async def sign_in_page(request: Request) -> HTMLResponse:
        """The sign-in form, saying whether this browser is signed in."""
        signed_in = token_matches(request.cookies.get(SESSION_COOKIE), [token])
        status = "This browser is signed in." if signed_in else "This browser is not signed in."
        return HTMLResponse(SIGN_IN_PAGE.format(status=status))

    @app.post("/session")
    async def sign_in(request: Request, given: str = Form(alias="token")) -> Response:
        """Sign a browser in: the token becomes its cookie for this origin."""
        if not token_matches(given, [token]):
            log.warning("codec server: a browser sign-in with a wrong token")
            raise HTTPException(401, "That is not the codec server's token")
        answer = RedirectResponse("/session", status_code=303)
        answer.set_cookie(
            SESSION_COOKIE,
            given,
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    @app.post("/encode", dependencies=[Depends(require_token)])
    async def encode(request: Request) -> Response:
        """Encrypt payloads (the UI sending a signal or starting a workflow)."""
        return await apply(request, "encode", codec.encode)

    @app.post("/decode", dependencies=[Depends(require_token)])
    async def decode(request: Request) -> Response:
        """Decrypt payloads (the UI and CLI showing a history)."""
        return await apply(request, "decode", codec.decode)

    return app
