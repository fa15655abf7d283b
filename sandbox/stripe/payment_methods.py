"""Updating a payment method: a card's expiry (as when the cardholder's bank sends new dates)
and its metadata. Creating and attaching them is in ``customers``."""

from __future__ import annotations

import copy
import re

from sandbox.stripe.calls import Call, Routes
from sandbox.stripe.state import StripeState, previous_attributes, public
from sandbox.stripe.wire import Obj, StripeApiError, int_param, metadata_param

api = Routes()


@api.route("POST", "/v1/payment_methods/(?P<id>[^/]+)")
def update_payment_method(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    pm = state.get("payment_method", m["id"], "PaymentMethod")
    before = copy.deepcopy(pm)
    card = call.params.get("card")
    if isinstance(card, dict):
        if pm.get("type") != "card":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "You cannot update card details on a payment method that is not a card.",
                "parameter_unknown",
                "card",
            )
        month = int_param(card, "exp_month", minimum=1)
        year = int_param(card, "exp_year", minimum=1)
        if month is not None:
            if month > 12:
                raise StripeApiError(
                    400,
                    "card_error",
                    "Your card's expiration month is invalid.",
                    "invalid_expiry_month",
                    "card[exp_month]",
                )
            pm["card"]["exp_month"] = month
        if year is not None:
            pm["card"]["exp_year"] = year
    if "metadata" in call.params:
        pm["metadata"] = metadata_param(call.params, pm.get("metadata"))
    previous = previous_attributes(before, pm)
    if previous:
        state.emit(
            "payment_method.updated", public(pm), call.request_id, call.idempotency_key, previous
        )
    return pm
