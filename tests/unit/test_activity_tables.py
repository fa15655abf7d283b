"""The step actions and enrichers an SOP may name (canary.models.capabilities) are exactly the
ones the activities handle, in both directions, and a worker refuses to start otherwise."""

from __future__ import annotations

import pytest

from activities import InvestigationActivities, Services, StepActivities
from canary.models import Step
from canary.models.capabilities import (
    ENRICHERS,
    STEP_ACTIONS,
    HandlerTableMismatch,
    require_handlers,
)
from canary.settings import Settings


def services() -> Services:
    return Services(Settings())


def test_every_step_action_has_a_handler_and_every_handler_an_action() -> None:
    assert set(StepActivities(services()).handlers) == set(STEP_ACTIONS)


def test_every_enricher_has_a_handler_and_every_handler_an_enricher() -> None:
    assert set(InvestigationActivities(services()).enrichers) == set(ENRICHERS)


def test_tables_that_disagree_stop_the_activities_from_being_built() -> None:
    handled = set(STEP_ACTIONS)
    with pytest.raises(HandlerTableMismatch, match="no handler for stripe.retry_payment"):
        require_handlers("step action", handled - {"stripe.retry_payment"}, STEP_ACTIONS)
    with pytest.raises(HandlerTableMismatch, match="handlers for stripe.refund, which"):
        require_handlers("step action", handled | {"stripe.refund"}, STEP_ACTIONS)
    require_handlers("step action", handled, STEP_ACTIONS)


def test_the_sop_schema_accepts_the_tables_names_and_only_them() -> None:
    for name, action in STEP_ACTIONS.items():
        step = Step(id="s", action=name, title="t")
        assert step.prepares_only is action.prepares_only
        assert Step(id="s", action=name, title="t", resolves=True).prepares_only is False
    with pytest.raises(ValueError, match="unknown action 'stripe.refund'"):
        Step(id="s", action="stripe.refund", title="t")
    assert {n for n, a in STEP_ACTIONS.items() if a.prepares_only} == {
        "stripe.hosted_invoice_link",
        "stripe.billing_portal_link",
    }
