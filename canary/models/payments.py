"""What the Stripe activities a workflow calls directly take and return."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PaymentIntentRef(BaseModel):
    payment_intent_id: str = Field(description="A Stripe payment intent (pi_…).")


class PaymentIntentInvoice(BaseModel):
    """The invoice a payment intent pays, as Stripe's invoice payments tie them."""

    payment_intent_id: str
    invoice_id: str | None = Field(
        None, description="None when the payment intent pays no invoice."
    )
