"""The Home tab on a live stack: the sandbox sends app_home_opened (signed, over HTTP), the
gateway publishes the person's Home (views.publish, stored by the sandbox) from Temporal; the
owner (Alice), a RevOps member (Dan) and an outsider (Carol) after a new alert, a snooze and a
dismissal; a Home-tab click resolves; a click forged from another person's Home is refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.home import HomeRefresher
from canary.models import ActionRequest
from starter.intake import get_status, take_action
from tests.gateway.test_socket_mode import alert
from tests.helpers import eventually, slack_headers
from tests.stack import SIGNING_SECRET, LiveStack, live_stack

pytestmark = pytest.mark.asyncio
ALICE, DAN, CAROL = "U0ALICE", "U0DAN", "U0CAROL"


@pytest.fixture(scope="module")
async def stack(dev_env: WorkflowEnvironment) -> AsyncIterator[LiveStack]:
    # The Homes here are the gateway's, published as people open them: the worker's own
    # refreshes as remediations change (tests/gateway/test_home_refresh.py) are kept out,
    # so each Home read is the one that answered the opening.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(HomeRefresher, "changed", lambda self, change: None)
        async with live_stack(dev_env.client) as live:
            yield live


async def publishes(stack: LiveStack, user: str) -> int:
    calls = await stack.requests(service="slack", path="/api/views.publish")
    return sum(1 for c in calls if c["body"].get("user_id") == user and c["status"] == 200)


async def home_after(stack: LiveStack, user: str, before: int) -> dict[str, Any]:
    """The user's Home once the gateway published it again after ``before`` publishes."""
    await eventually(lambda: publishes(stack, user), lambda n: n > before, timeout=30)
    views = await stack.sandbox_get("/_sandbox/slack/views", user=user)
    return dict(views["home"])


async def open_home(stack: LiveStack, user: str) -> dict[str, Any]:
    """``user`` opens the app's Home tab; the Home the gateway published for it."""
    before = await publishes(stack, user)
    opened = await stack.http.post(f"{stack.sandbox.url}/_sandbox/slack/home/open?user={user}")
    assert opened.json()["status"] == 200, opened.text
    return await home_after(stack, user, before)


def section_of(home: dict[str, Any], workflow_id: str) -> str | None:
    """The header of the Home section listing ``workflow_id`` (by its buttons or headline)."""
    header = None
    for block in home["blocks"]:
        if block["type"] == "header":
            header = block["text"]["text"]
        if workflow_id in json.dumps(block):
            return header
    return None


def headline_listed(home: dict[str, Any], headline: str) -> str | None:
    header = None
    for block in home["blocks"]:
        if block["type"] == "header":
            header = block["text"]["text"]
        elif block["type"] == "section" and headline in json.dumps(block, ensure_ascii=False):
            return header
    return None


async def test_each_kind_of_change_on_the_owner_revops_and_an_outsider(stack: LiveStack) -> None:
    _, workflow_id, _ = await alert(stack)
    status = await get_status(stack.client, workflow_id)
    assert status is not None and status.owner_slack_user == ALICE
    headline = status.headline.strip()

    # A new alert: it waits for Alice (its owner) and Dan (RevOps may act), not for Carol.
    for user in (ALICE, DAN):
        assert section_of(await open_home(stack, user), workflow_id) == "Waiting for you"
    carol = await open_home(stack, CAROL)
    assert section_of(carol, workflow_id) is None and headline not in json.dumps(carol)
    # Other tests' remediations on this stack may concern Carol; this one must not show.
    assert workflow_id not in json.dumps(carol), "nothing of others' on an outsider's Home"

    # Snoozed: among the other open ones, with its buttons still there.
    await take_action(
        stack.client,
        workflow_id,
        ActionRequest(action="snooze", user="ops", source="cli", snooze_for=timedelta(hours=4)),
    )
    for user in (ALICE, DAN):
        home = await open_home(stack, user)
        assert section_of(home, workflow_id) == "Your other open remediations"
        assert "snoozed until" in json.dumps(home)
    assert section_of(await open_home(stack, CAROL), workflow_id) is None

    # Dismissed: closed this week, with its reason, no buttons.
    await take_action(
        stack.client,
        workflow_id,
        ActionRequest(action="dismiss", user="ops", source="cli", reason="Written off"),
    )
    for user in (ALICE, DAN):
        home = await open_home(stack, user)
        assert section_of(home, workflow_id) is None, "no buttons left for it"
        assert headline_listed(home, "Written off") == "Closed this week"
    carol = await open_home(stack, CAROL)
    assert "Written off" not in json.dumps(carol) and headline not in json.dumps(carol)


async def test_a_click_on_the_home_tab_resolves_the_remediation(stack: LiveStack) -> None:
    _, workflow_id, _ = await alert(stack)
    await open_home(stack, ALICE)
    before = await publishes(stack, ALICE)

    clicked = await stack.http.post(
        f"{stack.sandbox.url}/_sandbox/slack/home/click",
        json={"user": ALICE, "action_id": "canary:resolve", "value": workflow_id},
    )
    assert clicked.json()["status"] == 200, clicked.text
    # Mark resolved asks what fixed it, in a form opened from the Home tab's trigger.
    submitted = await stack.submit(ALICE, {"reason_text": "Paid by wire"})
    assert submitted["closed"], submitted

    status = await eventually(
        lambda: get_status(stack.client, workflow_id),
        lambda s: s is not None and s.state == "resolved",
    )
    assert status is not None
    assert status.outcome == "resolved_by_human" and status.close_reason == "Paid by wire"
    [sent] = [
        r["body"]["payload"]
        for r in await stack.requests(service="interactivity")
        if r["body"]["payload"].get("container", {}).get("type") == "view"
        and r["body"]["payload"]["actions"][0].get("value") == workflow_id
    ]
    assert sent["view"]["type"] == "home" and sent["container"]["view_id"] == sent["view"]["id"]
    home = await open_home(stack, ALICE)
    assert section_of(home, workflow_id) is None
    assert before < await publishes(stack, ALICE)


async def test_a_click_forged_from_another_persons_home_is_refused(stack: LiveStack) -> None:
    _, workflow_id, _ = await alert(stack)
    alices = await open_home(stack, ALICE)
    await open_home(stack, DAN)
    payload = {
        "type": "block_actions",
        "user": {"id": DAN, "username": "dan", "name": "dan", "team_id": "T0ACMEGTM"},
        "api_app_id": "A0CANARY",
        "team": {"id": "T0ACMEGTM", "domain": "acme-gtm"},
        "container": {"type": "view", "view_id": alices["id"]},
        "view": alices,
        "trigger_id": "1.T0ACMEGTM.forged",
        "actions": [
            {
                "action_id": "canary:retry",
                "block_id": "canary_actions:0",
                "type": "button",
                "value": workflow_id,
                "action_ts": "1700000000.000001",
            }
        ],
    }
    body = ("payload=" + quote(json.dumps(payload))).encode()
    before = await publishes(stack, DAN)
    response = await stack.http.post(
        f"{stack.gateway_url}/slack/actions",
        content=body,
        headers=slack_headers(body, SIGNING_SECRET),
    )
    assert response.status_code == 200
    # The gateway answers a Home click by publishing the clicker's Home again: once it has,
    # the click was handled, and it never reached the remediation (Dan, in RevOps, may
    # press Retry on his own Home, so the workflow alone would have let it through).
    await home_after(stack, DAN, before)
    status = await get_status(stack.client, workflow_id)
    assert status is not None and status.state == "awaiting_human"
    assert not [e for e in status.timeline if e.actor == DAN]
