"""Invoice payments: what ties an invoice to each payment made for it. Today's API versions
name an invoice's payment intent only here (``GET /v1/invoice_payments``); 2024-06-20 also put
it on the invoice."""

from __future__ import annotations

import re

from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.state import StripeState
from sandbox.stripe.wire import Obj, StripeApiError

api = Routes()


def cancel_open_payments(state: StripeState, invoice: Obj) -> None:
    """An invoice paid some other way, or voided, no longer waits on its open payments."""
    now = state.now()
    for payment in state.all("invoice_payment"):
        if payment["invoice"] == invoice["id"] and payment["status"] == "open":
            payment["status"] = "canceled"
            payment["status_transitions"]["canceled_at"] = now


@api.route("GET", "/v1/invoice_payments/(?P<id>[^/]+)")
def get_invoice_payment(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("invoice_payment", m["id"])


@api.route("GET", "/v1/invoice_payments")
def list_invoice_payments(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    """An invoice's payments (``invoice=``), or the invoice payments of one payment
    (``payment[type]=payment_intent&payment[payment_intent]=pi_…``)."""
    items = state.all("invoice_payment")
    if call.params.get("invoice"):
        items = [p for p in items if p["invoice"] == call.params["invoice"]]
    payment = call.params.get("payment")
    if payment is not None:
        if not isinstance(payment, dict) or not payment.get("type"):
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: payment[type].",
                "parameter_missing",
                "payment[type]",
            )
        if payment["type"] != "payment_intent":
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Invalid payment[type]: must be payment_intent",
                "parameter_invalid_string",
                "payment[type]",
            )
        items = [p for p in items if p["payment"]["type"] == "payment_intent"]
        if payment.get("payment_intent"):
            items = [
                p for p in items if p["payment"]["payment_intent"] == payment["payment_intent"]
            ]
    status = call.params.get("status")
    if status:
        if status not in {"canceled", "open", "paid"}:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Invalid status: must be one of canceled, open, or paid",
                "parameter_invalid_string",
                "status",
            )
        items = [p for p in items if p["status"] == status]
    return paginate(state, call, items, "/v1/invoice_payments")


def record_paid(state: StripeState, invoice: Obj, intent_id: str, amount: int) -> Obj | None:
    """The invoice payment of ``intent_id``, now paid; None when the invoice has none."""
    for payment in state.all("invoice_payment"):
        if (
            payment["invoice"] == invoice["id"]
            and payment["payment"]["payment_intent"] == intent_id
        ):
            payment.update({"status": "paid", "amount_paid": amount})
            payment["status_transitions"]["paid_at"] = state.now()
            return payment
    return None
