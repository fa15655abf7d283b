"""What a fresh test-mode account holds: Stripe's test payment methods (``pm_card_visa``,
``pm_card_chargeDeclinedInsufficientFunds``, …), the sandbox's own that recovers on a chosen
attempt (``pm_card_declineFirst3Times``), and the demo's customers."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sandbox.salesforce.seed import SEED_IDS
from sandbox.stripe.wire import Obj


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    code: str | None = None  # error code on a charge; None when the charge succeeds
    decline_code: str | None = None
    message: str = ""
    outcome_type: str = "issuer_declined"
    #: Declines its first this many charges for insufficient funds, then behaves as above.
    declines_first: int = 0

    def on_charge(self, earlier_charges: int) -> TestCard:
        """The card as a charge sees it after ``earlier_charges`` charges of its payment
        method."""
        if earlier_charges < self.declines_first:
            return replace(
                self,
                code="card_declined",
                decline_code="insufficient_funds",
                message=_INSUFFICIENT_FUNDS,
                declines_first=0,
            )
        return self


_DECLINED = "Your card was declined."
_INSUFFICIENT_FUNDS = "Your card has insufficient funds."
TEST_CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeDeclined": TestCard(
        "visa", "0002", "card_declined", "generic_decline", _DECLINED
    ),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", "card_declined", "insufficient_funds", _INSUFFICIENT_FUNDS
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", "expired_card", "expired_card", "Your card has expired."
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "pm_card_chargeDeclinedFraudulent": TestCard(
        "visa", "0019", "card_declined", "fraudulent", _DECLINED, "blocked"
    ),
    "pm_card_chargeDeclinedStolenCard": TestCard(
        "visa", "9979", "card_declined", "stolen_card", _DECLINED
    ),
    "pm_card_chargeDeclinedLostCard": TestCard(
        "visa", "9987", "card_declined", "lost_card", _DECLINED
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "pm_card_authenticationRequired": TestCard(
        "visa",
        "3184",
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}

#: The sandbox's own test payment method (Stripe has none like it): declines for insufficient
#: funds the first N charges of the payment method made from it, then succeeds, so a scheduled
#: retry can recover the payment. ``pm_card_declineFirst3Times`` recovers on the fourth charge:
#: the invoice's first attempt and two retries fail, the third retry collects.
_DECLINE_FIRST = re.compile(r"pm_card_declineFirst([1-9]|1[0-9]|20)Times")


def test_card(token: str) -> TestCard | None:
    """The test card a payment method token stands for, or None."""
    found = _DECLINE_FIRST.fullmatch(token)
    if found:
        return TestCard("visa", "3155", declines_first=int(found[1]))
    return TEST_CARDS.get(token)


#: Seeded customers, with the ids the Salesforce sandbox's accounts carry in
#: ``Stripe_Customer_Id__c`` and, the other way round, their Salesforce account id in metadata
#: (as Stripe's Salesforce connector writes it), so the demo's payments and its CRM agree. Each
#: names its billing contact's timezone in ``metadata.timezone`` (an IANA name: Stripe's
#: customer has no timezone of its own), which Canary's retry plans use for the payer's time.
SEED_CUSTOMERS: list[Obj] = [
    {
        "id": "cus_SbxGlobex000001",
        "name": "Globex Corporation",
        "email": "ap@globex.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["globex"],
            "timezone": "America/Chicago",
            "owner_email": "alice@acme-gtm.example",
            "domain": "globex.example",
        },
    },
    {
        "id": "cus_SbxInitech00001",
        "name": "Initech",
        "email": "billing@initech.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["initech"],
            "timezone": "America/New_York",
            "owner_email": "alice@acme-gtm.example",
            "domain": "initech.example",
        },
    },
    {
        "id": "cus_SbxUmbrella0001",
        "name": "Umbrella Corp",
        "email": "finance@umbrella.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["umbrella"],
            "timezone": "Europe/London",
            "domain": "umbrella.example",
        },
    },
    {
        "id": "cus_SbxHooli0000001",
        "name": "Hooli",
        "email": "payables@hooli.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["hooli"],
            "timezone": "America/Los_Angeles",
            "owner_email": "alice@acme-gtm.example",
            "domain": "hooli.example",
        },
    },
    {
        "id": "cus_SbxWayne0000001",
        "name": "Wayne Enterprises",
        "email": "ap@wayne.example",
        "metadata": {
            "salesforce_account_id": SEED_IDS["wayne"],
            "timezone": "America/New_York",
            "domain": "wayne.example",
        },
    },
]
