"""Stripe's API versions: which one a request speaks, and an object as that version shows it.

The sandbox's account keeps each object once, with the fields of every version it speaks;
:func:`render` leaves out the fields the requested version does not have. A request picks its
version with ``Stripe-Version`` (the account's default without one); a webhook endpoint
receives its events in its own ``api_version``; an event's ``data`` is always in the event's
``api_version``, however it is read.

The two versions differ where Canary looks: in ``2024-06-20`` an invoice names its
``payment_intent`` and ``charge`` and those name their ``invoice``; in today's versions an
invoice's payments are ``invoice_payment`` objects (``GET /v1/invoice_payments``, or
``expand[]=payments``), its subscription is under ``parent``, and payment intents and charges
name no invoice.
"""

from __future__ import annotations

from typing import Any

from sandbox.stripe.wire import Obj, StripeApiError

LEGACY = "2024-06-20"
#: What the ``stripe`` SDK Canary installs pins, and a new account's default.
CURRENT = "2026-10-28.endive"
VERSIONS = (LEGACY, CURRENT)
ACCOUNT_DEFAULT = CURRENT

#: The fields (dotted paths into an object's hashes) that only one version shows, by object.
ONLY_IN: dict[str, dict[str, frozenset[str]]] = {
    "invoice": {
        LEGACY: frozenset(
            {
                "application_fee_amount",
                "charge",
                "discount",
                "paid",
                "paid_out_of_band",
                "payment_intent",
                "quote",
                "subscription_details",
                "tax",
                "total_tax_amounts",
                "transfer_data",
            }
        ),
        CURRENT: frozenset(
            {
                "amount_overpaid",
                "automatic_tax.disabled_reason",
                "automatic_tax.provider",
                "automatically_finalizes_at",
                "customer_account",
                "parent",
                "total_pretax_credit_amounts",
                "total_taxes",
            }
        ),
    },
    "line_item": {
        LEGACY: frozenset(
            {
                "amount_excluding_tax",
                "invoice_item",
                "price",
                "proration",
                "proration_details",
                "tax_amounts",
                "tax_rates",
                "type",
                "unit_amount_excluding_tax",
            }
        ),
        CURRENT: frozenset(
            {"parent", "pretax_credit_amounts", "pricing", "quantity_decimal", "subtotal", "taxes"}
        ),
    },
    "invoiceitem": {
        LEGACY: frozenset({"price", "subscription", "unit_amount", "unit_amount_decimal"}),
        CURRENT: frozenset(
            {"customer_account", "net_amount", "parent", "pricing", "quantity_decimal"}
        ),
    },
    "payment_intent": {
        LEGACY: frozenset({"invoice"}),
        CURRENT: frozenset(
            {"customer_account", "excluded_payment_method_types", "managed_payments", "source"}
        ),
    },
    "charge": {
        LEGACY: frozenset({"invoice"}),
        CURRENT: frozenset(
            {
                "billing_details.tax_id",
                "outcome.advice_code",
                "outcome.network_advice_code",
                "outcome.network_decline_code",
                "payment_method_details.card.authorization_code",
                "payment_method_details.card.network_transaction_id",
                "payment_method_details.card.regulated_status",
                "payment_method_details.card.transaction_link_id",
                "source",
            }
        ),
    },
    "payment_method": {
        CURRENT: frozenset({"billing_details.tax_id", "card.regulated_status", "customer_account"})
    },
    "billing_portal.session": {CURRENT: frozenset({"customer_account"})},
}

#: Every object type the sandbox's Stripe serves, as its ``object`` field names it.
OBJECT_TYPES = frozenset(
    {
        "billing_portal.session",
        "charge",
        "customer",
        "event",
        "invoice",
        "invoice_payment",
        "invoiceitem",
        "line_item",
        "payment_intent",
        "payment_method",
        "webhook_endpoint",
    }
)


def requested(header: str | None, default: str = ACCOUNT_DEFAULT) -> str:
    """The version a request speaks: its ``Stripe-Version``, else the account's default.
    A version Stripe does not know is refused as Stripe refuses it."""
    if not header:
        return default
    if header not in VERSIONS:
        raise StripeApiError(400, "invalid_request_error", f"Invalid Stripe API version: {header}")
    return header


def hidden(object_type: str | None, version: str) -> frozenset[str]:
    """The fields of ``object_type`` that ``version`` does not show."""
    per_version = ONLY_IN.get(object_type or "", {})
    return frozenset().union(*(fields for v, fields in per_version.items() if v != version))


def shows(object_type: str, field: str, version: str) -> bool:
    return field not in hidden(object_type, version)


def render(value: Any, version: str) -> Any:
    """``value`` (an object, a list, an error body) as ``version`` shows it: a new value,
    internal ``_`` fields and other versions' fields left out, at every depth."""
    if isinstance(value, list):
        return [render(item, version) for item in value]
    if not isinstance(value, dict):
        return value
    if value.get("object") == "event":
        return _render_event(value, version)
    out = {k: render(v, version) for k, v in value.items() if not k.startswith("_")}
    for path in hidden(value.get("object"), version):
        _drop(out, path.split("."))
    return out


def _render_event(event: Obj, version: str) -> Obj:
    """An event's ``data`` is in the event's own ``api_version``."""
    own = event.get("api_version") or version
    out = {k: v for k, v in event.items() if k != "data" and not k.startswith("_")}
    data = event.get("data") or {}
    obj = data.get("object") or {}
    out["data"] = {"object": render(obj, own)}
    if "previous_attributes" in data:
        previous = render(data["previous_attributes"], own)
        for path in hidden(obj.get("object"), own):
            _drop(previous, path.split("."))
        out["data"]["previous_attributes"] = previous
    return out


def _drop(obj: Obj, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not rest:
        obj.pop(head, None)
    elif isinstance(obj.get(head), dict):
        _drop(obj[head], rest)
