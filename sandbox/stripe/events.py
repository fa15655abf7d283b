"""Webhook endpoints (where events are delivered) and the events themselves."""

from __future__ import annotations

import re
import secrets

from sandbox.stripe import objects
from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.state import StripeState
from sandbox.stripe.versions import VERSIONS
from sandbox.stripe.wire import Obj, StripeApiError, metadata_param

api = Routes()


@api.route("POST", "/v1/webhook_endpoints")
def create_webhook_endpoint(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    url = call.params.get("url")
    events = call.params.get("enabled_events")
    if not url:
        raise StripeApiError(
            400, "invalid_request_error", "Missing required param: url.", "parameter_missing", "url"
        )
    if not events:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: enabled_events.",
            "parameter_missing",
            "enabled_events",
        )
    version = call.params.get("api_version")
    if version and version not in VERSIONS:
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"Invalid api_version: must be one of {', '.join(VERSIONS[:-1])} or {VERSIONS[-1]}",
            "parameter_invalid_string",
            "api_version",
        )
    # ``secret`` is a sandbox extension: like `stripe listen`, Canary picks the signing secret
    # so the gateway can be configured before the endpoint exists.
    secret = call.params.get("secret") or "whsec_" + secrets.token_hex(16)
    endpoint = state.put(
        objects.webhook_endpoint(
            state.new_id("webhook_endpoint"),
            call.params,
            events if isinstance(events, list) else [events],
            metadata_param(call.params),
            secret,
            state.now(),
        )
    )
    # The signing secret is in the answer that creates the endpoint, and only there.
    return {**endpoint, "secret": secret}


@api.route("GET", "/v1/webhook_endpoints/(?P<id>[^/]+)")
def get_webhook_endpoint(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("webhook_endpoint", m["id"])


@api.route("GET", "/v1/webhook_endpoints")
def list_webhook_endpoints(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    return paginate(state, call, state.all("webhook_endpoint"), "/v1/webhook_endpoints")


@api.route("DELETE", "/v1/webhook_endpoints/(?P<id>[^/]+)")
def delete_webhook_endpoint(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    state.get("webhook_endpoint", m["id"])
    del state.objects["webhook_endpoint"][m["id"]]
    return {"id": m["id"], "object": "webhook_endpoint", "deleted": True}


@api.route("GET", "/v1/events/(?P<id>[^/]+)")
def get_event(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("event", m["id"])


@api.route("GET", "/v1/events")
def list_events(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("event")
    if call.params.get("type"):
        wanted = call.params["type"]
        items = [
            e
            for e in items
            if e["type"] == wanted or (wanted.endswith(".*") and e["type"].startswith(wanted[:-1]))
        ]
    return paginate(state, call, items, "/v1/events")
