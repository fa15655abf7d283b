"""Customers, their payment methods and their billing portal sessions."""

from __future__ import annotations

import copy
import re

from sandbox.stripe import objects
from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.state import StripeState, previous_attributes, public
from sandbox.stripe.wire import Obj, StripeApiError, metadata_param

api = Routes()


@api.route("POST", "/v1/customers")
def create_customer(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    """A customer, with ``payment_method`` attached and ``invoice_settings[
    default_payment_method]`` its default. Like Stripe, the default may name the token given as
    ``payment_method`` (``pm_card_visa`` in both): it is then the payment method made from
    it, attached once."""
    token = call.params.get("payment_method")
    default = (call.params.get("invoice_settings") or {}).get("default_payment_method")
    customer = state.put(state.customer_object(call.params))
    attached = [attach(state, token, customer["id"])] if token else []
    if default and default != token:
        attached.append(attach(state, default, customer["id"]))
    if default:
        customer["invoice_settings"]["default_payment_method"] = attached[-1]["id"]
    state.emit("customer.created", public(customer), call.request_id, call.idempotency_key)
    for pm in attached:
        state.emit("payment_method.attached", public(pm), call.request_id, call.idempotency_key)
    return customer


@api.route("GET", "/v1/customers/(?P<id>[^/]+)")
def get_customer(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("customer", m["id"])


@api.route("POST", "/v1/customers/(?P<id>[^/]+)")
def update_customer(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    customer = state.get("customer", m["id"])
    before = copy.deepcopy(customer)
    for field in ("name", "email", "description", "phone"):
        if field in call.params:
            customer[field] = call.params[field] or None
    if "metadata" in call.params:
        customer["metadata"] = metadata_param(call.params, customer["metadata"])
    settings = call.params.get("invoice_settings")
    if isinstance(settings, dict) and "default_payment_method" in settings:
        pm_id = settings["default_payment_method"] or None
        if pm_id:
            pm = state.get("payment_method", pm_id, "PaymentMethod")
            if pm.get("customer") != customer["id"]:
                raise StripeApiError(
                    400,
                    "invalid_request_error",
                    f"The customer does not have a payment method with the ID {pm_id}. The "
                    "payment method must be attached to the customer.",
                    "resource_missing",
                    "invoice_settings[default_payment_method]",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id
    # Like Stripe, an update that changes nothing sends no event.
    previous = previous_attributes(before, customer)
    if previous:
        state.emit(
            "customer.updated", public(customer), call.request_id, call.idempotency_key, previous
        )
    return customer


@api.route("GET", "/v1/customers")
def list_customers(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("customer")
    if call.params.get("email"):
        items = [c for c in items if c.get("email") == call.params["email"]]
    return paginate(state, call, items, "/v1/customers")


# payment methods -----------------------------------------------------------------------------


def attach(state: StripeState, token_or_id: str, customer_id: str) -> Obj:
    """Attach a payment method (a test token makes a fresh one) to a customer."""
    state.get("customer", customer_id)
    pm = state.payment_method_for(token_or_id, customer_id)
    if pm.get("customer") and pm["customer"] != customer_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "The payment method you provided has already been attached to a customer.",
            "payment_method_unexpected_state",
        )
    pm["customer"] = customer_id
    return pm


@api.route("POST", "/v1/payment_methods/(?P<id>[^/]+)/attach")
def attach_payment_method(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    customer = call.params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    pm = attach(state, m["id"], customer)
    state.emit("payment_method.attached", public(pm), call.request_id, call.idempotency_key)
    return pm


@api.route("GET", "/v1/payment_methods/(?P<id>[^/]+)")
def get_payment_method(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("payment_method", m["id"], "PaymentMethod")


@api.route("GET", "/v1/customers/(?P<id>[^/]+)/payment_methods")
def customer_payment_methods(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    state.get("customer", m["id"])
    items = [p for p in state.all("payment_method") if p.get("customer") == m["id"]]
    return paginate(state, call, items, f"/v1/customers/{m['id']}/payment_methods")


# billing portal ------------------------------------------------------------------------------


@api.route("POST", "/v1/billing_portal/sessions")
def create_portal_session(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    customer = call.params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    state.get("customer", customer)
    session_id = state.new_id("billing_portal.session")
    return state.put(
        objects.billing_portal_session(
            session_id,
            customer,
            call.params.get("return_url"),
            f"{state.public_url}/billing_portal/sessions/{session_id}",
            state.now(),
        )
    )
