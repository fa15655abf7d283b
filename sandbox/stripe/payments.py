"""Paying an invoice with a card (a test card decides success or the decline), and the payment
intents and charges that records."""

from __future__ import annotations

import re

from sandbox.stripe import objects
from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.invoice_payments import cancel_open_payments, record_paid
from sandbox.stripe.invoices import finalize
from sandbox.stripe.state import StripeState, public
from sandbox.stripe.wire import Obj, StripeApiError, is_true

api = Routes()


@api.route("POST", "/v1/invoices/(?P<id>[^/]+)/pay")
def pay_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] == "draft":
        finalize(state, invoice, call)
    if invoice["status"] == "paid":
        raise StripeApiError(400, "invalid_request_error", "Invoice is already paid")
    if invoice["status"] != "open":
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"You can only pay an open invoice; this one is {invoice['status']}.",
            "invoice_not_open",
        )
    if is_true(call.params.get("paid_out_of_band")):
        _mark_paid(state, invoice, None, call)
        return invoice
    customer = state.get("customer", invoice["customer"])
    pm_id = (
        call.params.get("payment_method")
        or invoice.get("default_payment_method")
        or customer["invoice_settings"]["default_payment_method"]
    )
    if not pm_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            "invoice_no_payment_method_types",
        )
    pm = state.payment_method_for(pm_id, customer["id"])
    if pm.get("customer") is None:
        pm["customer"] = customer["id"]
    charge(state, invoice, pm, call)
    return invoice


def charge(state: StripeState, invoice: Obj, pm: Obj, call: Call | None) -> Obj:
    """One attempt to collect the invoice with ``pm``. Raises a card error on a decline."""
    card = state.charge_card(pm)
    intent = state.get("payment_intent", invoice["payment_intent"])
    now = state.now()
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    ch = state.put(
        objects.charge(
            state.new_id("charge"), invoice, intent, public(pm), card, now, state.public_url
        )
    )
    invoice["attempt_count"] += 1
    invoice["attempted"] = True
    invoice["charge"] = ch["id"]
    intent["latest_charge"] = ch["id"]
    intent["payment_method"] = pm["id"]
    if card.code is None:
        ch["amount_captured"] = ch["amount"]
        ch["captured"] = True
        intent.update(
            {"status": "succeeded", "amount_received": intent["amount"], "last_payment_error": None}
        )
        state.emit("charge.succeeded", public(ch), request_id, key)
        state.emit("payment_intent.succeeded", public(intent), request_id, key)
        paid = record_paid(state, invoice, intent["id"], ch["amount"])
        if paid is not None:
            state.emit("invoice_payment.paid", paid, request_id, key)
        _mark_paid(state, invoice, ch, call)
        return ch
    error: Obj = {
        "charge": ch["id"],
        "code": card.code,
        "decline_code": card.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{card.code.replace('_', '-')}",
        "message": card.message,
        "payment_method": public(pm),
        "type": "card_error",
    }
    intent["last_payment_error"] = error
    intent["status"] = (
        "requires_action" if card.code == "authentication_required" else "requires_payment_method"
    )
    if invoice["auto_advance"]:
        invoice["next_payment_attempt"] = now + 3 * 86400
    state.emit("charge.failed", public(ch), request_id, key)
    state.emit("payment_intent.payment_failed", public(intent), request_id, key)
    state.emit("invoice.payment_failed", public(invoice), request_id, key)
    raise StripeApiError(
        402,
        "card_error",
        card.message,
        card.code,
        None,
        decline_code=card.decline_code,
        charge=ch["id"],
        payment_intent=public(intent),
        payment_method=public(pm),
    )


def _mark_paid(state: StripeState, invoice: Obj, ch: Obj | None, call: Call | None) -> None:
    now = state.now()
    invoice.update(
        {
            "status": "paid",
            "paid": True,
            "paid_out_of_band": ch is None,
            "amount_paid": invoice["amount_due"],
            "amount_remaining": 0,
            "next_payment_attempt": None,
        }
    )
    invoice["status_transitions"]["paid_at"] = now
    if ch is None:
        cancel_open_payments(state, invoice)
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    state.emit("invoice.paid", public(invoice), request_id, key)
    state.emit("invoice.payment_succeeded", public(invoice), request_id, key)


@api.route("GET", "/v1/payment_intents/(?P<id>[^/]+)")
def get_payment_intent(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("payment_intent", m["id"], "payment_intent")


@api.route("GET", "/v1/charges/(?P<id>[^/]+)")
def get_charge(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("charge", m["id"])


@api.route("GET", "/v1/charges")
def list_charges(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("charge")
    for field in ("customer", "payment_intent"):
        if call.params.get(field):
            items = [c for c in items if c.get(field) == call.params[field]]
    return paginate(state, call, items, "/v1/charges")
