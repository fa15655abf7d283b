"""What an SOP may ask the activities for: the step actions ``canary.run_step`` runs and the
enrichers ``canary.enrich`` runs, one table each.

These tables are the single source of those names: the SOP schema accepts exactly them, and
the activities map each one to its handler and refuse to start when their handlers name
anything else. Kept in the domain library, free of Temporal, so a catalog is validated
without importing the activities.

Never remove a name: running remediations carry their SOP in history, and replaying them
validates these names again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class StepAction:
    """One automated or human-triggered step an SOP may name."""

    does: str
    #: Only prepares something for the people the alert goes to (a link to send), with no
    #: effect a customer or a record would show: such steps run together, as local
    #: activities, before the alert is posted. A step that may resolve is never one of them.
    prepares_only: bool = False
    #: Moves a customer's money, or writes to the customer: runs by itself only for a
    #: remediation a signed Stripe webhook started (a report through the API could name any
    #: invoice, so it waits for a person to press the button).
    moves_money: bool = False


STEP_ACTIONS: Mapping[str, StepAction] = {
    "stripe.retry_payment": StepAction(
        "Retry the invoice's payment in Stripe, idempotently; collected resolves.",
        moves_money=True,
    ),
    "stripe.hosted_invoice_link": StepAction(
        "The invoice's hosted payment page, for the payer.", prepares_only=True
    ),
    "stripe.billing_portal_link": StepAction(
        "A billing-portal link where the customer updates their card.", prepares_only=True
    ),
    "stripe.check_invoice_paid": StepAction("Read the invoice again; paid resolves."),
    "stripe.dunning_email": StepAction(
        "E-mail the invoice's payer (the Stripe customer's address) dunning e-mail "
        "params.email of the catalog, with the hosted invoice page and a card-update link; "
        "once per attempt, never to a customer marked do_not_contact, and not again within "
        "params.once_per_hours of the last one.",
        moves_money=True,
    ),
    "stripe.find_deal_payment": StepAction(
        "Look in Stripe for the payment of a Closed Won deal; found resolves."
    ),
    "slack.notify_finance": StepAction(
        "Tell finance (params.channel, default #finance) of a suspected fraudulent card."
    ),
    "slack.notify_channel": StepAction(
        "Post params.text (a template; default the step's title) to params.channel "
        "(default the escalation channel)."
    ),
    "source.retry": StepAction(
        "Ask the reporting tool to retry at the retry URL it gave; accepted resolves."
    ),
    "salesforce.mark_closed_won": StepAction(
        "Move the opportunity to Closed Won and read it back; confirmed resolves."
    ),
    "salesforce.check_opportunity": StepAction(
        "Read a deal past its close date again; closed, or dated today or later, resolves."
    ),
    "salesforce.link_account": StepAction(
        "Link the app account to the chosen Salesforce account and read it back; resolves."
    ),
    "salesforce.create_account": StepAction(
        "Create a Salesforce account for the app account and link it; resolves."
    ),
    "salesforce.create_task": StepAction(
        "Create a CRM task (params subject, description, owner, due_in_days, type)."
    ),
    "report.send": StepAction(
        "Send the KPI report to its audience (Slack channel, e-mail); resolves."
    ),
    "salesforce.fast_track_case": StepAction(
        "Flag the case escalated with high priority and read it back."
    ),
}

#: Lookups a diagnosis may run before it decides, and what each one reads.
#: The facts only Canary's own lookups (the enrichers, the steps) or its own detectors
#: establish: the verdicts SOP branches turn on (found, won, matching, how many candidates,
#: paid) and the records steps write to (the candidate, the linked account, the Stripe
#: customer). A report naming them is kept as reported (on the timeline) and never trusted:
#: a report cannot close a remediation as already done, nor choose what a fix writes to.
LOOKUP_FACTS: frozenset[str] = frozenset(
    {
        "opportunity_found",
        "opportunity_is_won",
        "amount_matches",
        "candidate_count",
        "candidates",
        "candidate_id",
        "candidate_name",
        "linked_account_id",
        "linked_account_name",
        "crm_account_found",
        "invoice_status",
        "has_stripe_customer",
        "unpaid_invoice_count",
        "stripe_customer",
        "signature_seen",
        "deal_checked",
        "deal_account_found",
        "customer_segment",
        "opportunity_forecast_category",
        "app_account_found",
        "contract_signed",
        "payment_confirmed",
        "payment_text",
    }
)

ENRICHERS: Mapping[str, str] = {
    "stripe.invoice": "The invoice, its customer and (without a decline code) its payment "
    "intent, in one call.",
    "stripe.customer": "The Stripe customer: the CRM account, owner and domain its metadata names.",
    "salesforce.opportunity": "The opportunity: stage, amount, close date, owner and manager.",
    "salesforce.account": "The CRM account: its name, owner and manager.",
    "salesforce.deal": "The deal behind a payment: the customer's CRM account, its segment "
    "and its open opportunity's forecast category.",
    "salesforce.account_candidates": "Salesforce accounts matching the app account's domain "
    "or Stripe customer.",
    "warehouse.app_account": "The product account in the warehouse (CANARY_APP_ACCOUNT_SQL): "
    "whether it exists, its name, domain and plan.",
    "salesforce.contract": "Whether the opportunity's contract is signed in Salesforce "
    "(the CANARY_SALESFORCE_CONTRACT_FIELD checkbox).",
    "stripe.deal_payment": "Whether Stripe shows the invoice a report names paid, and for this "
    "opportunity (its metadata names none or this one).",
    "canary.signature_count": "How often this unknown error's signature was seen in the "
    "last 7 days.",
}


class HandlerTableMismatch(RuntimeError):
    """The activities' handlers and a table here name different things."""


def require_handlers(kind: str, handled: Iterable[str], table: Mapping[str, object]) -> None:
    """Fail unless ``handled`` names exactly the entries of ``table``."""
    names = set(handled)
    missing = sorted(table.keys() - names)
    unlisted = sorted(names - table.keys())
    problems = []
    if missing:
        problems.append(f"no handler for {', '.join(missing)}")
    if unlisted:
        problems.append(f"handlers for {', '.join(unlisted)}, which the table does not list")
    if problems:
        raise HandlerTableMismatch(
            f"{kind}s: the activities and canary.models.capabilities disagree: "
            + "; ".join(problems)
        )
