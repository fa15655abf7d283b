"""Stripe events → Canary: a failure becomes a detection, a payment becomes evidence.

What enters Temporal is an allow-list: each function below reads the few fields Canary shows
or acts on (ids, amounts and currency, the decline code and message, status, the hosted
invoice URL, the attempt count, the metadata keys naming a deal, the event's type, id and
time) and nothing else. The event itself is never kept (no ``raw``): Stripe puts the
customer's address, phone, e-mail and card details (brand, last 4, expiry, fingerprint) on
invoices, charges and payment intents, and a history keeps whatever it is given.

An event of the other mode than this Canary's (``livemode``) is acknowledged and ignored
(:func:`mode_mismatch`).

Each event is read in its own ``api_version`` (:mod:`canary.adapters.stripe_shapes`): before
2025-03-31 a payment intent's or a charge's failure names its invoice, and the invoice its
charge, so the three events of one declined attempt are one detection of the invoice. From
then on they name no invoice: a payment intent's and a charge's failure are a detection of
the payment intent (one, keyed by the charge), and the invoice's is a detection of the
invoice keyed by its event; the remediation finds the invoice of a payment intent through
Stripe's invoice payments (``canary.invoice_of_payment_intent``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

from canary import ids
from canary.adapters.stripe_shapes import charge_of_invoice, invoice_of, names_invoice, object_id
from canary.models import AccountRef, Detection, ExternalEvent, Subject
from canary.money import format_amount
from canary.settings import Settings
from workflows import remediation_id

FAILURE_EVENTS = frozenset(
    {"invoice.payment_failed", "payment_intent.payment_failed", "charge.failed"}
)
SUCCESS_EVENTS = frozenset(
    {"invoice.paid", "invoice.payment_succeeded", "payment_intent.succeeded", "charge.succeeded"}
)


def _domain(email: str | None) -> str | None:
    return email.split("@", 1)[1].lower() if email and "@" in email else None


def _when(event: dict[str, Any]) -> datetime:
    created = event.get("created")
    if isinstance(created, int | float):
        try:
            return datetime.fromtimestamp(created, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            # A ValueError is a 400 at the gateway, with this message, never a 500.
            raise ValueError(f"'created' is not a time: {created!r}") from exc
    return datetime.now(UTC)


def _invoice_of(event: dict[str, Any], obj: dict[str, Any]) -> str | None:
    """The invoice a payment intent or charge of ``event`` names: only versions before
    2025-03-31 name one."""
    return invoice_of(obj) if names_invoice(event.get("api_version")) else None


def _attempt_of(event: dict[str, Any], obj: dict[str, Any]) -> str | None:
    """What one payment attempt is known by: the charge behind a failure event, or, for an
    invoice of today's versions (which names no charge), the invoice's attempt number, which
    a payment intent's failure routed to its invoice is keyed by too (``invoice_attempt``)."""
    kind = event.get("type")
    if kind == "charge.failed":
        return object_id(obj.get("id"))
    if kind == "payment_intent.payment_failed":
        return object_id(obj.get("latest_charge")) or object_id(
            (obj.get("last_payment_error") or {}).get("charge")
        )
    if names_invoice(event.get("api_version")):
        return charge_of_invoice(obj)
    return invoice_attempt(obj.get("id"), obj.get("attempt_count"))


def invoice_attempt(invoice_id: Any, attempt_count: Any) -> str | None:
    """``<invoice>:attempt:<n>``: one attempt to pay an invoice, however Stripe reported it."""
    if isinstance(invoice_id, str) and invoice_id and isinstance(attempt_count, int):
        return f"{invoice_id}:attempt:{attempt_count}"
    return None


def needs_routing(detection: Detection) -> bool:
    """A payment intent's or charge's failure that names no invoice (every one, in today's
    API versions): which remediation it belongs to takes a Stripe lookup, which the worker
    makes (``PaymentAttemptWorkflow``); the gateway holds no Stripe key."""
    return detection.type == "payment_failed" and detection.subject.kind in (
        "payment_intent",
        "charge",
    )


def as_invoice_failure(
    detection: Detection, invoice_id: str, attempt_count: int | None
) -> Detection:
    """A payment intent's or charge's failure as the failure of the invoice it was paying:
    the invoice's remediation, and the same occurrence as the invoice's own failure event."""
    return detection.model_copy(
        update={
            "id": invoice_attempt(invoice_id, attempt_count) or detection.id,
            "subject": Subject(kind="invoice", id=invoice_id),
            "facts": {**detection.facts, "invoice_id": invoice_id},
        }
    )


def detection_from_event(event: dict[str, Any]) -> Detection | None:
    kind = event.get("type", "")
    if kind not in FAILURE_EVENTS:
        return None
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    facts: dict[str, Any] = {"event_type": kind, "stripe_event_id": event.get("id")}
    if kind == "invoice.payment_failed":
        subject = Subject(kind="invoice", id=obj.get("id", ""))
        facts.update(
            {
                "invoice_number": obj.get("number"),
                "amount_due": obj.get("amount_due"),
                "currency": obj.get("currency"),
                "amount_display": format_amount(
                    obj.get("amount_remaining", obj.get("amount_due")), obj.get("currency")
                ),
                "attempt_count": obj.get("attempt_count"),
                "hosted_invoice_url": obj.get("hosted_invoice_url"),
                "next_payment_attempt": obj.get("next_payment_attempt"),
                "billing_reason": obj.get("billing_reason"),
            }
        )
        message = "Invoice payment failed"
        email = obj.get("customer_email")
        name = obj.get("customer_name")
    elif kind == "payment_intent.payment_failed":
        error = obj.get("last_payment_error") or {}
        invoice = _invoice_of(event, obj)
        subject = (
            Subject(kind="invoice", id=invoice)
            if invoice
            else Subject(kind="payment_intent", id=obj.get("id", ""))
        )
        facts.update(
            {
                "payment_intent_id": obj.get("id"),
                "decline_code": error.get("decline_code"),
                "error_code": error.get("code"),
                "decline_message": error.get("message"),
                "amount_due": obj.get("amount"),
                "currency": obj.get("currency"),
                "amount_display": format_amount(obj.get("amount"), obj.get("currency")),
            }
        )
        message = error.get("message") or "Payment failed"
        email = obj.get("receipt_email")
        name = None
    else:  # charge.failed
        invoice = _invoice_of(event, obj)
        payment_intent = object_id(obj.get("payment_intent"))
        if invoice:
            subject = Subject(kind="invoice", id=invoice)
        elif payment_intent:
            subject = Subject(kind="payment_intent", id=payment_intent)
        else:
            subject = Subject(kind="charge", id=obj.get("id", ""))
        outcome = obj.get("outcome") or {}
        facts.update(
            {
                "charge_id": obj.get("id"),
                "payment_intent_id": payment_intent,
                "decline_code": outcome.get("reason") or obj.get("failure_code"),
                "error_code": obj.get("failure_code"),
                "decline_message": obj.get("failure_message"),
                "amount_due": obj.get("amount"),
                "currency": obj.get("currency"),
                "amount_display": format_amount(obj.get("amount"), obj.get("currency")),
            }
        )
        message = obj.get("failure_message") or "Charge failed"
        billing = obj.get("billing_details") or {}
        email = billing.get("email") or obj.get("receipt_email")
        name = billing.get("name")
    if subject.kind == "invoice":
        facts["invoice_id"] = subject.id
    if not subject.id:
        return None
    return Detection(
        # One declined attempt makes Stripe send charge.failed, payment_intent.payment_failed
        # and invoice.payment_failed; keyed by the charge, they count as one occurrence.
        id=_attempt_of(event, obj) or event.get("id"),
        type="payment_failed",
        source="stripe",
        subject=subject,
        account=AccountRef(
            stripe_customer_id=object_id(obj.get("customer")), name=name, domain=_domain(email)
        ),
        occurred_at=_when(event),
        message=message,
        facts={k: v for k, v in facts.items() if v is not None},
    )


#: Invoice metadata keys that name the Salesforce opportunity an invoice pays for.
OPPORTUNITY_KEYS = ("salesforce_opportunity_id", "opportunity_id", "sfdc_opportunity_id")


def stage_detection_from_event(event: dict[str, Any]) -> Detection | None:
    """A paid invoice tied to an opportunity: the deal should now be Closed Won.

    The remediation checks the opportunity itself and closes quietly when it already is;
    the gateway only says "this was paid, for that deal"."""
    if event.get("type") != "invoice.paid":  # not also payment_succeeded: one is enough
        return None
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    metadata = obj.get("metadata") or {}
    opportunity = next((metadata[k] for k in OPPORTUNITY_KEYS if metadata.get(k)), None)
    if not opportunity or not obj.get("id"):
        return None
    amount = obj.get("amount_paid", obj.get("total"))
    number = obj.get("number") or obj["id"]
    return Detection(
        id=f"{event.get('id')}:stage",
        type="stage_mismatch",
        source="stripe",
        subject=Subject(kind="opportunity", id=str(opportunity)),
        account=AccountRef(
            stripe_customer_id=object_id(obj.get("customer")),
            name=obj.get("customer_name"),
            domain=_domain(obj.get("customer_email")),
        ),
        occurred_at=_when(event),
        message=f"Invoice {number} was paid",
        facts={
            "invoice_id": obj["id"],
            "invoice_number": obj.get("number"),
            "amount_paid": amount,
            "currency": obj.get("currency"),
            "opportunity_id": str(opportunity),
            "evidence_text": f"Stripe says invoice {number} was paid "
            f"({format_amount(amount, obj.get('currency'))})",
            "stripe_event_id": event.get("id"),
        },
    )


def resolution_from_event(event: dict[str, Any]) -> tuple[list[str], ExternalEvent] | None:
    """The remediations a success event may close, and the evidence it carries."""
    kind = event.get("type", "")
    if kind not in SUCCESS_EVENTS:
        return None
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    targets: list[str] = []
    if kind.startswith("invoice."):
        targets.append(remediation_id("payment_failed", "invoice", obj.get("id", "")))
    else:
        invoice = _invoice_of(event, obj)
        if invoice:
            targets.append(remediation_id("payment_failed", "invoice", invoice))
        intent = (
            obj.get("id")
            if kind.startswith("payment_intent.")
            else object_id(obj.get("payment_intent"))
        )
        if intent:
            targets.append(remediation_id("payment_failed", "payment_intent", intent))
    evidence = {
        "stripe_event_id": event.get("id"),
        "object": obj.get("object"),
        "id": obj.get("id"),
        "status": obj.get("status"),
        "amount_paid": obj.get("amount_paid", obj.get("amount_received", obj.get("amount"))),
        "currency": obj.get("currency"),
    }
    return targets, ExternalEvent(
        kind=kind,
        source="stripe",
        event_id=event.get("id"),
        occurred_at=_when(event),
        evidence={k: v for k, v in evidence.items() if v is not None},
    )


#: Key prefixes of each mode: secret keys and restricted keys.
_LIVE_KEYS = ("sk_live_", "rk_live_")
_TEST_KEYS = ("sk_test_", "rk_test_")


def expected_livemode(settings: Settings) -> bool | None:
    """The mode of the events this Canary acts on: ``STRIPE_LIVEMODE`` when set, else the mode
    of ``STRIPE_API_KEY`` when this process has one (the gateway of the compose file has
    none), else unknown (None)."""
    if settings.stripe_livemode is not None:
        return settings.stripe_livemode
    key = settings.stripe_api_key or ""
    if key.startswith(_LIVE_KEYS):
        return True
    if key.startswith(_TEST_KEYS):
        return False
    return None


def event_livemode(event: dict[str, Any]) -> bool:
    """Whether Stripe sent the event in live mode. An event without ``livemode`` counts as a
    test-mode one; a ``livemode`` that is not true or false is a ValueError (a 400)."""
    livemode = event.get("livemode", False)
    if not isinstance(livemode, bool):
        raise ValueError(f"'livemode' is not true or false: {livemode!r}"[:200])
    return livemode


def mode_name(livemode: bool) -> str:
    return "live mode" if livemode else "test mode"


def mode_mismatch(livemode: bool, expected: bool | None) -> str | None:
    """Why an event of mode ``livemode`` is ignored, or None when Canary acts on it.

    With the mode unknown (neither setting), test-mode events are taken and a live-mode one
    is not this function's to judge: the gateway refuses it with a 503 naming
    ``STRIPE_LIVEMODE``, so Stripe keeps it and delivers it again once the setting is there.
    """
    if expected is None or livemode == expected:
        return None
    return (
        f"a {mode_name(livemode)} event; this Canary acts on {mode_name(expected)} events "
        "only (STRIPE_LIVEMODE)"
    )


def event_time(event: dict[str, Any]) -> datetime:
    """When Stripe says the event happened (``created``)."""
    return _when(event)


class CardChange(NamedTuple):
    """A Stripe customer's new card: whose, and which payment method (when Stripe names it)."""

    customer_id: str
    payment_method_id: str | None


def card_change_from_event(event: dict[str, Any]) -> CardChange | None:
    """The new card of ``payment_method.attached``, or of ``customer.updated`` whose previous
    attributes show the default payment method changed. The customer's failed invoices'
    remediations retry on it (``CardUpdateWorkflow``), once per payment method: Stripe sends
    both events for one card made the default."""
    kind = event.get("type")
    data = event.get("data") or {}
    obj: dict[str, Any] = data.get("object") or {}
    customer, card = None, None
    if kind == "payment_method.attached":
        customer, card = object_id(obj.get("customer")), object_id(obj.get("id"))
    elif kind == "customer.updated":
        previous = (data.get("previous_attributes") or {}).get("invoice_settings") or {}
        if isinstance(previous, dict) and "default_payment_method" in previous:
            settings = obj.get("invoice_settings") or {}
            customer = object_id(obj.get("id"))
            card = object_id(settings.get("default_payment_method"))
    if not customer:
        return None
    return CardChange(customer, card if card and ids.is_stripe_id(card, "payment_method") else None)
