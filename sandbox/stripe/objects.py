"""Stripe's objects with every field Stripe shows on them, in every version the sandbox speaks.

The handlers decide what happens; these builders decide what an object looks like. A field
the sandbox does not model (taxes, shipping, Connect) has the value a fresh test-mode object
has. Fields only one version has are here too: :mod:`sandbox.stripe.versions` leaves out the
others' when it renders an object. ``tests/sandbox/test_stripe_conformance.py`` holds these
shapes to Stripe's own example objects of each version.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from typing import Any

from sandbox.stripe.seed import TestCard
from sandbox.stripe.wire import Obj

_ALPHABET = string.ascii_letters + string.digits


def customer(object_id: str, params: Obj, metadata: Obj, created: int) -> Obj:
    return {
        "id": object_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": params.get("description"),
        "discount": None,
        "email": params.get("email"),
        "invoice_prefix": secrets.token_hex(4).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": (params.get("invoice_settings") or {}).get(
                "default_payment_method"
            )
            or None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": params.get("name"),
        "next_invoice_sequence": 1,
        "phone": params.get("phone"),
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def payment_method(
    object_id: str, token: str, card: TestCard, customer_id: str | None, created: int, year: int
) -> Obj:
    return {
        "id": object_id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": None,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": card.brand,
            "checks": {
                "address_line1_check": None,
                "address_postal_code_check": None,
                "cvc_check": "pass",
            },
            "country": "US",
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": year + 3,
            "fingerprint": fingerprint(token),
            "funding": "credit",
            "generated_from": None,
            "last4": card.last4,
            "networks": {"available": [card.brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
        "_test_token": token,
    }


def fingerprint(token: str) -> str:
    return hashlib.sha1(token.encode()).hexdigest()[:16]


def price(object_id: str, product_id: str, unit_amount: int, currency: str, created: int) -> Obj:
    """The one-off price Stripe makes for an invoice item given an amount."""
    return {
        "id": object_id,
        "object": "price",
        "active": False,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def _pricing(item_price: Obj) -> Obj:
    return {
        "price_details": {"price": item_price["id"], "product": item_price["product"]},
        "type": "price_details",
        "unit_amount_decimal": item_price["unit_amount_decimal"],
    }


def invoice_item(
    object_id: str,
    params: Obj,
    amount: int,
    quantity: int,
    item_price: Obj,
    metadata: Obj,
    created: int,
) -> Obj:
    return {
        "id": object_id,
        "object": "invoiceitem",
        "amount": amount,
        "currency": item_price["currency"],
        "customer": params["customer"],
        "customer_account": None,
        "date": created,
        "description": params.get("description"),
        "discountable": True,
        "discounts": [],
        "invoice": params.get("invoice"),
        "livemode": False,
        "metadata": metadata,
        "net_amount": amount,
        "parent": None,
        "period": {"end": created, "start": created},
        "price": item_price,
        "pricing": _pricing(item_price),
        "proration": False,
        "quantity": quantity,
        "quantity_decimal": str(quantity),
        "subscription": None,
        "tax_rates": [],
        "test_clock": None,
        "unit_amount": item_price["unit_amount"],
        "unit_amount_decimal": item_price["unit_amount_decimal"],
    }


def line_item(item: Obj, invoice_id: str) -> Obj:
    """The line an invoice item makes on its invoice."""
    return {
        "id": f"il_{item['id'][3:]}",
        "object": "line_item",
        "amount": item["amount"],
        "amount_excluding_tax": item["amount"],
        "currency": item["currency"],
        "description": item["description"],
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "invoice_item": item["id"],
        "livemode": False,
        "metadata": {},
        "parent": {
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": dict(item["period"]),
        "pretax_credit_amounts": [],
        "price": item["price"],
        "pricing": item["pricing"],
        "proration": False,
        "proration_details": {"credited_items": None},
        "quantity": item["quantity"],
        "quantity_decimal": item["quantity_decimal"],
        "subscription": None,
        "subtotal": item["amount"],
        "tax_amounts": [],
        "tax_rates": [],
        "taxes": [],
        "type": "invoiceitem",
        "unit_amount_excluding_tax": item["unit_amount_decimal"],
    }


def invoice(
    object_id: str, params: Obj, customer_obj: Obj, method: str, metadata: Obj, created: int
) -> Obj:
    due_date = params.get("due_date")
    return {
        "id": object_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Acme GTM (sandbox)",
        "account_tax_ids": None,
        "amount_due": 0,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": 0,
        "amount_shipping": 0,
        "application": None,
        "application_fee_amount": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": params["auto_advance"],
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": "manual",
        "charge": None,
        "collection_method": method,
        "created": created,
        "currency": str(params.get("currency", "usd")).lower(),
        "custom_fields": None,
        "customer": customer_obj["id"],
        "customer_account": None,
        "customer_address": None,
        "customer_email": customer_obj.get("email"),
        "customer_name": customer_obj.get("name"),
        "customer_phone": customer_obj.get("phone"),
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": params.get("default_payment_method"),
        "default_source": None,
        "default_tax_rates": [],
        "description": params.get("description"),
        "discount": None,
        "discounts": [],
        "due_date": int(due_date) if due_date else None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/invoices/{object_id}/lines",
        },
        "livemode": False,
        "metadata": metadata,
        "next_payment_attempt": None,
        "number": None,
        "on_behalf_of": None,
        "paid": False,
        "paid_out_of_band": False,
        "parent": None,
        "payment_intent": None,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": created,
        "period_start": created,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "quote": None,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subscription": None,
        "subscription_details": {"metadata": None},
        "subtotal": 0,
        "subtotal_excluding_tax": 0,
        "tax": None,
        "test_clock": None,
        "total": 0,
        "total_discount_amounts": [],
        "total_excluding_tax": 0,
        "total_pretax_credit_amounts": [],
        "total_tax_amounts": [],
        "total_taxes": [],
        "transfer_data": None,
        "webhooks_delivered_at": None,
    }


def payment_intent(object_id: str, invoice_obj: Obj, receipt_email: str | None, now: int) -> Obj:
    """The payment intent finalizing an invoice opens for its amount due."""
    secret = "".join(_ALPHABET[b % len(_ALPHABET)] for b in secrets.token_bytes(25))
    return {
        "id": object_id,
        "object": "payment_intent",
        "amount": invoice_obj["amount_due"],
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{object_id}_secret_{secret}",
        "confirmation_method": "automatic",
        "created": now,
        "currency": invoice_obj["currency"],
        "customer": invoice_obj["customer"],
        "customer_account": None,
        "description": f"Payment for Invoice {invoice_obj['number']}",
        "excluded_payment_method_types": None,
        "invoice": invoice_obj["id"],
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "managed_payments": None,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def invoice_payment(object_id: str, invoice_obj: Obj, intent_id: str, now: int) -> Obj:
    """What ties an invoice to one of its payments (today's versions list them)."""
    return {
        "id": object_id,
        "object": "invoice_payment",
        "amount_paid": None,
        "amount_requested": invoice_obj["amount_due"],
        "created": now,
        "currency": invoice_obj["currency"],
        "invoice": invoice_obj["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": intent_id, "type": "payment_intent"},
        "status": "open",
        "status_transitions": {"canceled_at": None, "paid_at": None},
    }


def charge(
    object_id: str,
    invoice_obj: Obj,
    intent: Obj,
    pm: Obj,
    card: TestCard,
    now: int,
    public_url: str,
) -> Obj:
    """One attempt to collect ``invoice_obj`` with ``pm``; ``card`` decides the outcome."""
    declined = card.code is not None
    details = pm["card"]
    return {
        "id": object_id,
        "object": "charge",
        "amount": invoice_obj["amount_remaining"],
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": {
            "address": None,
            "email": invoice_obj.get("customer_email"),
            "name": invoice_obj.get("customer_name"),
            "phone": None,
            "tax_id": None,
        },
        "calculated_statement_descriptor": "ACME GTM SANDBOX",
        "captured": False,
        "created": now,
        "currency": invoice_obj["currency"],
        "customer": invoice_obj["customer"],
        "description": intent["description"],
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": card.code,
        "failure_message": card.message or None,
        "fraud_details": {},
        "invoice": invoice_obj["id"],
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": {
            "advice_code": "do_not_try_again" if card.outcome_type == "blocked" else None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "declined_by_network" if declined else "approved_by_network",
            "reason": card.decline_code,
            "risk_level": "highest" if card.outcome_type == "blocked" else "normal",
            "risk_score": 95 if card.outcome_type == "blocked" else 20,
            "rule": None,
            "seller_message": "The bank did not return any further details with this decline."
            if declined
            else "Payment complete.",
            "type": card.outcome_type if declined else "authorized",
        },
        "paid": not declined,
        "payment_intent": intent["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": None if declined else invoice_obj["amount_remaining"],
                "authorization_code": None,
                "brand": details["brand"],
                "checks": dict(details["checks"]),
                "country": details["country"],
                "exp_month": details["exp_month"],
                "exp_year": details["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": details["fingerprint"],
                "funding": details["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": details["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": details["brand"],
                "network_token": {"used": False},
                "network_transaction_id": None,
                "overcapture": {
                    "maximum_amount_capturable": invoice_obj["amount_remaining"],
                    "status": "unavailable",
                },
                "regulated_status": details["regulated_status"],
                "three_d_secure": None,
                "transaction_link_id": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": invoice_obj.get("customer_email"),
        "receipt_number": None,
        "receipt_url": f"{public_url}/receipts/{object_id}",
        "refunded": False,
        "refunds": {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{object_id}/refunds",
        },
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "failed" if declined else "succeeded",
        "transfer_data": None,
        "transfer_group": None,
    }


def billing_portal_session(
    object_id: str, customer_id: str, return_url: Any, url: str, created: int
) -> Obj:
    return {
        "id": object_id,
        "object": "billing_portal.session",
        "configuration": "bpc_sandbox_default",
        "created": created,
        "customer": customer_id,
        "customer_account": None,
        "flow": None,
        "livemode": False,
        "locale": None,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }


def webhook_endpoint(
    object_id: str, params: Obj, events: list[str], metadata: Obj, secret: str, created: int
) -> Obj:
    """A webhook endpoint; its signing secret is shown only in the answer that creates it."""
    return {
        "id": object_id,
        "object": "webhook_endpoint",
        "api_version": params.get("api_version") or None,
        "application": None,
        "created": created,
        "description": params.get("description"),
        "enabled_events": events,
        "livemode": False,
        "metadata": metadata,
        "status": "enabled",
        "url": params["url"],
        "_secret": secret,
    }
