"""Temporal activities: thin, idempotent calls of the outside systems through the adapters,
one module per system (stripe, slack, salesforce, email, the detection's source), plus the
investigation, the step dispatcher, the reports, the digest and the detectors.

Each activity takes one pydantic model and returns one. The workflows call them by reference
on these classes (``workflow.execute_activity_method(SlackActivities.post_slack, …)``); the
worker registers them (``worker.all_activities``). Adapter errors become retry decisions in
:mod:`activities.calls`.
"""

from activities.detectors import DetectorActivities
from activities.digest import DigestActivities
from activities.email import EmailActivities
from activities.home import HomeActivities
from activities.investigate import InvestigationActivities
from activities.services import Services
from activities.slack import SlackActivities
from activities.steps import StepActivities
from activities.stripe import StripeActivities
from activities.windows import WindowActivities

__all__ = [
    "DetectorActivities",
    "DigestActivities",
    "EmailActivities",
    "HomeActivities",
    "InvestigationActivities",
    "Services",
    "SlackActivities",
    "StepActivities",
    "StripeActivities",
    "WindowActivities",
]
