"""Issue 14, finding 4: the owner comes from the system of record, never from a report.

The owner of a remediation may approve its fixes and receives its urgent e-mail, so an
attacker with an intake token names himself (``owner_email``, on the account or in the facts,
alone or with a comma adding a second recipient) on a payment whose Stripe customer's owner is
Alice, and on a deal whose Salesforce owner is Alice.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    EnrichInput,
    EnrichOutput,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolveOwnerInput,
    ResolveOwnerOutput,
)
from canary.models.detection import AccountRef
from canary.models.remediation import one_address
from canary.models.state import RemediationState
from tests.fakes import FakeServices
from tests.workflow.test_alerting_timers import alerting
from workflows import RemediationWorkflow

ALICE = "alice@acme-gtm.example"  # the Stripe customer's and the opportunity's owner
ATTACKER = "attacker@evil.example"
MALLORY = "U0MALLORY"  # the attacker's Slack user
TWO = "a@x.example,b@evil.example"


class Directory(FakeServices):
    """Slack as it is: each e-mail is its own person (the plain fake makes everyone Alice)."""

    people = {ALICE: "U0ALICE", ATTACKER: MALLORY, "a@x.example": "U0AX"}

    @activity.defn(name="canary.resolve_owner")
    async def resolve_owner(self, request: ResolveOwnerInput) -> ResolveOwnerOutput:
        for email in request.emails:
            if email in self.people:
                return ResolveOwnerOutput(slack_user=self.people[email], email=email)
        return ResolveOwnerOutput(email=request.emails[0])


def fraud_report(**reported: str) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="zapier",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={"name": "Globex", "stripe_customer_id": "cus_1", **reported},
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": "fraudulent", **reported},
    )


def test_a_reported_owner_is_kept_as_reported_and_trusted_for_nothing() -> None:
    state = RemediationState.begin(fraud_report(owner_email=ATTACKER), datetime.now(UTC))
    assert state.account.owner_email is None and "owner_email" not in state.facts
    assert state.reported_owner == ATTACKER
    entry = next(e for e in state.timeline if e.kind == "owner_reported")
    assert "reported by zapier, not trusted" in entry.text and entry.actor == "zapier"
    # Canary's own detector's lookup is the trusted path.
    trusted = RemediationState.begin(fraud_report(), datetime.now(UTC), owner_email=ALICE)
    assert trusted.account.owner_email == ALICE
    assert not [e for e in trusted.timeline if e.kind == "owner_reported"]


@pytest.mark.parametrize(
    "value",
    [
        TWO,
        "a@x.example, b@evil.example",
        "Bob <a@x.example>",
        "a@x.example;b@evil.example",
        "not an address",
        "",
    ],
)
def test_an_email_recipient_is_one_plain_address(value: str) -> None:
    assert one_address(value) is None
    assert one_address(ATTACKER) == ATTACKER


@pytest.mark.asyncio
@pytest.mark.parametrize("named", [ATTACKER, TWO])
async def test_a_reported_owner_cannot_approve_and_the_status_shows_the_looked_up_one(
    skip_env: WorkflowEnvironment, named: str
) -> None:
    fake = Directory()
    queue = f"owner-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = fraud_report(owner_email=named)
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=f"test:{detection.subject.id}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(seconds=5))
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert status.owner == ALICE
        assert status.account.owner_email == ALICE
        reported = [e for e in status.timeline if e.kind == "owner_reported"]
        assert len(reported) == 1 and named in reported[0].text
        # The attacker's own Slack user (or the second address's) is refused.
        for user in (MALLORY, "U0AX"):
            refused = await handle.execute_update(
                RemediationWorkflow.act,
                ActionRequest(action="dismiss", user=user, reason="Not a real problem"),
            )
            assert not refused.accepted
        # A second report naming him changes nothing either.
        await skip_env.client.get_workflow_handle(handle.id).signal(
            RemediationWorkflow.occurrence,
            detection.model_copy(update={"id": f"evt_{uuid.uuid4().hex[:10]}"}),
        )
        refused = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user=MALLORY, reason="Not a real problem"),
        )
        assert not refused.accepted
        owned = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
        )
        assert owned.accepted and owned.outcome == "dismissed"


@pytest.mark.asyncio
@pytest.mark.parametrize("named", [ATTACKER, TWO])
async def test_a_reported_owner_receives_no_email(
    skip_env: WorkflowEnvironment, named: str
) -> None:
    """A deal a month past its close date e-mails its owner (high severity): the owner
    Salesforce names, whoever the report says."""

    class SalesforceOwner(Directory):
        @activity.defn(name="canary.enrich")
        async def enrich(self, request: EnrichInput) -> EnrichOutput:
            found = await super().enrich(request)
            if request.enricher == "salesforce.opportunity":
                found.account = AccountRef(owner_email=ALICE)
            return found

    async with alerting(skip_env, SalesforceOwner()) as t:
        detection = Detection(
            id=f"report-{uuid.uuid4().hex[:8]}",
            type="close_date_passed",
            source="zapier",
            subject={"kind": "opportunity", "id": "006000000000001AAA"},
            account={"name": "Initech", "owner_email": named},
            message="Deal past its close date",
            facts={"days_past_close": 45, "owner_email": named},
        )
        handle = await t.env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(detection=detection, config=t.config),
            id=f"test:{detection.subject.id}:{uuid.uuid4().hex[:6]}",
            task_queue=t.queue,
        )
        t.started.append(handle.id)
        await skip_env.sleep(timedelta(minutes=5))
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert status.owner == ALICE
        assert "emailed" in [e.kind for e in status.timeline]
        recipients = [r for m in t.sink.messages for r in m.rcpt_tos]
        assert recipients == [ALICE]
        assert not [e for e in t.fake.emails if ATTACKER in e.to or TWO in e.to]


def test_a_reported_manager_is_dropped_and_a_detectors_lookup_kept() -> None:
    """The escalation ladder pings the owner's manager: a report cannot name one."""
    state = RemediationState.begin(fraud_report(manager_email=ATTACKER), datetime.now(UTC))
    assert "manager_email" not in state.facts
    trusted = RemediationState.begin(
        fraud_report(manager_email=ATTACKER), datetime.now(UTC), manager_email=ALICE
    )
    assert trusted.facts["manager_email"] == ALICE


@pytest.mark.asyncio
async def test_a_reported_manager_is_never_paged(skip_env: WorkflowEnvironment) -> None:
    """A suspected-fraud payment nobody answers climbs the ladder (owner, then manager, then
    the channel): the attacker who named himself the manager is never mentioned."""
    fake = Directory()
    queue = f"manager-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = fraud_report(manager_email=ATTACKER)
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection, config=RemediationConfig(search_attributes=False)
            ),
            id=f"test:{detection.subject.id}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(days=3))
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        await handle.terminate("test over")
    assert status.escalation_level >= 2, "the ladder went past the owner"
    texts = [p.text for p in fake.posts] + [e.text for e in status.timeline]
    assert not [t for t in texts if MALLORY in t or ATTACKER in t]
