"""What revenue recovery needs from the sandbox's Stripe, through the real SDK: a card that
recovers on a chosen attempt, the payer's timezone on the customer, and the events a new card
sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from canary.recovery.timezones import known_timezone
from sandbox import SandboxConfig, SandboxServer
from sandbox.stripe.seed import SEED_CUSTOMERS
from starter.stripe_events import CardChange, card_change_from_event

KEY = "sk_test_sandbox_recovery"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


@pytest.fixture()
def client(sandbox: SandboxServer) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sandbox.url}, max_network_retries=0)


def _open_invoice(client: stripe.StripeClient, card: str) -> tuple[str, str]:
    """A customer paying with ``card`` by default, and an open invoice of theirs: (customer,
    invoice)."""
    customer = client.v1.customers.create(
        params={
            "name": "Recovering Payer",
            "payment_method": card,
            "invoice_settings": {"default_payment_method": card},
            "metadata": {"timezone": "Europe/Berlin"},
        }
    )
    invoice = client.v1.invoices.create(params={"customer": customer.id})
    assert invoice.id
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 12_000, "currency": "eur"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    return customer.id, invoice.id


def _events_of(client: stripe.StripeClient, object_ids: set[str]) -> list[dict[str, Any]]:
    """The account's events about these objects (or their customer's or invoice's), oldest
    first, as plain dicts."""
    events = [e.to_dict() for e in client.v1.events.list(params={"limit": 100}).auto_paging_iter()]
    found = [
        e
        for e in events
        if object_ids & {e["data"]["object"].get(k) for k in ("id", "customer", "invoice")}
    ]
    return sorted(found, key=lambda e: e["created"])


def test_a_card_that_declines_the_first_three_charges_recovers_on_the_third_retry(
    client: stripe.StripeClient,
) -> None:
    customer, invoice = _open_invoice(client, "pm_card_declineFirst3Times")
    declines = []
    for _ in range(3):  # the first attempt, then two retries
        with pytest.raises(stripe.CardError) as declined:
            client.v1.invoices.pay(invoice)
        assert declined.value.error is not None
        declines.append((declined.value.code, declined.value.error.decline_code))
    assert declines == [("card_declined", "insufficient_funds")] * 3
    assert client.v1.invoices.retrieve(invoice).status == "open"
    paid = client.v1.invoices.pay(invoice)  # the third retry
    assert paid.status == "paid" and paid.attempt_count == 4
    charges = client.v1.charges.list(params={"customer": customer}).data
    assert [c.status for c in sorted(charges, key=lambda c: c.created)] == [
        "failed",
        "failed",
        "failed",
        "succeeded",
    ]
    events = _events_of(client, {invoice})
    outcomes = {"invoice.payment_failed", "invoice.paid", "invoice.payment_succeeded"}
    kinds = [e["type"] for e in events if e["type"] in outcomes]
    assert kinds == ["invoice.payment_failed"] * 3 + ["invoice.paid", "invoice.payment_succeeded"]


def test_each_payment_method_made_from_the_token_counts_its_own_charges(
    client: stripe.StripeClient,
) -> None:
    _, invoice = _open_invoice(client, "pm_card_declineFirst1Times")
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice)
    assert client.v1.invoices.pay(invoice).status == "paid"
    # Another customer's card from the same token starts again from its first charge.
    _, other = _open_invoice(client, "pm_card_declineFirst1Times")
    with pytest.raises(stripe.CardError, match="insufficient funds"):
        client.v1.invoices.pay(other)
    # Tokens the sandbox does not make are refused as Stripe refuses an unknown id.
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod"):
        client.v1.customers.create(params={"payment_method": "pm_card_declineFirst99Times"})


def test_customers_carry_the_payers_timezone_in_metadata(client: stripe.StripeClient) -> None:
    for spec in SEED_CUSTOMERS:
        customer = client.v1.customers.retrieve(spec["id"])
        assert known_timezone(customer.metadata["timezone"]) == spec["metadata"]["timezone"]
    assert client.v1.customers.retrieve("cus_SbxGlobex000001").metadata["timezone"] == (
        "America/Chicago"
    )
    customer, _ = _open_invoice(client, "pm_card_visa")
    assert client.v1.customers.retrieve(customer).metadata["timezone"] == "Europe/Berlin"
    moved = client.v1.customers.update(customer, params={"metadata": {"timezone": "Asia/Tokyo"}})
    assert moved.metadata["timezone"] == "Asia/Tokyo"


def test_a_new_card_sends_payment_method_attached_and_the_changed_default(
    client: stripe.StripeClient,
) -> None:
    """Creating a customer with a card as its default attaches it once, as Stripe does; a
    card attached later says payment_method.attached, and making it the default says
    customer.updated with the earlier default in previous_attributes."""
    customer, _ = _open_invoice(client, "pm_card_chargeDeclinedExpiredCard")
    [first] = client.v1.customers.payment_methods.list(customer).data
    created = client.v1.customers.retrieve(customer)
    assert created.invoice_settings and created.invoice_settings.default_payment_method == first.id
    second = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    client.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": second.id}}
    )
    events = [
        e
        for e in _events_of(client, {customer})
        if not e["type"].startswith(("invoice", "charge", "payment_intent"))
    ]
    assert [(e["type"], e["data"]["object"]["id"]) for e in events] == [
        ("customer.created", customer),
        ("payment_method.attached", first.id),
        ("payment_method.attached", second.id),
        ("customer.updated", customer),
    ]
    assert events[0]["data"]["object"]["invoice_settings"]["default_payment_method"] == first.id
    assert events[-1]["data"]["previous_attributes"] == {
        "invoice_settings": {"default_payment_method": first.id}
    }
    assert events[-1]["data"]["object"]["invoice_settings"]["default_payment_method"] == second.id
    # Canary reads both events of the new card as one card: it is retried once.
    changes = {card_change_from_event(e) for e in events[2:]}
    assert changes == {CardChange(customer, second.id)}


def test_a_card_change_naming_no_real_payment_method_keeps_only_the_customer() -> None:
    """A payment method id of the wrong shape is not kept (it would dedupe nothing and is
    data from outside); the customer is still told, so the card is still retried."""
    event = {
        "type": "payment_method.attached",
        "data": {"object": {"id": "pm_x'); DROP", "customer": "cus_SbxGlobex000001"}},
    }
    assert card_change_from_event(event) == CardChange("cus_SbxGlobex000001", None)
