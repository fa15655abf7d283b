"""The demo scenario: real GTM errors raised through the sandbox's Stripe and the API.

Everything goes through the front door (Stripe's API → signed webhook → gateway, or the
detection API with a bearer token), so the demo exercises the same path as production.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import stripe

from canary.starter.stack import Stack
from canary.workflows import remediation_id

CUSTOMERS: list[dict[str, Any]] = [
    {
        # Seeded in the sandbox's Stripe with the id its Salesforce account carries.
        "customer": "cus_SbxGlobex000001",
        "name": "Globex Corporation",
        "email": "ap@globex.example",
        "card": "pm_card_chargeDeclinedInsufficientFunds",
        "amount": 4_800_000,
        "description": "Globex — Enterprise plan, annual (committed deal)",
        "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "globex.example"},
    },
    {
        "customer": "cus_SbxInitech00001",
        "name": "Initech",
        "email": "billing@initech.example",
        "card": "pm_card_chargeDeclinedExpiredCard",
        "amount": 125_000,
        "description": "Initech — Growth plan, quarterly",
        "metadata": {"owner_email": "alice@acme-gtm.example", "domain": "initech.example"},
    },
]

UNKNOWN_ERROR: dict[str, Any] = {
    "source": "zapier",
    "subject": {"kind": "zap_run", "id": "zap-sync-hubspot-deals-8812"},
    "account": {"name": "Umbrella Corp", "domain": "umbrella.example"},
    "message": "Zap 'Sync HubSpot deals to Salesforce' failed at step 3: HubSpot API returned "
    "502 Bad Gateway (request id 7f3c9a1e)",
    "facts": {"zap": "Sync HubSpot deals to Salesforce", "step": 3, "http_status": 502},
    "links": [{"label": "Zap history", "url": "https://zapier.com/app/history"}],
}


def fail_a_payment(client: stripe.StripeClient, spec: dict[str, Any]) -> str:
    """Invoice a customer on a card that will decline; returns the invoice id."""
    if spec.get("customer"):
        customer = client.v1.customers.update(
            spec["customer"],
            params={"name": spec["name"], "email": spec["email"], "metadata": spec["metadata"]},
        )
    else:
        customer = client.v1.customers.create(
            params={"name": spec["name"], "email": spec["email"], "metadata": spec["metadata"]}
        )
    method = client.v1.payment_methods.attach(spec["card"], params={"customer": customer.id})
    client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": method.id}}
    )
    invoice = client.v1.invoices.create(
        params={
            "customer": customer.id,
            "collection_method": "charge_automatically",
            "auto_advance": False,
            "description": spec["description"],
            "metadata": spec.get("invoice_metadata", {}),
        }
    )
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": spec["amount"],
            "currency": "usd",
            "description": spec["description"],
        }
    )
    assert invoice.id is not None
    client.v1.invoices.finalize_invoice(invoice.id)
    try:
        client.v1.invoices.pay(invoice.id)
    except stripe.CardError:
        pass  # expected: the sandbox's Stripe now sends invoice.payment_failed to the gateway
    return invoice.id


def run_scenario(stack: Stack) -> Iterator[str]:
    client = stripe.StripeClient(
        stack.env["STRIPE_API_KEY"], base_addresses={"api": stack.sandbox_url}
    )
    for spec in CUSTOMERS:
        invoice = fail_a_payment(client, spec)
        yield (
            f"{spec['name']}: card declined ({spec['card'].removeprefix('pm_card_')}) → "
            f"{remediation_id('payment_failed', 'invoice', invoice)}"
        )
    response = httpx.post(
        f"{stack.gateway_url}/api/detections",
        json=UNKNOWN_ERROR,
        timeout=30,
        headers={"Authorization": f"Bearer {stack.env['CANARY_API_TOKEN']}"},
    )
    response.raise_for_status()
    yield f"Zapier: unrecognised error → {response.json()['workflow_id']}"
