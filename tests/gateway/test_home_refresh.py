"""Homes kept current on a live stack without anyone opening them: a new alert publishes the
Homes of its owner (Alice) and of RevOps (Dan), never an outsider's (Carol); a dismissal
publishes them again with it closed; and a Home lists a remediation from the entry in its
memo, so it is listed even when no worker can answer for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.testing import WorkflowEnvironment

from activities import Services
from activities.home import listed_statuses
from canary.models import ActionRequest
from starter.intake import take_action
from tests.gateway.test_home_tab import ALICE, CAROL, DAN, headline_listed, publishes, section_of
from tests.gateway.test_socket_mode import alert
from tests.helpers import eventually
from tests.stack import LiveStack, live_stack
from worker import build_worker, remediation_activities

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    async with live_stack(dev_env.client, worker=False) as live:
        yield live


async def home_of(stack: LiveStack, user: str) -> dict[str, object]:
    views = await stack.sandbox_get("/_sandbox/slack/views", user=user)
    return dict(views.get("home") or {})


async def test_homes_follow_a_remediation_nobody_opened_them_for(stack: LiveStack) -> None:
    activities = remediation_activities(Services(stack.settings, temporal=stack.client))
    async with build_worker(stack.client, stack.settings, activities=activities):
        _, workflow_id, _ = await alert(stack)
        for user in (ALICE, DAN):
            home = await eventually(
                lambda user=user: home_of(stack, user),
                lambda h: section_of(h, workflow_id) == "Waiting for you",
                timeout=30,
            )
            assert home["type"] == "home"
        assert not await stack.requests(service="slack", path="/_sandbox/slack/home/open")

        await take_action(
            stack.client,
            workflow_id,
            ActionRequest(action="dismiss", user="ops", source="cli", reason="Written off"),
        )
        for user in (ALICE, DAN):
            await eventually(
                lambda user=user: home_of(stack, user),
                lambda h: (
                    section_of(h, workflow_id) is None
                    and headline_listed(h, "Written off") == "Closed this week"
                ),
                timeout=30,
            )
        assert await publishes(stack, CAROL) == 0, "an outsider's Home is never published"

    # The worker is gone: nothing can answer a status query, the memo still lists it.
    listed = {s.workflow_id: s for s in await listed_statuses(stack.client, datetime.now(UTC))}
    assert listed[workflow_id].close_reason == "Written off"
    assert listed[workflow_id].timeline == [], "the entry, not the status"
