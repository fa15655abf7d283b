"""CardUpdateWorkflow: a Stripe customer's new card, told to the remediations of their open
invoices, each of which retries its payment on it once.

The gateway holds no Stripe key, so it hands the event (``payment_method.attached``, or
``customer.updated`` changing the default payment method) to the worker, whose one activity
lists the customer's open invoices and signals their remediations.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import StripeActivities
    from canary.models import CardUpdateInput, CardUpdateRouted

from workflows.policies import ROUTE_RETRY, ROUTE_TIMEOUT


@workflow.defn(name="CardUpdateWorkflow")
class CardUpdateWorkflow:
    @workflow.run
    async def run(self, input: CardUpdateInput) -> CardUpdateRouted:
        return await workflow.execute_activity_method(
            StripeActivities.route_card_update,
            input,
            start_to_close_timeout=ROUTE_TIMEOUT,
            retry_policy=ROUTE_RETRY,
        )
