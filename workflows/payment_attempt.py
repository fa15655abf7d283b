"""PaymentAttemptWorkflow: a failed payment attempt Stripe reported on a payment intent or a
charge, joined to the remediation it belongs to.

In today's Stripe API versions one declined invoice payment is reported three times, and only
``invoice.payment_failed`` names the invoice: the payment intent's and the charge's failures
name none. The gateway holds no Stripe key, so it starts this workflow for them; its one
activity finds the invoice through Stripe's invoice payments and folds the attempt into the
invoice's remediation as the same occurrence (``<invoice>:attempt:<n>``), so one declined
attempt is one remediation. A payment made outside invoicing becomes its own remediation.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities import StripeActivities
    from canary.models import PaymentAttemptInput, RoutedAttempt

from workflows.policies import ROUTE_RETRY, ROUTE_TIMEOUT


@workflow.defn(name="PaymentAttemptWorkflow")
class PaymentAttemptWorkflow:
    @workflow.run
    async def run(self, input: PaymentAttemptInput) -> RoutedAttempt:
        return await workflow.execute_activity_method(
            StripeActivities.route_payment_attempt,
            input,
            start_to_close_timeout=ROUTE_TIMEOUT,
            retry_policy=ROUTE_RETRY,
        )
