"""Clients for the outside world on the real SDKs. No Temporal imports here by design:
adapters raise :mod:`canary.adapters.errors` and the activities decide how to retry.

Stripe's, Salesforce's and the warehouse's adapters are imported from their modules
(``canary.adapters.stripe_adapter`` …) where they are built: their SDKs (stripe,
simple-salesforce with zeep and lxml, SQLAlchemy) weigh some 40 MB in a process, which a
worker that never calls them does not carry.
"""

from canary.adapters.errors import AdapterError, PaymentDeclined, PermanentError, TransientError
from canary.adapters.slack_adapter import SlackAdapter
from canary.money import format_amount, format_units

__all__ = [
    "AdapterError",
    "PaymentDeclined",
    "PermanentError",
    "SlackAdapter",
    "TransientError",
    "format_amount",
    "format_units",
]
