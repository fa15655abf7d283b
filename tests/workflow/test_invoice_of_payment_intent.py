"""canary.invoice_of_payment_intent is a remediation activity: the worker's remediation
activities include it, and a workflow calls it by reference, as the remediation does, to find
the invoice a payment intent's failure is about (today's Stripe names none on the payment
intent). Against the sandbox's Stripe, on a real dev server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import stripe
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import Services, StripeActivities
from canary.models import PaymentIntentInvoice, PaymentIntentRef
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from worker import WORKFLOW_RUNNER, remediation_activities

KEY = "sk_test_invoice_of_payment_intent"


@workflow.defn(sandboxed=False)
class FindInvoiceWorkflow:
    @workflow.run
    async def run(self, request: PaymentIntentRef) -> PaymentIntentInvoice:
        return await workflow.execute_activity_method(
            StripeActivities.invoice_of_payment_intent,
            request,
            start_to_close_timeout=timedelta(seconds=30),
            # An activity the worker does not have fails the workflow instead of waiting.
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(SandboxConfig()) as server:
        yield server


def declined_payment_intent(sandbox: SandboxServer) -> tuple[str, str]:
    """An invoice whose payment was declined, and its payment intent."""
    client = stripe.StripeClient(KEY, base_addresses={"api": sandbox.url})
    customer = client.v1.customers.create(
        params={"name": "Declined Ltd", "payment_method": "pm_card_chargeDeclined"}
    )
    [card] = client.v1.customers.payment_methods.list(customer.id).data
    invoice = client.v1.invoices.create(
        params={"customer": customer.id, "default_payment_method": card.id}
    )
    assert invoice.id
    client.v1.invoice_items.create(
        params={"customer": customer.id, "invoice": invoice.id, "amount": 1200, "currency": "usd"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id)
    assert declined.value.error is not None and declined.value.error.payment_intent is not None
    return invoice.id, str(declined.value.error.payment_intent.id)


async def test_a_workflow_finds_the_invoice_of_a_payment_intent(
    dev_env: WorkflowEnvironment, sandbox: SandboxServer
) -> None:
    invoice, intent = declined_payment_intent(sandbox)
    queue = f"invoice-of-pi-{uuid.uuid4().hex[:8]}"
    services = Services(Settings(stripe_api_key=KEY, stripe_api_base=sandbox.url))
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[FindInvoiceWorkflow],
        activities=remediation_activities(services),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        found = await dev_env.client.execute_workflow(
            FindInvoiceWorkflow.run,
            PaymentIntentRef(payment_intent_id=intent),
            id=f"find-invoice-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
    assert found == PaymentIntentInvoice(payment_intent_id=intent, invoice_id=invoice)
