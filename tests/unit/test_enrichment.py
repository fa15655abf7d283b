"""The Stripe lookups a diagnosis asks for, against a recording stand-in for the adapter (the
live sandbox tests cover the wire: tests/workflow/test_faults.py)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from temporalio.testing import ActivityEnvironment

from activities import InvestigationActivities, Services
from canary.adapters.stripe_adapter import StripeAdapter
from canary.models import Detection, EnrichInput
from canary.settings import Settings

CUSTOMER: dict[str, Any] = {
    "id": "cus_9",
    "object": "customer",
    "name": "Globex",
    "email": "ap@globex.example",
    "metadata": {"salesforce_account_id": "001GLOBEX", "owner_email": "alice@acme-gtm.example"},
}


class Recording:
    def __init__(self, customer: dict[str, Any]) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.record = customer

    def invoice(self, invoice_id: str, expand: list[str] | None = None) -> dict[str, Any]:
        self.calls.append(("invoice", expand))
        return {
            "id": invoice_id,
            "customer": dict(self.record),
            "customer_name": "Globex Inc",
            "amount_due": 480000,
            "amount_remaining": 480000,
            "currency": "usd",
        }

    def customer(self, customer_id: str) -> dict[str, Any]:
        self.calls.append(("customer", customer_id))
        return dict(self.record)


async def enrich(
    detection: Detection, customer: dict[str, Any] = CUSTOMER
) -> tuple[Any, Recording]:
    stripe = Recording(customer)
    activities = InvestigationActivities(
        Services(Settings(stripe_api_key="sk_test_x"), stripe=cast(StripeAdapter, stripe))
    )
    found = await ActivityEnvironment().run(
        activities.enrich, EnrichInput(detection=detection, enricher="stripe.invoice")
    )
    return found, stripe


async def test_the_invoice_lookup_tells_whose_account_it_is_in_one_call() -> None:
    found, stripe = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "invoice", "id": "in_1"},
            facts={"decline_code": "insufficient_funds"},
        )
    )
    assert stripe.calls == [("invoice", ["customer"])]
    assert found.account.crm_id == "001GLOBEX"
    assert found.account.owner_email == "alice@acme-gtm.example"
    assert found.account.name == "Globex"  # the customer's own record wins over the invoice's
    assert found.account.domain == "globex.example"
    assert found.facts["customer_id"] == "cus_9"
    assert found.facts["amount_display"] == "$4,800.00"


async def test_without_an_invoice_the_lookup_reads_the_customer() -> None:
    found, stripe = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "customer", "id": "cus_9"},
            account={"stripe_customer_id": "cus_9"},
        )
    )
    assert stripe.calls == [("customer", "cus_9")]
    assert found.account.crm_id == "001GLOBEX"


async def test_without_an_invoice_or_a_customer_nothing_is_read() -> None:
    found, stripe = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "charge", "id": "ch_1"},
        )
    )
    assert stripe.calls == []
    assert found.facts == {"invoice_lookup": "no invoice on this detection"}


def with_timezone(timezone: str) -> dict[str, Any]:
    return {**CUSTOMER, "metadata": {**CUSTOMER["metadata"], "timezone": timezone}}


@pytest.mark.parametrize(
    ("timezone", "kept"),
    [
        ("Europe/Paris", "Europe/Paris"),
        ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
        ("UTC", "UTC"),
        ("Mars/Olympus_Mons", None),
        ("../../../etc/passwd", None),
        ("localtime", None),
        ("europe/paris", None),
        ("", None),
    ],
)
async def test_the_payers_timezone_is_kept_only_when_zoneinfo_knows_it(
    timezone: str, kept: str | None
) -> None:
    customer = with_timezone(timezone)
    by_invoice, _ = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "invoice", "id": "in_1"},
            facts={"decline_code": "insufficient_funds"},
        ),
        customer,
    )
    by_customer, _ = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "customer", "id": "cus_9"},
            account={"stripe_customer_id": "cus_9"},
        ),
        customer,
    )
    for found in (by_invoice, by_customer):
        assert found.facts.get("customer_timezone") == kept
        assert ("customer_timezone" in found.facts) == (kept is not None)


async def test_a_customer_without_a_timezone_names_none() -> None:
    found, _ = await enrich(
        Detection(
            source="stripe",
            subject={"kind": "invoice", "id": "in_1"},
            facts={"decline_code": "insufficient_funds"},
        )
    )
    assert "customer_timezone" not in found.facts
