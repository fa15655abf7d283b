"""Invoice items and invoices: drafting, finalizing (which opens a payment intent) and voiding.
Paying one is in ``payments``."""

from __future__ import annotations

import re

from sandbox.stripe.calls import Call, Routes, paginate
from sandbox.stripe.state import StripeState, public
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
    amount = int_param(params, "amount")
    if amount is None:
        quantity = int_param(params, "quantity", 1) or 1
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
    item = state.put(
        {
            "id": state.new_id("invoiceitem"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": str(params.get("currency", "usd")).lower(),
            "customer": customer,
            "date": state.now(),
            "created": state.now(),
            "description": params.get("description"),
            "invoice": invoice_id,
            "livemode": False,
            "metadata": metadata_param(params),
            "quantity": int_param(params, "quantity", 1),
        }
    )
    if invoice_id:
        _add_line(state.get("invoice", invoice_id), item)
    return item


def _add_line(invoice: Obj, item: Obj) -> None:
    invoice["lines"]["data"].append(
        {
            "id": f"il_{item['id'][3:]}",
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "invoice_item": item["id"],
            "quantity": item["quantity"],
            "type": "invoiceitem",
        }
    )
    invoice["lines"]["total_count"] = len(invoice["lines"]["data"])
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    invoice.update(
        {
            "subtotal": total,
            "total": total,
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
    invoice = state.put(
        {
            "id": invoice_id,
            "object": "invoice",
            "account_country": "US",
            "account_name": "Acme GTM (sandbox)",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": is_true(params.get("auto_advance", "false")),
            "billing_reason": "manual",
            "charge": None,
            "collection_method": method,
            "created": state.now(),
            "currency": str(params.get("currency", "usd")).lower(),
            "customer": customer_id,
            "customer_email": customer.get("email"),
            "customer_name": customer.get("name"),
            "default_payment_method": params.get("default_payment_method"),
            "description": params.get("description"),
            "due_date": int_param(params, "due_date"),
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "lines": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": metadata_param(params),
            "next_payment_attempt": None,
            "number": None,
            "paid": False,
            "payment_intent": None,
            "status": "draft",
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
            "subtotal": 0,
            "total": 0,
        }
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
    invoice = state.get("invoice", m["id"])
    expand = call.params.get("expand") or []
    out = invoice
    for field in ("customer", "payment_intent"):
        if field in expand and isinstance(invoice.get(field), str):
            out = dict(out) if out is invoice else out
            out[field] = public(state.get(field, invoice[field]))
    return out


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
    if invoice["amount_due"] == 0:
        invoice.update({"status": "paid", "paid": True})
        invoice["status_transitions"]["paid_at"] = now
    else:
        invoice["status"] = "open"
        intent = state.put(
            {
                "id": state.new_id("payment_intent"),
                "object": "payment_intent",
                "amount": invoice["amount_due"],
                "amount_received": 0,
                "capture_method": "automatic",
                "created": now,
                "currency": invoice["currency"],
                "customer": invoice["customer"],
                "description": f"Payment for Invoice {invoice['number']}",
                "invoice": invoice["id"],
                "last_payment_error": None,
                "latest_charge": None,
                "livemode": False,
                "metadata": {"invoice_id": invoice["id"]},
                "payment_method": None,
                "receipt_email": customer.get("email"),
                "status": "requires_payment_method",
            }
        )
        invoice["payment_intent"] = intent["id"]
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
    state.emit("invoice.voided", public(invoice), call.request_id, call.idempotency_key)
    return invoice
