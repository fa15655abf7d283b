"""Stripe's API (``/v1/…``) in test mode, as the official ``stripe`` SDK speaks it.

Form-encoded bodies with Stripe's bracket notation, ``Bearer sk_test_…`` keys (anything else is
refused the way Stripe refuses it), Stripe's error objects (``card_error`` with ``decline_code``
on 402, ``invalid_request_error`` with ``resource_missing`` on 404), cursor pagination
(``limit`` / ``starting_after`` / ``ending_before`` / ``has_more``), ``Idempotency-Key`` replay
with ``Idempotent-Replayed``, the test payment methods (``pm_card_visa``,
``pm_card_chargeDeclinedInsufficientFunds``, …), and events delivered to webhook endpoints,
signed with ``Stripe-Signature`` exactly like Stripe signs them.

``router`` serves the API and hands each call to the handlers in ``customers``, ``invoices``,
``payments`` and ``events``; ``state`` holds the account; ``webhooks`` delivers its events;
``pages`` are what people see (hosted invoice, billing portal, dashboard).
"""
