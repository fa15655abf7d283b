"""Canary's Stripe side against the sandbox, in both API versions: the adapter and activities
speak today's, and what a webhook endpoint sends is read in the version it says.

The events here are the ones the sandbox's Stripe delivers for one declined invoice payment,
to an endpoint created with 2024-06-20 and to one created with the account's default (today's).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from temporalio.testing import ActivityEnvironment

from activities import InvestigationActivities, Services, StripeActivities
from canary.adapters.stripe_adapter import STRIPE_API_VERSION
from canary.models import Detection, EnrichInput, PaymentIntentRef
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from starter.stripe_events import detection_from_event, resolution_from_event
from tests.helpers import wait_until
from tests.sandbox.receiver import Receiver

KEY = "sk_test_canary_stripe"
LEGACY = "2024-06-20"
FAILURES = ("invoice.payment_failed", "payment_intent.payment_failed", "charge.failed")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture(scope="module")
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


@pytest.fixture(scope="module")
def services(sandbox: SandboxServer) -> Services:
    return Services(Settings(stripe_api_key=KEY, stripe_api_base=sandbox.url))


def declined_invoice(client: stripe.StripeClient, card: str = "pm_card_chargeDeclined") -> str:
    customer = client.v1.customers.create(
        params={"name": "Versions Ltd", "email": "ap@versions.example", "payment_method": card}
    )
    [method] = client.v1.customers.payment_methods.list(customer.id).data
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "default_payment_method": method.id}
    )
    assert invoice.id
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 90000, "currency": "usd"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    return invoice.id


def payment_intent_of(client: stripe.StripeClient, invoice: str) -> str:
    [payment] = client.v1.invoice_payments.list(params={"invoice": invoice}).data
    return str(payment.payment.payment_intent)


def recorded(sandbox: SandboxServer, since: int = 0) -> list[dict[str, Any]]:
    return list(
        httpx.get(
            f"{sandbox.url}/_sandbox/requests", params={"service": "stripe", "since_id": since}
        ).json()
    )


def last_id(sandbox: SandboxServer) -> int:
    return max((e["id"] for e in recorded(sandbox)), default=0)


# -- the invoice of a payment intent ---------------------------------------------------------


async def test_the_invoice_of_a_payment_intent_is_found_through_invoice_payments(
    sandbox: SandboxServer, client: stripe.StripeClient, services: Services
) -> None:
    invoice = declined_invoice(client)
    intent = payment_intent_of(client, invoice)
    since = last_id(sandbox)
    found = await ActivityEnvironment().run(
        StripeActivities(services).invoice_of_payment_intent,
        PaymentIntentRef(payment_intent_id=intent),
    )
    assert (found.payment_intent_id, found.invoice_id) == (intent, invoice)
    [asked] = recorded(sandbox, since)
    assert (asked["method"], asked["path"]) == ("GET", "/v1/invoice_payments")
    assert asked["query"] == {
        "payment[type]": "payment_intent",
        "payment[payment_intent]": intent,
        "limit": "1",
    }
    assert asked["headers"]["stripe-version"] == STRIPE_API_VERSION == stripe.api_version


async def test_a_payment_intent_that_pays_no_invoice_has_none(services: Services) -> None:
    found = await ActivityEnvironment().run(
        StripeActivities(services).invoice_of_payment_intent,
        PaymentIntentRef(payment_intent_id="pi_PaysNoInvoice000000001"),
    )
    assert found.invoice_id is None


async def test_a_payment_intent_id_of_the_wrong_shape_is_refused_before_any_call(
    sandbox: SandboxServer, services: Services
) -> None:
    since = last_id(sandbox)
    with pytest.raises(Exception, match="payment intent id"):
        await ActivityEnvironment().run(
            StripeActivities(services).invoice_of_payment_intent,
            PaymentIntentRef(payment_intent_id="in_NotAPaymentIntent"),
        )
    assert recorded(sandbox, since) == []


# -- the invoice lookup of a diagnosis ---------------------------------------------------------


async def test_the_invoice_lookup_finds_the_decline_through_the_invoice_payments(
    sandbox: SandboxServer, client: stripe.StripeClient, services: Services
) -> None:
    """Today's invoices name no payment intent: the lookup reads the invoice with its customer,
    its payments and each payment's payment intent, in one call."""
    invoice = declined_invoice(client, "pm_card_chargeDeclinedInsufficientFunds")
    since = last_id(sandbox)
    detection = Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        facts={"event_type": "invoice.payment_failed"},
    )
    found = await ActivityEnvironment().run(
        InvestigationActivities(services).enrich,
        EnrichInput(detection=detection, enricher="stripe.invoice"),
    )
    calls = recorded(sandbox, since)
    intent = payment_intent_of(client, invoice)
    assert found.facts["decline_code"] == "insufficient_funds"
    assert found.facts["payment_intent_id"] == intent
    assert found.facts["amount_display"] == "$900.00"
    assert "subscription_id" not in found.facts  # a one-off invoice bills no subscription
    assert [(c["method"], c["path"]) for c in calls] == [("GET", f"/v1/invoices/{invoice}")]
    assert calls[0]["query"] == {
        "expand[0]": "customer",
        "expand[1]": "payments.data.payment.payment_intent",
    }


# -- events of each version --------------------------------------------------------------------


def delivered(receiver: Receiver, invoice: str, intent: str) -> dict[str, dict[str, Any]]:
    """The failure events of ``invoice``'s declined attempt the receiver got, by type."""
    mine = {invoice, intent}
    found: dict[str, dict[str, Any]] = {}
    for delivery in receiver.received:
        event = json.loads(delivery["body"])
        obj = event["data"]["object"]
        if event["type"] in FAILURES and mine & {obj["id"], obj.get("payment_intent")}:
            found[event["type"]] = event
    return found


def test_the_events_of_one_declined_attempt_in_each_version(
    client: stripe.StripeClient,
) -> None:
    """2024-06-20: all three name the invoice and its charge, one detection of the invoice.
    Today's: the payment intent's and the charge's are one detection of the payment intent
    (keyed by the charge), the invoice's a detection of the invoice keyed by its event; the
    amount, customer and decline are the same either way."""
    legacy, today = Receiver(), Receiver()
    try:
        hooks = [
            client.v1.webhook_endpoints.create(
                params={"url": legacy.url, "enabled_events": ["*"], "api_version": LEGACY}
            ),
            client.v1.webhook_endpoints.create(params={"url": today.url, "enabled_events": ["*"]}),
        ]
        invoice = declined_invoice(client, "pm_card_chargeDeclinedExpiredCard")
        intent = payment_intent_of(client, invoice)
        wait_until(lambda: len(delivered(legacy, invoice, intent)) == 3)
        wait_until(lambda: len(delivered(today, invoice, intent)) == 3)
        for hook in hooks:
            client.v1.webhook_endpoints.delete(str(hook.id))
    finally:
        legacy.close()
        today.close()

    old = {k: detection_from_event(e) for k, e in delivered(legacy, invoice, intent).items()}
    new = {k: detection_from_event(e) for k, e in delivered(today, invoice, intent).items()}
    charge = old["charge.failed"].facts["charge_id"]  # type: ignore[union-attr]
    assert {(d.subject.kind, d.subject.id, d.id) for d in old.values() if d} == {
        ("invoice", invoice, charge)
    }
    # Today's invoice names no charge: its failure is keyed by the invoice's attempt, which
    # the payment intent's and the charge's take once routed to it (PaymentAttemptWorkflow).
    assert {k: (d.subject.kind, d.subject.id, d.id) for k, d in new.items() if d} == {
        "invoice.payment_failed": ("invoice", invoice, f"{invoice}:attempt:1"),
        "payment_intent.payment_failed": ("payment_intent", intent, charge),
        "charge.failed": ("payment_intent", intent, charge),
    }
    for kind in FAILURES:
        before, now = old[kind], new[kind]
        assert before is not None and now is not None
        assert before.account == now.account
        for fact in ("amount_due", "currency", "amount_display", "decline_code", "error_code"):
            assert before.facts.get(fact) == now.facts.get(fact), (kind, fact)
    assert new["charge.failed"].facts["decline_code"] == "expired_card"  # type: ignore[union-attr]
    assert "invoice_id" not in new["charge.failed"].facts  # type: ignore[union-attr]


def test_a_payment_in_today_s_version_resolves_the_payment_intent_s_remediation(
    client: stripe.StripeClient,
) -> None:
    receiver = Receiver()
    try:
        hook = client.v1.webhook_endpoints.create(
            params={"url": receiver.url, "enabled_events": ["payment_intent.succeeded"]}
        )
        invoice = declined_invoice(client)
        intent = payment_intent_of(client, invoice)
        client.v1.invoices.pay(invoice, params={"payment_method": "pm_card_visa"})
        wait_until(lambda: bool(receiver.received))
        client.v1.webhook_endpoints.delete(str(hook.id))
    finally:
        receiver.close()
    event = json.loads(receiver.received[0]["body"])
    resolved = resolution_from_event(event)
    assert resolved is not None
    assert resolved[0] == [f"payment_failed:payment_intent:{intent}"]
    legacy = resolution_from_event(
        {
            **event,
            "api_version": LEGACY,
            "data": {"object": {**event["data"]["object"], "invoice": invoice}},
        }
    )
    assert legacy is not None
    assert legacy[0] == [
        f"payment_failed:invoice:{invoice}",
        f"payment_failed:payment_intent:{intent}",
    ]
