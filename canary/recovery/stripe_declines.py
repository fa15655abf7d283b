"""Stripe's documented card decline codes (docs.stripe.com/declines/codes), by what a retry
can do about them. The catalog's ``recovery.classes`` defaults to these lists.

- soft: the issuer may approve later (funds arrive, its systems recover): retry on a plan.
- card_must_change: this card cannot work as it is (expired, wrong details, a card that does
  not support the purchase, or the payer must authenticate): wait for the payer.
- hard: the issuer will never approve (fraud, a lost or stolen card, do-not-honor and its
  kin, a revoked authorisation): card networks forbid retrying these, Visa among them.
"""

from __future__ import annotations

SOFT: tuple[str, ...] = (
    "insufficient_funds",
    "processing_error",
    "generic_decline",
    "try_again_later",
    "issuer_not_available",
    "reenter_transaction",
    "approve_with_id",
    "card_velocity_exceeded",
    "withdrawal_count_limit_exceeded",
    "duplicate_transaction",
    "no_action_taken",
)

CARD_MUST_CHANGE: tuple[str, ...] = (
    "expired_card",
    "incorrect_number",
    "incorrect_cvc",
    "incorrect_zip",
    "incorrect_pin",
    "invalid_number",
    "invalid_cvc",
    "invalid_expiry_month",
    "invalid_expiry_year",
    "invalid_pin",
    "pin_try_exceeded",
    "invalid_account",
    "new_account_information_available",
    "card_not_supported",
    "currency_not_supported",
    "authentication_required",
    "offline_pin_required",
    "online_or_offline_pin_required",
    "testmode_decline",
)

HARD: tuple[str, ...] = (
    "fraudulent",
    "stolen_card",
    "lost_card",
    "pickup_card",
    "merchant_blacklist",
    "restricted_card",
    "do_not_honor",
    "do_not_try_again",
    "call_issuer",
    "security_violation",
    "not_permitted",
    "service_not_allowed",
    "transaction_not_allowed",
    "stop_payment_order",
    "revocation_of_authorization",
    "revocation_of_all_authorizations",
    "invalid_amount",
)
