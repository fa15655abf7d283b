"""How Stripe's objects name each other, in the API versions Canary reads.

Up to 2025-03-31 (basil), an invoice names its ``payment_intent``, its latest ``charge`` and its
``subscription``, and payment intents and charges name their ``invoice``. From basil on, an
invoice's payments are ``invoice_payment`` objects (listed by ``GET /v1/invoice_payments``, or
included with ``expand[]=payments``), its subscription is under
``parent.subscription_details``, and payment intents and charges name no invoice.

Canary's own calls speak the version the SDK pins (today's); events arrive in the version of
the endpoint that sent them, which says it in its ``api_version``. These readers take either
shape: a field a version lacks is simply absent.
"""

from __future__ import annotations

from typing import Any

#: The first API version whose invoices list their payments instead of naming them.
BASIL = "2025-03-31"


def names_invoice(api_version: Any) -> bool:
    """Whether objects of ``api_version`` name their invoice on payment intents and charges
    (unknown: read whatever the object has)."""
    return not isinstance(api_version, str) or not api_version or api_version[:10] < BASIL


def object_id(value: Any) -> str | None:
    """An id, from an id or an expanded object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def invoice_of(obj: dict[str, Any]) -> str | None:
    """The invoice a payment intent or charge names (2024-06-20 and earlier; None today)."""
    return object_id(obj.get("invoice"))


def charge_of_invoice(invoice: dict[str, Any]) -> str | None:
    """The invoice's latest charge, which only versions before basil name."""
    return object_id(invoice.get("charge"))


def payment_intent_of_invoice(invoice: dict[str, Any]) -> Any:
    """The payment intent of the invoice's latest payment (an id, or the object when
    expanded): ``payment_intent`` before basil, else the newest of the ``payments`` included."""
    intent = invoice.get("payment_intent")
    if intent:
        return intent
    for payment in (invoice.get("payments") or {}).get("data") or []:
        intent = (payment.get("payment") or {}).get("payment_intent")
        if intent:
            return intent
    return None


def subscription_of_invoice(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: under ``parent`` from basil on, at the top before."""
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(invoice.get("subscription"))
