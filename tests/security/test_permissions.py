"""Issue 14, finding 4: who may press a button fails closed.

Each test clicks the way an outsider would try it: a stranger in the channel presses Dismiss on
a suspected-fraud payment, an SOP author forgets ``allowed``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import yaml
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.blocks.forms import FORM_CALLBACK, FormContext
from canary.catalog import load_catalog
from canary.models import (
    ActionRequest,
    ActionResult,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    SlackRef,
)
from canary.models.remediation import carries_buttons
from canary.models.sop import HumanAction
from canary.settings import Settings
from sandbox import SandboxConfig, SandboxServer
from starter.gateway.app import create_app
from starter.intake import get_status, submit_detection, take_action
from tests.fakes import FakeServices
from tests.helpers import eventually, slack_headers
from workflows import RemediationWorkflow

STRANGER = "U0MALLORY"
#: Buttons that change a record, move money or close a remediation: never open to anyone.
NEVER_OPEN = {"dismiss", "approve", "retry", "link", "create_account", "resolve", "schedule"}


def fraud_detection() -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={"name": "Globex", "stripe_customer_id": "cus_1"},
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": "fraudulent"},
    )


# -- the catalog fails closed ---------------------------------------------------------------


def every_action() -> list[tuple[str, HumanAction]]:
    return [(sop.type, a) for sop in load_catalog().sops for a in sop.every_action()]


def test_no_default_button_that_changes_something_is_open_to_anyone() -> None:
    open_to_anyone = [(t, a.id) for t, a in every_action() if a.allowed.anyone]
    assert not [(t, i) for t, i in open_to_anyone if i in NEVER_OPEN]
    # The one open button only brings the escalation team in (its YAML comment says why).
    assert open_to_anyone == [("irate_customer", "escalate")]


def test_a_fraud_suspected_payments_dismiss_is_for_the_owner_and_the_sops_groups() -> None:
    sop = load_catalog().get("payment_failed")
    assert sop is not None
    fraud = next(b for b in sop.branches if b.id == "fraud_suspected")
    dismiss = next(a for a in fraud.actions or [] if a.id == "dismiss")
    assert not dismiss.allowed.anyone
    assert dismiss.allowed.owner and dismiss.allowed.groups == sop.groups == ["revops", "finance"]


def test_a_catalog_action_without_allowed_is_not_open_to_anyone(tmp_path: Path) -> None:
    """An SOP author leaves 'allowed' out: the button is for the owner and the SOP's groups,
    resolved when the catalog loads, so the pinned diagnosis carries it."""
    catalog = yaml.safe_load(Path(load_catalog.__globals__["DEFAULT_CATALOG"]).read_text())
    sop = {
        "type": "forgot_permissions",
        "title": "An SOP whose author forgot who may press",
        "groups": ["finance"],
        "message": {"headline": "h", "what_happened": "w", "what_to_do": "d"},
        "branches": [{"id": "b", "title": "b", "actions": [{"id": "approve", "label": "Approve"}]}],
        "actions": [{"id": "dismiss", "label": "Dismiss", "closes_as": "dismissed"}],
    }
    catalog["sops"].append(sop)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog))
    loaded = load_catalog(path).get("forgot_permissions")
    assert loaded is not None
    for action in loaded.every_action():
        assert not action.allowed.anyone
        assert action.allowed.owner and action.allowed.groups == ["finance"]
        assert action.allowed.describe() == "the owner, members of @finance or Canary admins"
    # A lone action (no SOP around it) is for the owner and admins.
    lone = HumanAction(id="dismiss", label="Dismiss")
    assert not lone.allowed.anyone and lone.allowed.owner and lone.allowed.groups == []


# -- a stranger's click ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_strangers_dismiss_on_a_fraud_suspected_payment_is_refused(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = fraud_detection()
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=f"test:{detection.subject.id}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(seconds=5))
        refused = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user=STRANGER, reason="Not a real problem"),
        )
        assert not refused.accepted and refused.outcome is None
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert not status.outcome and status.state != "dismissed"
        refusal = [e for e in status.timeline if e.kind == "action_refused"]
        assert len(refusal) == 1 and refusal[0].actor == STRANGER
        assert "the owner, members of @finance, members of @revops" not in refused.message
        assert "the owner" in refused.message and "@finance" in refused.message
        # The owner Stripe names may.
        owned = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
        )
        assert owned.accepted and owned.outcome == "dismissed"


@pytest.mark.asyncio
async def test_the_remediation_checks_where_a_click_came_from_and_what_it_asks_first(
    skip_env: WorkflowEnvironment,
) -> None:
    """The update's validator, as the gateway's first try meets it: a click replayed onto a
    message the remediation did not post is refused; a button whose action asks first gets
    its form; a click only a group could allow gets the groups to read. None of them acts or
    leaves a trace, and the answer comes with the refusal (no second look)."""
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = fraud_detection()
        workflow_id = f"test:{detection.subject.id}"
        await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=workflow_id,
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(seconds=5))
        status = await get_status(skip_env.client, workflow_id)
        assert status is not None and status.slack is not None
        alert = status.slack
        owner = {"user": "U0ALICE", "message": alert, "groups_unread": True}

        async def act(who: dict[str, object], **fields: object) -> ActionResult:
            request = ActionRequest.model_validate({"action": "dismiss", **who, **fields})
            return await take_action(skip_env.client, workflow_id, request)

        replayed = await act(
            owner, reason="spam", message=SlackRef(channel=alert.channel, ts="1700000099.1")
        )
        assert not replayed.accepted and "is not one of" in replayed.message
        other_channel = await act(
            owner, reason="spam", message=SlackRef(channel="C0GENERAL", ts=alert.ts)
        )
        assert not other_channel.accepted and "is not one of" in other_channel.message

        asked = await act(owner, pressed=True)
        assert not asked.accepted and asked.form is not None
        assert asked.form.action.id == "dismiss" and asked.form.action.reason_asked != "no"
        assert asked.form.headline == status.headline

        erin = {**owner, "user": "U0ERIN", "reason": "spam"}
        unread = await act(erin)
        assert not unread.accepted and unread.groups_to_read == ["revops", "finance"]
        # The owner may press it whatever their groups: nothing to read.
        owners = await act(owner)
        assert owners.groups_to_read == [] and "needs a reason" in owners.message

        after = await get_status(skip_env.client, workflow_id)
        assert after is not None and after.timeline == status.timeline
        done = await act(erin, groups_unread=False, member_of=["finance"])
        assert done.accepted and done.outcome == "dismissed"


# -- clicks from elsewhere --------------------------------------------------------------------

SIGNING_SECRET = "permissions-signing-secret"
TEAM, APP = "T0CANARY", "A0CANARY"


@dataclass
class ClickTarget:
    http: httpx.AsyncClient
    slack: SandboxServer
    client: Client
    workflow_id: str
    alert: SlackRef


@asynccontextmanager
async def gateway_with(
    env: WorkflowEnvironment, admins_then: list[str], admins_now: list[str]
) -> AsyncIterator[ClickTarget]:
    """The gateway (SLACK_TEAM_ID / SLACK_APP_ID set) on a real dev server, the sandbox as
    Slack, and one suspected-fraud payment awaiting a person: started while ``admins_then``
    were CANARY_ADMINS, clicked on after the gateway restarted with ``admins_now``."""
    queue = f"perm-{uuid.uuid4().hex[:8]}"
    slack = SandboxServer(SandboxConfig()).start()
    then = Settings(
        task_queue=queue,
        slack_signing_secret=SIGNING_SECRET,
        slack_bot_token="xoxb-permissions",
        slack_api_url=f"{slack.url}/api/",
        slack_team_id=TEAM,
        slack_app_id=APP,
        api_token="permissions-api-token-0123456789abcdef",
        admins=admins_then,
    )
    app = create_app(then.model_copy(update={"admins": admins_now}), temporal=env.client)
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=FakeServices().all(),
    ):
        target = (await submit_detection(env.client, fraud_detection(), then)).workflow_id
        status = await eventually(
            lambda: get_status(env.client, target),
            lambda s: s is not None and s.state == "awaiting_human" and s.slack is not None,
        )
        assert status is not None and status.slack is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield ClickTarget(http, slack, env.client, target, status.slack)
    slack.stop()


@pytest.fixture()
async def click_target(dev_env: WorkflowEnvironment) -> AsyncIterator[ClickTarget]:
    async with gateway_with(dev_env, [], []) as target:
        yield target


async def click(
    t: ClickTarget,
    user: str = "U0ALICE",
    team: str = TEAM,
    app: str = APP,
    channel: str | None = None,
    ts: str | None = None,
    action: str = "dismiss",
) -> str:
    """A signed block_actions payload as Slack sends it; the ephemeral answer's text."""
    channel, ts = channel or t.alert.channel, ts or t.alert.ts
    answers = t.slack.sandbox.slack
    respond_to = answers.register_response_url(channel, ts, user)
    before = len(answers.ephemeral)
    payload = {
        "type": "block_actions",
        "user": {"id": user, "name": user.lower(), "team_id": team},
        "api_app_id": app,
        "team": {"id": team, "domain": "acme"},
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "channel": {"id": channel, "name": "gtm-alerts"},
        "message": {"ts": ts, "type": "message", "text": "alert"},
        "response_url": respond_to,
        "actions": [
            {
                "action_id": f"canary:{action}",
                "block_id": "actions",
                "type": "button",
                "value": t.workflow_id,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = f"payload={quote(json.dumps(payload))}".encode()
    response = await t.http.post(
        "/slack/actions", content=body, headers=slack_headers(body, SIGNING_SECRET)
    )
    assert response.status_code == 200
    await eventually(lambda: asyncio.sleep(0, len(answers.ephemeral)), lambda n: n > before)
    return str(answers.ephemeral[-1].get("text"))


async def submit(
    t: ClickTarget,
    user: str = "U0ALICE",
    action: str = "dismiss",
    reason: str = "Not a real problem",
    team: str = TEAM,
    app: str = APP,
) -> str:
    """A signed view_submission of the action's form (Dismiss asks why) as Slack sends it:
    the refusal shown in the form, or the ephemeral answer's text."""
    answers = t.slack.sandbox.slack
    before = len(answers.ephemeral)
    context = FormContext(t.workflow_id, action, t.alert.channel, t.alert.ts)
    payload = {
        "type": "view_submission",
        "user": {"id": user, "name": user.lower(), "team_id": team},
        "api_app_id": app,
        "team": {"id": team, "domain": "acme"},
        "view": {
            "id": f"V{uuid.uuid4().hex[:10].upper()}",
            "hash": f"{time.time():.6f}.x",
            "type": "modal",
            "callback_id": f"{FORM_CALLBACK}{action}",
            "private_metadata": context.dumps(),
            "blocks": [{"type": "input", "block_id": "reason_text", "element": {}}],
            "state": {
                "values": {"reason_text": {"value": {"type": "plain_text_input", "value": reason}}}
            },
        },
    }
    body = f"payload={quote(json.dumps(payload))}".encode()
    response = await t.http.post(
        "/slack/actions", content=body, headers=slack_headers(body, SIGNING_SECRET)
    )
    assert response.status_code == 200
    if response.content:
        answer = response.json()
        assert answer["response_action"] == "errors"
        return ":no_entry_sign: " + " ".join(answer["errors"].values())
    await eventually(lambda: asyncio.sleep(0, len(answers.ephemeral)), lambda n: n > before)
    return str(answers.ephemeral[-1].get("text"))


async def pressed(t: ClickTarget) -> list[str]:
    status = await get_status(t.client, t.workflow_id)
    assert status is not None
    return [e.kind for e in status.timeline if e.kind in {"human_action", "action_refused"}]


@pytest.mark.asyncio
async def test_clicks_from_another_team_app_or_message_are_refused(
    click_target: ClickTarget, caplog: pytest.LogCaptureFixture
) -> None:
    t = click_target
    caplog.set_level(logging.WARNING, logger="canary.gateway")
    other_team = await click(t, team="T0EVIL")
    assert "Canary refused this click" in other_team and "another Slack workspace" in other_team
    other_app = await click(t, app="A0EVIL")
    assert "Canary refused this click" in other_app and "another Slack app" in other_app
    # The same button's value replayed onto another message (another alert in the channel,
    # a message in another channel): not this remediation's.
    elsewhere = await click(t, ts="1700000099.000001")
    assert "Canary refused this click" in elsewhere and "is not one of" in elsewhere
    other_channel = await click(t, channel="C0GENERAL")
    assert "Canary refused this click" in other_channel
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 4 and all(t.workflow_id in line for line in refused)
    # None of them reached the remediation.
    assert await pressed(t) == []
    # The owner's Dismiss on the alert itself, from Canary's workspace and app, goes through
    # (its form, with the reason it asks for).
    done = await submit(t)
    assert "refused" not in done
    assert await pressed(t) == ["human_action"]


async def test_forms_from_another_team_app_or_message_are_refused(
    click_target: ClickTarget,
) -> None:
    """A form's submission passes the click's checks, and its context (written by Canary,
    handed back by Slack) cannot point the fix at another message or an action not offered."""
    t = click_target
    other_team = await submit(t, team="T0EVIL")
    assert "another Slack workspace" in other_team
    other_app = await submit(t, app="A0EVIL")
    assert "another Slack app" in other_app
    moved = dataclasses.replace(t, alert=SlackRef(channel="C0GENERAL", ts="1700000099.000001"))
    assert "is not one of" in await submit(moved)
    assert "no longer offered" in await submit(t, action="approve")
    assert "may press Dismiss here" in await submit(t, user=STRANGER)
    assert await pressed(t) == ["action_refused"]


def test_a_remediations_buttons_are_on_its_alert_escalations_and_digests_only() -> None:
    status = RemediationStatus.model_validate(
        {
            "workflow_id": "w",
            "error_type": "payment_failed",
            "state": "escalated",
            "subject": {"kind": "invoice", "id": "in_1"},
            "subject_id": "in_1",
            "account": {},
            "started_at": "2026-11-18T08:00:00Z",
            "updated_at": "2026-11-18T08:00:00Z",
            "slack": {"channel": "C0GTMALERTS", "ts": "1.1"},
            "messages": [
                {"channel": "C0GTMESCAL", "ts": "2.2"},
                {"channel": "C0GTMALERTS", "ts": "3.3"},
            ],
        }
    )

    def ours(channel: str | None, ts: str | None) -> bool:
        return carries_buttons(status.slack, status.messages, channel, ts)

    assert ours("C0GTMALERTS", "1.1")
    assert ours("C0GTMESCAL", "2.2")  # the escalation post
    assert ours("C0GTMALERTS", "3.3")  # the owner's digest
    assert not ours("C0GTMESCAL", "1.1")
    assert not ours("C0GTMALERTS", "9.9")
    assert not ours(None, None)


@pytest.mark.asyncio
async def test_an_admin_removed_from_canary_admins_can_no_longer_act(
    dev_env: WorkflowEnvironment,
) -> None:
    """Frank was an admin when the remediation started; CANARY_ADMINS no longer names him."""
    async with gateway_with(dev_env, admins_then=["U0FRANK"], admins_now=["U0ADMIN"]) as t:
        answer = await submit(t, user="U0FRANK")
        assert "may press Dismiss here" in answer
        assert await pressed(t) == ["action_refused"]
    # Still an admin: the click goes through, by the same path.
    async with gateway_with(dev_env, admins_then=[], admins_now=["U0FRANK"]) as t:
        assert "Done" in await submit(t, user="U0FRANK")
        assert await pressed(t) == ["human_action"]


@pytest.mark.asyncio
async def test_a_click_reads_groups_only_when_only_a_group_could_let_the_clicker_press(
    click_target: ClickTarget,
) -> None:
    """The owner's click needs no group: Slack is not asked. Erin's (not the owner, in
    @finance) is decided by her groups, read from Slack as her click arrives."""
    t = click_target
    recorder = t.slack.sandbox.recorder

    def group_reads(since: int) -> list[str]:
        found = recorder.find(service="slack", path_prefix="/api/usergroups.", since_id=since)
        return [str(e["path"]) for e in found]

    mark = max((e["id"] for e in recorder.entries), default=0)
    assert "needs a reason" in await click(t, user="U0ALICE")
    assert group_reads(mark) == []
    mark = max(e["id"] for e in recorder.entries)
    assert "needs a reason" in await click(t, user="U0ERIN")
    assert "/api/usergroups.users.list" in group_reads(mark)
    assert await pressed(t) == []


@pytest.mark.asyncio
async def test_group_membership_is_read_when_the_click_arrives(
    dev_env: WorkflowEnvironment,
) -> None:
    """Erin is in @finance in Slack, one of the fraud SOP's groups; the workflow's fake
    snapshot (a revops list without her) is not what decides."""
    async with gateway_with(dev_env, [], []) as t:
        assert "Done" in await submit(t, user="U0ERIN")
        assert await pressed(t) == ["human_action"]
