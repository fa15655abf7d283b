"""Stripe's API over HTTP: ``/v1/…`` answered by the handlers of ``customers``, ``invoices``,
``payments``, ``invoice_payments`` and ``events``, in the API version the request asks for
(``Stripe-Version``), with ``expand[]`` and ``Idempotency-Key`` replay as Stripe does them."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sandbox.deps import SandboxDep
from sandbox.stripe import (
    customers,
    events,
    invoice_payments,
    invoices,
    payment_methods,
    payments,
    versions,
)
from sandbox.stripe.calls import Call, Route
from sandbox.stripe.expand import expand
from sandbox.stripe.state import StripeState
from sandbox.stripe.wire import Obj, StripeApiError, authenticate, params_of

# Every handler's method and path, tried in this order.
ROUTES: list[Route] = [
    *customers.api.routes,
    *payment_methods.api.routes,
    *invoices.api.routes,
    *payments.api.routes,
    *invoice_payments.api.routes,
    *events.api.routes,
]

router = APIRouter()


def dispatch(
    state: StripeState,
    method: str,
    path: str,
    params: Obj,
    idempotency_key: str | None,
    version: str,
) -> tuple[int, Obj, dict[str, str]]:
    """Run one API call in ``version``: (status, body, extra headers). Applies idempotent
    replay for POSTs."""
    request_id = state.new_id("request")
    headers = {"Request-Id": request_id, "Stripe-Version": version}
    fingerprint = json.dumps([method, path, params], sort_keys=True)
    if idempotency_key and method == "POST":
        with state.lock:
            cached = state.idempotency.get(idempotency_key)
            if cached is not None:
                if cached[0] != fingerprint:
                    error = StripeApiError(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same parameters "
                        f"they were first used with. Try using a key other than "
                        f"'{idempotency_key}' if you meant to execute a different request.",
                    )
                    return error.status, {"error": error.body}, headers
                return cached[1], cached[2], {**headers, "Idempotent-Replayed": "true"}
            if idempotency_key in state.in_flight:
                error = StripeApiError(
                    409,
                    "idempotency_error",
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still "
                    "going through). Please retry the request in a few seconds.",
                )
                return error.status, {"error": error.body}, headers
            state.in_flight.add(idempotency_key)
    try:
        for route_method, pattern, handler in ROUTES:
            if route_method != method:
                continue
            match = pattern.match(path)
            if match:
                call = Call(method, path, params, request_id, idempotency_key, version)
                try:
                    with state.lock:
                        status, body = 200, answer(state, call, handler(state, call, match))
                except StripeApiError as exc:
                    status, body = (
                        exc.status,
                        {
                            "error": {
                                **versions.render(exc.body, version),
                                "request_log_url": f"{state.public_url}/dashboard/logs/"
                                f"{request_id}",
                            }
                        },
                    )
                break
        else:
            status, body = (
                404,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Unrecognized request URL ({method}: {path}). Please see "
                        "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    }
                },
            )
        if idempotency_key and method == "POST" and status < 500:
            with state.lock:
                state.idempotency[idempotency_key] = (fingerprint, status, body)
        return status, body, headers
    finally:
        if idempotency_key and method == "POST":
            with state.lock:
                state.in_flight.discard(idempotency_key)


def answer(state: StripeState, call: Call, result: Obj) -> Obj:
    """A handler's result as the call asked for it: a copy, expanded, in its version."""
    body = copy.deepcopy(result)
    if call.params.get("expand"):
        expand(state, body, call.params["expand"], call.version)
    return dict(versions.render(body, call.version))


@router.api_route(
    "/v1/{path:path}",
    methods=["GET", "POST", "DELETE"],
    summary="Stripe API (test mode)",
    tags=["stripe"],
)
async def stripe_endpoint(sandbox: SandboxDep, request: Request, path: str) -> Response:
    raw = await request.body()
    content_type = request.headers.get("content-type", "")
    full = f"/v1/{path}"
    headers: dict[str, str] = {}
    try:
        authenticate(request.headers.get("authorization"))
        version = versions.requested(
            request.headers.get("stripe-version"), sandbox.stripe.api_version
        )
        params = params_of(request.method, request.url.query, raw, content_type)
    except StripeApiError as exc:
        status, body = exc.status, {"error": exc.body}
        params = {}
    else:
        status, body, headers = await asyncio.to_thread(
            dispatch,
            sandbox.stripe,
            request.method,
            full,
            params,
            request.headers.get("idempotency-key"),
            version,
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


@router.get("/_sandbox/stripe/deliveries", tags=["sandbox"])
async def deliveries(sandbox: SandboxDep) -> list[dict[str, Any]]:
    """Webhook deliveries: event, its API version, endpoint, attempts, last status, and the
    event as it was sent (``payload``)."""
    with sandbox.stripe.lock:
        return [dict(d) for d in sandbox.stripe.webhooks.deliveries]
