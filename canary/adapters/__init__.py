"""Clients for the outside world on the real SDKs. No Temporal imports here by design:
adapters raise :mod:`canary.adapters.errors` and the activities decide how to retry."""

from canary.adapters.errors import AdapterError, PermanentError, TransientError
from canary.adapters.slack_adapter import SlackAdapter
from canary.adapters.stripe_adapter import (
    PaymentDeclined,
    StripeAdapter,
    format_amount,
    format_units,
)

__all__ = [
    "AdapterError",
    "PaymentDeclined",
    "PermanentError",
    "SlackAdapter",
    "StripeAdapter",
    "TransientError",
    "format_amount",
    "format_units",
]
