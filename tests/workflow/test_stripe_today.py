"""Today's Stripe API end to end: a webhook endpoint in the account's default version
(2026-10-28.endive), where one declined invoice payment arrives as three events and only the
invoice's names the invoice. The payment intent's and the charge's failures are routed by the
worker (PaymentAttemptWorkflow) to the invoice's remediation as the same occurrence: one
declined attempt is one remediation, one alert, and a retry resolves it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities import Services, StripeActivities
from canary.models import Detection, PaymentAttemptInput, RoutedAttempt
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from workflows import remediation_id


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, stripe_events_version=None) as live:
        yield live


async def workflows(stack: LiveStack, kind: str) -> list[tuple[str, WorkflowExecutionStatus]]:
    query = f"WorkflowType = '{kind}' AND TaskQueue = '{stack.settings.task_queue}'"
    return [(w.id, w.status) async for w in stack.client.list_workflows(query) if w.status]


async def test_one_declined_invoice_payment_is_one_remediation_and_a_retry_resolves_it(
    stack: LiveStack,
) -> None:
    invoice = fail_a_payment(stack.stripe, CUSTOMERS[0])  # insufficient funds
    workflow_id = remediation_id("payment_failed", "invoice", invoice)
    # The three events as the sandbox delivered them, in today's version.
    deliveries = await eventually(
        lambda: stack.sandbox_get("/_sandbox/stripe/deliveries"),
        lambda found: (
            {"charge.failed", "payment_intent.payment_failed", "invoice.payment_failed"}
            <= {d["type"] for d in found}
        ),
    )
    assert {d["api_version"] for d in deliveries} == {"2026-10-28.endive"}
    # The payment intent's and the charge's failures are routed, to the invoice's remediation.
    routed = await eventually(
        lambda: workflows(stack, "PaymentAttemptWorkflow"),
        lambda found: bool(found) and all(s == WorkflowExecutionStatus.COMPLETED for _, s in found),
    )
    for routing_id, _ in routed:
        handle = stack.client.get_workflow_handle(routing_id, result_type=RoutedAttempt)
        result = await handle.result()
        assert result.workflow_id == workflow_id and result.invoice_id == invoice

    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human" and s.slack is not None,
        timeout=30,
    )
    assert status.diagnosis and status.diagnosis.branch == "insufficient_funds"
    assert status.occurrences == 1, "the invoice's, the payment intent's and the charge's "
    "failures are one attempt"
    remediations = [
        w
        for w, _ in await workflows(stack, "RemediationWorkflow")
        if invoice in w or "payment_intent" in w or ":charge:" in w
    ]
    assert remediations == [workflow_id]
    # One alert (a routed failure that lands after it is a line in its thread).
    alerts = [
        m
        for m in await stack.messages("#gtm-alerts")
        if workflow_id in str(m) and m.get("thread_ts") in (None, m["ts"])
    ]
    assert len(alerts) == 1, [(m.get("ts"), m.get("text"), m.get("metadata")) for m in alerts]

    # The payer puts a new card on file: Stripe's card events (routed by the worker,
    # CardUpdateWorkflow) retry the payment on it at once, which collects and closes it.
    customer = stack.stripe.v1.invoices.retrieve(invoice).customer
    assert isinstance(customer, str)
    card = stack.stripe.v1.payment_methods.attach("pm_card_visa", params={"customer": customer})
    stack.stripe.v1.customers.update(
        customer, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
        timeout=30,
    )
    assert status.outcome == "auto_resolved" and status.recovered_by == "card_update_retry"
    assert "Recovered after a card update" in [e.text for e in status.timeline]
    assert stack.stripe.v1.invoices.retrieve(invoice).status == "paid"
    pays = await stack.requests(service="stripe", method="POST", path=f"/v1/invoices/{invoice}/pay")
    canary_pays = [p for p in pays if (p["idempotency_key"] or "").startswith("canary/")]
    assert len(canary_pays) == 1, "retried once on the new card, not once per card event"


async def test_a_payment_outside_invoicing_is_its_own_remediation(stack: LiveStack) -> None:
    """No invoice payment names the payment intent: its failure is remediated by itself."""
    payment_intent = f"pi_{uuid.uuid4().hex[:20]}"
    detection = Detection(
        id=f"ch_{uuid.uuid4().hex[:20]}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "payment_intent", "id": payment_intent},
        message="Your card has insufficient funds.",
        facts={"payment_intent_id": payment_intent, "decline_code": "insufficient_funds"},
    )
    activities = StripeActivities(Services(stack.settings, temporal=stack.client))
    routed = await activities.route_payment_attempt(
        PaymentAttemptInput(detection=detection, signed_by_stripe=True)
    )
    assert routed.invoice_id is None
    assert routed.workflow_id == remediation_id("payment_failed", "payment_intent", payment_intent)
    lookups = await stack.requests(service="stripe", path="/v1/invoice_payments")
    assert any(payment_intent in str(r) for r in lookups)
    await stack.client.get_workflow_handle(routed.workflow_id).terminate("test over")
