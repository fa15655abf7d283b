"""``canary.run_step``: one SOP step action, dispatched to the handler of its system.

The handler table names exactly the step actions of ``canary.models.capabilities``, the table
the SOP schema accepts; building the activity fails when the two disagree, so a worker never
starts with an action the catalog allows and nothing runs (or the reverse).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import configuration_error
from activities.dunning import DunningHandlers
from activities.reports import ReportSender
from activities.salesforce import SalesforceHandlers
from activities.services import Services
from activities.slack import SlackActivities
from activities.source import retry_at_source
from activities.stripe import StripeHandlers
from canary.models import StepInput, StepOutput
from canary.models.capabilities import STEP_ACTIONS, require_handlers
from canary.settings import MissingSettingError

StepHandler = Callable[[StepInput], Awaitable[StepOutput]]


class StepActivities:
    def __init__(self, services: Services) -> None:
        stripe, salesforce = StripeHandlers(services), SalesforceHandlers(services)
        slack, report = SlackActivities(services), ReportSender(services)
        self.handlers: Mapping[str, StepHandler] = {
            "stripe.retry_payment": stripe.retry_payment,
            "stripe.hosted_invoice_link": stripe.hosted_invoice_link,
            "stripe.billing_portal_link": stripe.billing_portal_link,
            "stripe.check_invoice_paid": stripe.check_invoice_paid,
            "stripe.dunning_email": DunningHandlers(services).dunning_email,
            "stripe.find_deal_payment": stripe.find_deal_payment,
            "slack.notify_finance": slack.notify_finance,
            "slack.notify_channel": slack.notify_channel,
            "source.retry": retry_at_source,
            "salesforce.mark_closed_won": salesforce.mark_closed_won,
            "salesforce.check_opportunity": salesforce.check_opportunity,
            "salesforce.link_account": salesforce.link_account,
            "salesforce.create_account": salesforce.create_account,
            "salesforce.create_task": salesforce.create_task,
            "salesforce.fast_track_case": salesforce.fast_track_case,
            "report.send": report.send,
        }
        require_handlers("step action", self.handlers, STEP_ACTIONS)

    @activity.defn(name="canary.run_step")
    async def run_step(self, request: StepInput) -> StepOutput:
        handler = self.handlers.get(request.step.action)
        if handler is None:
            raise ApplicationError(
                f"no handler for step action {request.step.action}", non_retryable=True
            )
        try:
            return await handler(request)
        except MissingSettingError as exc:
            raise configuration_error(exc) from exc
