"""Confirm before naming (issue 19) through the real workflow: reports without a type posted
to the gateway, the lookups made against the sandbox's Salesforce, Stripe and the seeded
product warehouse, and the alert read from the sandbox's Slack.

- a workflow tool's 409 on a product account is a general error that echoes the 409, whether
  the product account does not exist or Salesforce already carries it;
- a real unlinked product account is still account_unlinked, and its alert says what was
  checked;
- a Salesforce search refused during confirmation is said in the alert, not guessed;
- a workflow tool's text ("contract signed", "invoice … paid") on an opportunity is
  recognised as a stage mismatch once Salesforce shows the contract signed or Stripe the
  invoice paid (an invoice that pays another deal confirms nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.services import Services
from activities.stripe import StripeHandlers
from canary.blocks.mrkdwn import escape
from canary.models import Detection, RemediationStatus
from sandbox.salesforce import SEED_IDS
from starter.intake import get_status
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from tests.workflow.test_end_to_end_crm import alert, detect

CONFLICT = "Recipe 'Sync usage' failed: HTTP 409 conflict on record 1000"


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client) as live:
        yield live


async def settled(stack: LiveStack, workflow_id: str) -> RemediationStatus:
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.diagnosis is not None and s.slack is not None,
        timeout=60,
    )
    assert status is not None and status.diagnosis is not None
    return status


def workato(app_id: str, message: str = CONFLICT) -> dict[str, Any]:
    return {
        "source": "workato",
        "subject": {"kind": "app_account", "id": app_id},
        "message": message,
    }


def what_happened(message: dict[str, Any]) -> str:
    return next(
        b["text"]["text"]
        for b in message["blocks"]
        if b.get("type") == "section" and b["text"]["text"].startswith("*What happened*")
    )


async def test_a_409_on_a_product_account_is_a_general_error_that_echoes_it(
    stack: LiveStack,
) -> None:
    # Globex's workspace exists and Salesforce's Globex Corporation carries its id.
    linked = await detect(stack, workato("app_globex"))
    # No workspace app_nowhere in the product at all.
    missing = await detect(stack, workato("app_nowhere"))
    # The id names the SOP the shape suggested; the diagnosis names what was confirmed.
    assert linked == "account_unlinked:app_account:app_globex"

    status = await settled(stack, linked)
    assert status.error_type == "unknown" and status.diagnosis is not None
    assert status.diagnosis.branch == "general_error"
    text = what_happened(await alert(stack, linked))
    assert escape(f"Workato reported: {CONFLICT}") in text
    assert "Checked: product account exists; Salesforce account Globex Corporation already " in (
        text
    )
    assert "has no CRM account" not in text
    # Salesforce was asked which account carries the product account's id.
    asked = await stack.requests(service="salesforce", method="GET")
    assert any("App_Account_Id__c = 'app_globex'" in str(r["query"].get("q", "")) for r in asked), (
        asked
    )

    status = await settled(stack, missing)
    assert status.error_type == "unknown"
    text = what_happened(await alert(stack, missing))
    assert escape(CONFLICT) in text
    assert "Checked: the product has no account app_nowhere, so this is not" in text


async def test_a_real_unlinked_product_account_is_still_account_unlinked(
    stack: LiveStack,
) -> None:
    workflow_id = await detect(
        stack,
        {
            "source": "product",
            "subject": {"kind": "app_account", "id": "app_stark"},
            "account": {"domain": "stark.example"},
            "message": "New workspace without a CRM account",
        },
    )
    status = await settled(stack, workflow_id)
    assert status.error_type == "account_unlinked"
    assert status.diagnosis is not None and status.diagnosis.branch == "one_candidate"
    assert status.diagnosis.facts["candidate_id"] == SEED_IDS["stark"]
    # The report named no account name: the warehouse's row names it.
    assert status.account.name == "Stark Industries"
    text = what_happened(await alert(stack, workflow_id))
    assert "Checked: product account exists; no Salesforce account carries it." in text


async def test_a_salesforce_search_refused_during_confirmation_is_said(stack: LiveStack) -> None:
    refused = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/faults",
        json={
            "service": "salesforce",
            "path": "/services/data/",
            "method": "GET",
            "status": 400,
            "error_code": "INVALID_QUERY_FILTER_OPERATOR",
            "times": None,
        },
    )
    assert refused.status_code == 201, refused.text
    try:
        workflow_id = await detect(stack, workato("app_hooli_labs"))
        status = await settled(stack, workflow_id)
    finally:
        await stack.http.delete(f"{stack.sandbox.url}/_sandbox/faults")
    assert status.error_type == "unknown"
    message = await alert(stack, workflow_id)
    text = what_happened(message)
    assert escape(CONFLICT) in text
    assert "Not confirmed as “Product account not linked to a CRM account”: product account " in (
        text
    )
    assert "Canary could not search Salesforce for the account that carries it" in text
    assert "(a lookup failed; the thread says why)" in text
    # Why: Salesforce's refusal, on the timeline and in the alert's thread.
    failed = [e.text for e in status.timeline if e.kind == "enrich_failed"]
    assert failed and "salesforce.account_candidates" in failed[0]
    thread = [
        m["text"]
        for m in await stack.messages("gtm-alerts")
        if m.get("thread_ts") == message["ts"] and m["ts"] != message["ts"]
    ]
    assert any("Could not look up salesforce.account_candidates" in t for t in thread), thread


async def test_a_workflow_tools_text_is_recognised_once_confirmed(stack: LiveStack) -> None:
    hooli = SEED_IDS["opp_hooli_expansion"]
    workflow_id = await detect(
        stack,
        {
            "source": "zapier",
            "subject": {"kind": "opportunity", "id": hooli},
            "message": "PandaDoc: contract 'Hooli expansion' signed by all parties",
        },
    )
    status = await settled(stack, workflow_id)
    assert status.error_type == "stage_mismatch"
    assert status.diagnosis is not None and status.diagnosis.branch == "ready_to_close"
    text = what_happened(await alert(stack, workflow_id))
    assert "Checked: the contract is signed in Salesforce; opportunity " in text
    # The contract was read from Salesforce, not taken from the report.
    asked = await stack.requests(service="salesforce", method="GET")
    assert any("Contract_Signed__c FROM Opportunity" in str(r["query"]) for r in asked)


def paid_invoice(stack: LiveStack, metadata: dict[str, str]) -> tuple[str, str]:
    """An invoice paid in the sandbox's Stripe: its id and number."""
    client = stack.stripe
    customer = client.v1.customers.create(params={"name": "Wayne Enterprises"})
    pm = client.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "default_payment_method": pm.id, "metadata": metadata}
    )
    assert invoice.id
    client.v1.invoice_items.create(
        params={
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": 1_200_000,
            "currency": "usd",
        }
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    paid = client.v1.invoices.pay(invoice.id)
    assert paid.status == "paid" and paid.number
    return invoice.id, paid.number


async def test_a_payment_a_workflow_tool_reports_is_confirmed_in_stripe(stack: LiveStack) -> None:
    """Wayne's pilot has no signed contract in Salesforce: only Stripe can confirm it, and
    only with an invoice that pays this deal (or names none)."""
    wayne = SEED_IDS["opp_wayne_pilot"]
    invoice, number = paid_invoice(stack, {})
    workflow_id = await detect(
        stack,
        {
            "source": "zapier",
            "subject": {"kind": "opportunity", "id": wayne},
            "message": f"QuickBooks: invoice {number} for the Wayne pilot was paid",
            "facts": {"invoice_id": invoice},
        },
    )
    status = await settled(stack, workflow_id)
    assert status.error_type == "stage_mismatch"
    text = what_happened(await alert(stack, workflow_id))
    assert f"Checked: Stripe shows invoice {number} paid ($12,000.00); opportunity " in text
    asked = await stack.requests(service="stripe", method="GET", path=f"/v1/invoices/{invoice}")
    assert asked, "the invoice was read from Stripe"


async def test_an_invoice_that_pays_another_deal_confirms_nothing(stack: LiveStack) -> None:
    # A deal no other live test reports on: paying its invoice starts a remediation of its
    # own (the sandbox sends the webhook), left running when this module's stack stops.
    other = SEED_IDS["opp_globex_services"]
    invoice, number = paid_invoice(stack, {"salesforce_opportunity_id": other})
    lookups = StripeHandlers(Services(stack.settings))
    report = Detection(
        source="zapier",
        subject={"kind": "opportunity", "id": SEED_IDS["opp_wayne_pilot"]},
        message="Invoice paid",
        facts={"invoice_id": invoice},
    )
    found = await lookups.deal_payment(report)
    assert found.facts == {
        "payment_confirmed": False,
        "payment_text": f"Stripe invoice {number} pays another opportunity ({other})",
    }
    unknown = report.model_copy(update={"facts": {"invoice_id": "in_NoSuchInvoice000"}})
    found = await lookups.deal_payment(unknown)
    assert found.facts["payment_confirmed"] is False
    assert found.facts["payment_text"] == "Stripe has no invoice in_NoSuchInvoice000"
