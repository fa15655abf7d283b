"""`canary codec-server`: Temporal's remote codec endpoints over Canary's payload keys.

The Temporal UI (its "Codec Server" setting, or the server's ``--ui-codec-endpoint``) and the
`temporal` CLI (``--codec-endpoint``, with ``--codec-auth``) send the payloads of a history
here as ``POST /decode`` (and ``POST /encode`` to send a signal or start a workflow) and show
what comes back. Decoding hands out customer data, so every request needs the server's own
bearer token, ``CANARY_CODEC_TOKEN``, compared in constant time; browsers are let in only from
the Temporal UI's origin (``CANARY_TEMPORAL_UI_URL``).

The body is Temporal's proto-JSON: ``{"payloads": [{"metadata": {"encoding": "<base64>"},
"data": "<base64>"}]}``, and so is the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from canary.codec import EncryptionCodec, UndecryptablePayloadError
from canary.settings import MissingSettingError, Settings
from starter.gateway.deps import BearerDep, token_matches

log = logging.getLogger("canary.codec_server")

#: The largest request read: Temporal's own limit on a gRPC message is 4 MB.
MAX_BODY_BYTES = 8 * 1024 * 1024

PayloadsFunction = Callable[[Iterable[Payload]], Awaitable[list[Payload]]]


def ui_origin(ui_url: str) -> str:
    """The browser origin of the Temporal UI's address (scheme, host and port, no path)."""
    parts = urlsplit(ui_url)
    return f"{parts.scheme}://{parts.netloc}"




def require_token(request: Request, credentials: BearerDep) -> None:
    """Every route takes the codec server's token; anything else is a 401."""
    token: bytes = request.app.state.codec_token
    if not token_matches(credentials.credentials if credentials else None, [token]):
        raise HTTPException(
            401,
            "A bearer token (CANARY_CODEC_TOKEN) is needed to use the codec server",
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
        dependencies=[Depends(require_token)],
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

    @app.post("/encode")
    async def encode(request: Request) -> Response:
        """Encrypt payloads (the UI sending a signal or starting a workflow)."""
        return await apply(request, "encode", codec.encode)

    @app.post("/decode")
    async def decode(request: Request) -> Response:
        """Decrypt payloads (the UI and CLI showing a history)."""
        return await apply(request, "decode", codec.decode)

    return app
