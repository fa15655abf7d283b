"""Invoice items and invoices: drafting, finalizing (which opens a payment intent) and voiding.
Paying one is in ``payments``."""

from __future__ import annotations

import copy
import re

from sandbox.stripe import objects
from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.invoice_payments import cancel_open_payments
from sandbox.stripe.state import StripeState, previous_attributes, public
from sandbox.stripe.wire import Obj, StripeApiError, int_param, is_true, metadata_param

api = Routes()


@api.route("POST", "/v1/invoiceitems")
def create_invoice_item(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    params = call.params
    customer = params.get("customer")
    if not customer:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    state.get("customer", customer)
    quantity = int_param(params, "quantity", 1) or 1
    amount = int_param(params, "amount")
    if amount is None:
        unit = int_param(params, "unit_amount")
        if unit is None:
            raise StripeApiError(
                400,
                "invalid_request_error",
                "Missing required param: amount.",
                "parameter_missing",
                "amount",
            )
        amount = unit * quantity
    else:
        unit = amount // quantity
    invoice_id = params.get("invoice")
    if invoice_id:
        invoice = state.get("invoice", invoice_id)
        if invoice["status"] != "draft":
            raise StripeApiError(
                400,
                "invalid_request_error",
                f"You can only add invoice items to draft invoices; {invoice_id} is "
                f"{invoice['status']}.",
                "invoice_not_editable",
                "invoice",
            )
    now = state.now()
    # Stripe makes a one-off price (of a product of its own) for an item given an amount.
    item_price = objects.price(
        state.new_id("price"),
        state.new_id("product"),
        unit,
        str(params.get("currency", "usd")).lower(),
        now,
    )
    item = state.put(
        objects.invoice_item(
            state.new_id("invoiceitem"),
            params,
            amount,
            quantity,
            item_price,
            metadata_param(params),
            now,
        )
    )
    if invoice_id:
        _add_line(state.get("invoice", invoice_id), item)
    return item


@api.route("GET", "/v1/invoiceitems/(?P<id>[^/]+)")
def get_invoice_item(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("invoiceitem", m["id"], "invoiceitem")


def _add_line(invoice: Obj, item: Obj) -> None:
    invoice["lines"]["data"].append(objects.line_item(item, invoice["id"]))
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice.update(
        {
            "subtotal": total,
            "subtotal_excluding_tax": total,
            "total": total,
            "total_excluding_tax": total,
            "amount_due": total,
            "amount_remaining": total - invoice["amount_paid"],
        }
    )
    if item["currency"]:
        invoice["currency"] = item["currency"]


@api.route("POST", "/v1/invoices")
def create_invoice(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    params = call.params
    customer_id = params.get("customer")
    if not customer_id:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Missing required param: customer.",
            "parameter_missing",
            "customer",
        )
    customer = state.get("customer", customer_id)
    method = params.get("collection_method", "charge_automatically")
    if method not in {"charge_automatically", "send_invoice"}:
        raise StripeApiError(
            400,
            "invalid_request_error",
            "Invalid collection_method: must be one of charge_automatically or send_invoice",
            "parameter_invalid_string",
            "collection_method",
        )
    invoice_id = state.new_id("invoice")
    int_param(params, "due_date")  # refused when it is not an integer
    invoice = state.put(
        objects.invoice(
            invoice_id,
            {**params, "auto_advance": is_true(params.get("auto_advance", "false"))},
            customer,
            method,
            metadata_param(params),
            state.now(),
        )
    )
    # Since API version 2022-08-01 pending items are left out unless asked for.
    if params.get("pending_invoice_items_behavior") == "include":
        for item in state.all("invoiceitem"):
            if item["customer"] == customer_id and not item["invoice"]:
                item["invoice"] = invoice_id
                _add_line(invoice, item)
    state.emit("invoice.created", public(invoice), call.request_id, call.idempotency_key)
    return invoice


@api.route("GET", "/v1/invoices/(?P<id>[^/]+)")
def get_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    return state.get("invoice", m["id"])


@api.route("POST", "/v1/invoices/(?P<id>[^/]+)")
def update_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    """Update an invoice's metadata or description, which Stripe allows in every status
    (its amounts and lines only while it is a draft, which the sandbox does not model)."""
    invoice = state.get("invoice", m["id"])
    before = copy.deepcopy(invoice)
    if "description" in call.params:
        invoice["description"] = call.params["description"] or None
    if "metadata" in call.params:
        invoice["metadata"] = metadata_param(call.params, invoice.get("metadata"))
    previous = previous_attributes(before, invoice)
    if previous:
        state.emit(
            "invoice.updated", public(invoice), call.request_id, call.idempotency_key, previous
        )
    return invoice


@api.route("GET", "/v1/invoices")
def list_invoices(state: StripeState, call: Call, _: re.Match[str]) -> Obj:
    items = state.all("invoice")
    for field in ("customer", "status", "collection_method"):
        if call.params.get(field):
            items = [i for i in items if i.get(field) == call.params[field]]
    return paginate(state, call, items, "/v1/invoices")


@api.route("POST", "/v1/invoices/(?P<id>[^/]+)/finalize")
def finalize_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] != "draft":
        raise StripeApiError(
            400,
            "invalid_request_error",
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            "invoice_not_editable",
        )
    finalize(state, invoice, call)
    return invoice


def finalize(state: StripeState, invoice: Obj, call: Call | None = None) -> None:
    number = state.next_invoice_number()
    customer = state.get("customer", invoice["customer"])
    now = state.now()
    invoice["number"] = f"{customer['invoice_prefix']}-{number:04d}"
    invoice["hosted_invoice_url"] = f"{state.public_url}/hosted/invoices/{invoice['id']}"
    invoice["invoice_pdf"] = f"{state.public_url}/hosted/invoices/{invoice['id']}/pdf"
    invoice["status_transitions"]["finalized_at"] = now
    invoice["effective_at"] = now
    invoice["ending_balance"] = 0
    if invoice["amount_due"] == 0:
        invoice.update({"status": "paid", "paid": True})
        invoice["status_transitions"]["paid_at"] = now
    else:
        invoice["status"] = "open"
        intent = state.put(
            objects.payment_intent(
                state.new_id("payment_intent"), invoice, customer.get("email"), now
            )
        )
        invoice["payment_intent"] = intent["id"]
        state.put(
            objects.invoice_payment(state.new_id("invoice_payment"), invoice, intent["id"], now)
        )
    request_id = call.request_id if call else None
    key = call.idempotency_key if call else None
    state.emit("invoice.finalized", public(invoice), request_id, key)


@api.route("POST", "/v1/invoices/(?P<id>[^/]+)/void")
def void_invoice(state: StripeState, call: Call, m: re.Match[str]) -> Obj:
    invoice = state.get("invoice", m["id"])
    if invoice["status"] != "open":
        raise StripeApiError(
            400,
            "invalid_request_error",
            f"You can only void an open invoice; this one is {invoice['status']}.",
            "invoice_not_open",
        )
    invoice["status"] = "void"
    invoice["status_transitions"]["voided_at"] = state.now()
    cancel_open_payments(state, invoice)
    state.emit("invoice.voided", public(invoice), call.request_id, call.idempotency_key)
    return invoice
