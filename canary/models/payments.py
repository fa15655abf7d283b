"""What the Stripe activities a workflow calls directly take and return."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from canary.models.detection import Detection


class PaymentIntentRef(BaseModel):
    payment_intent_id: str = Field(description="A Stripe payment intent (pi_…).")


class PaymentIntentInvoice(BaseModel):
    """The invoice a payment intent pays, as Stripe's invoice payments tie them."""

    payment_intent_id: str
    invoice_id: str | None = Field(
        None, description="None when the payment intent pays no invoice."
    )


class PaymentAttemptInput(BaseModel):
    """A failed payment attempt Stripe reported on a payment intent or a charge, to be joined
    to the remediation it belongs to (``PaymentAttemptWorkflow``)."""

    detection: Detection
    signed_by_stripe: bool = Field(
        False, description="Came in a webhook whose Stripe signature the gateway verified."
    )


class RoutedAttempt(BaseModel):
    """Where a payment attempt went: the remediation, and the invoice it was paying."""

    workflow_id: str
    invoice_id: str | None = None


class CardUpdateInput(BaseModel):
    """A Stripe customer's new card (``payment_method.attached``, or ``customer.updated``
    changing the default payment method): their open invoices' remediations retry on it."""

    customer_id: str
    event_id: str | None = None
    occurred_at: datetime | None = Field(
        None,
        description="When Stripe says the card changed: a card from before a failure "
        "is not news to it.",
    )
    payment_method_id: str | None = Field(
        None, description="The new card, when Stripe names it: each card is retried once."
    )


class CardUpdateRouted(BaseModel):
    """The remediations told of the new card."""

    workflow_ids: list[str] = Field(default_factory=list)
