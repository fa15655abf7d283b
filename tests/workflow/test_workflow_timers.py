"""RemediationWorkflow logic over hours and days of timers, on the time-skipping server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    ExternalEvent,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolutionRecord,
)
from tests.fakes import FakeServices
from workflows import RemediationWorkflow

pytestmark = pytest.mark.asyncio


def payment_detection(decline: str = "insufficient_funds") -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={
            "name": "Globex",
            "stripe_customer_id": "cus_1",
            "owner_email": "alice@acme-gtm.example",
        },
        message="Your card has insufficient funds.",
        facts={"event_type": "invoice.payment_failed", "decline_code": decline},
    )


async def start(env: WorkflowEnvironment, detection: Detection, queue: str) -> WorkflowHandle:
    return await env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(
            detection=detection,
            config=RemediationConfig(search_attributes=False),
            signed_by_stripe=True,  # as the gateway starts it for Stripe's signed webhook
        ),
        id=f"test:{detection.subject.id}",
        task_queue=queue,
        result_type=ResolutionRecord,
    )


async def status(handle: WorkflowHandle) -> RemediationStatus:
    return await handle.query(RemediationWorkflow.status)


async def timezone_at_2am(env: WorkflowEnvironment) -> str:
    """An ``Etc/GMT…`` zone where it is between 02:00 and 03:00 on the test server's clock
    (``Etc/GMT-3`` is three hours ahead of UTC)."""
    ahead = (2 - (await env.get_current_time()).hour) % 24
    ahead = ahead - 24 if ahead > 14 else ahead
    return "Etc/GMT" if ahead == 0 else f"Etc/GMT{-ahead:+d}"


async def test_ladder_then_human_retry(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices(pay_results=[False, True])
    # The plan retries at 09:00 in the payer's timezone: one where it is about 02:00 now, so
    # that the first retry is some 30 hours ahead whatever the time of day the test runs.
    fake.lookups["stripe.invoice"] = {"customer_timezone": await timezone_at_2am(skip_env)}
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, payment_detection(), queue)
        # 25 hours: the owner is nudged (4 h after the alert) and the escalation channel hears
        # of it (20 h after that); the recovery plan's first retry (the payer's next day, at
        # 09:00) is still ahead, and the alert says when.
        await skip_env.sleep(timedelta(hours=25))
        current = await status(handle)
        assert current.state == "escalated"
        assert current.escalation_level == 2
        kinds = [e.kind for e in current.timeline]
        assert kinds.count("escalated") == 2
        channels = [p.channel for p in fake.posts if not p.ts and not p.thread_ts]
        assert channels == ["#gtm-alerts", "#gtm-escalations"]
        threads = [p for p in fake.posts if p.thread_ts]
        nudge = [p for p in threads if "Still unpaid after 4 hours" in p.text]
        assert nudge and "<@U0ALICE>" in nudge[0].text
        # The nudge rides with the alert's update: one activity for the escalation's thread
        # and the alert, not one after the other.
        assert any(p.ts and nudge[0].text == p.thread_text for p in fake.posts)
        assert current.next_retry and "attempt 1 of" in current.next_retry
        assert current.next_retry in str([p.blocks for p in fake.posts])
        # A day later the plan's first retry has run and declined.
        await skip_env.sleep(timedelta(hours=24))
        threads = [p for p in fake.posts if p.thread_ts]
        # What Canary did after the alert is threaded under it (the planned retry); the
        # links the alert shows are not repeated there.
        assert any("Stripe declined the retry" in p.text for p in threads)
        assert not any("Get the hosted invoice page" in p.text for p in threads)
        alert = next(p for p in fake.posts if p.channel == "#gtm-alerts" and not p.thread_ts)
        assert "Links for the customer" in str(alert.blocks)
        retries = [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
        assert [s.step.id for s in retries] == ["planned-retry"]

        result = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="retry", user="U0ALICE"),
        )
        assert result.accepted and result.outcome == "resolved_by_human"
        record = await handle.result()
    assert record.outcome == "resolved_by_human"
    assert record.resolved_by == "U0ALICE"
    assert record.attempts == 2
    assert record.highest_escalation_level >= 2
    assert record.time_to_resolution >= timedelta(hours=25)
    assert record.time_to_first_notification is not None
    # Every retry used its own, stable idempotency key.
    keys = [s.attempt_key for s in fake.steps if s.step.action == "stripe.retry_payment"]
    assert len(set(keys)) == 2 and all(k.startswith(handle.id) for k in keys)
    # The final message has no buttons any more and says who resolved it.
    final = [p for p in fake.posts if p.ts][-1]
    assert not any(b["type"] == "actions" for b in final.blocks)
    assert any("pressed Retry payment" in p.text for p in fake.posts if p.thread_ts)


async def test_expires_when_nobody_acts(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, payment_detection("expired_card"), queue)
        record = await handle.result()
    assert record.outcome == "expired"
    assert record.state == "failed"
    assert record.time_to_resolution == timedelta(days=7) or record.time_to_resolution > timedelta(
        days=6
    )
    # Expired card: no automatic retry at all, a card-update link instead.
    actions = [s.step.action for s in fake.steps]
    assert "stripe.retry_payment" not in actions
    assert "stripe.billing_portal_link" in actions


async def test_external_payment_resolves_with_evidence(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, payment_detection(), queue)
        await skip_env.sleep(timedelta(minutes=5))
        await handle.signal(
            RemediationWorkflow.external_event,
            ExternalEvent(
                kind="invoice.paid",
                source="stripe",
                event_id="evt_paid",
                evidence={"amount_paid": 480000},
            ),
        )
        record = await handle.result()
    assert record.outcome == "resolved_externally"
    closed = [e for e in record.timeline if e.kind == "closed"][0]
    assert closed.data["evidence"] == {"amount_paid": 480000}


async def test_webhook_racing_a_clicked_retry_credits_the_person(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices(pay_results=[True])
    queue = f"q-{uuid.uuid4().hex[:6]}"
    handles: list[WorkflowHandle] = []

    async def paid_webhook_arrives_first(request: object) -> None:
        await handles[0].signal(
            RemediationWorkflow.external_event,
            ExternalEvent(kind="invoice.paid", source="stripe", event_id="evt_race"),
        )
        await asyncio.sleep(0.5)  # the signal is processed while the step is still running

    fake.on_charge = paid_webhook_arrives_first
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handles.append(await start(skip_env, payment_detection(), queue))
        await skip_env.sleep(timedelta(minutes=5))
        result = await handles[0].execute_update(
            RemediationWorkflow.act, ActionRequest(action="retry", user="U0ALICE")
        )
        record = await handles[0].result()
    assert result.accepted
    assert record.outcome == "resolved_by_human" and record.resolved_by == "U0ALICE"
    assert len(fake.charges) == 1


async def test_refusals_and_double_click(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices(pay_results=[True])
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, payment_detection("fraudulent"), queue)
        await skip_env.sleep(timedelta(seconds=5))
        # Fraud: no retry button is offered, so a retry is refused before it reaches history.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                RemediationWorkflow.act, ActionRequest(action="retry", user="U0BOB")
            )
        assert "Unknown action 'retry'" in str(refused.value.cause)
        first, second = await asyncio.gather(
            handle.execute_update(
                RemediationWorkflow.act, ActionRequest(action="resolve", user="U0ALICE")
            ),
            handle.execute_update(
                RemediationWorkflow.act,
                ActionRequest(action="resolve", user="U0DAN", member_of=["revops"]),
            ),
            return_exceptions=True,
        )
        results = [r for r in (first, second) if not isinstance(r, BaseException)]
        assert sum(1 for r in results if r.accepted) == 1
        record = await handle.result()
        # Once closed, the workflow is gone for updates; the gateway answers from its status.
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await handle.execute_update(
                RemediationWorkflow.act, ActionRequest(action="resolve", user="U0BOB")
            )
    assert record.outcome == "resolved_by_human"
    assert [e.kind for e in record.timeline].count("human_action") == 1
    assert any(s.step.action == "slack.notify_finance" for s in fake.steps)


async def test_only_allowed_people_may_retry(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices(pay_results=[False, True])
    queue = f"q-{uuid.uuid4().hex[:6]}"
    config = RemediationConfig(search_attributes=False, admins=["U0ADMIN"])
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = payment_detection("expired_card")
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(detection=detection, config=config),
            id=f"test:{detection.subject.id}",
            task_queue=queue,
        )
        await skip_env.sleep(timedelta(seconds=5))
        # Erin is neither the owner nor in @revops: refused, recorded, never executed.
        refused = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="retry", user="U0ERIN")
        )
        assert not refused.accepted
        assert "the owner, members of @revops or Canary admins" in refused.message
        current = await status(handle)
        assert [e.kind for e in current.timeline].count("action_refused") == 1
        assert not [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
        # A member of @revops may; the decline is reported back and the case stays open.
        declined = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="retry", user="U0DAN", member_of=["revops"]),
        )
        assert declined.accepted and "declined" in declined.message and declined.outcome is None
        # The break-glass admin may too; this time the payment goes through.
        done = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="retry", user="U0ADMIN", admin=True)
        )
        assert done.accepted and done.outcome == "resolved_by_human"
        # Anyone may mark resolved, but it is closed now, so nothing more happens.
        record = await handle.result()
    assert record.resolved_by == "U0ADMIN"
    assert record.attempts == 2


async def test_an_occurrence_during_a_slack_post_reaches_the_alert(
    skip_env: WorkflowEnvironment,
) -> None:
    """A report that arrives while the alert is being updated is shown at once, not when the
    next deadline (here the owner's nudge, hours away) wakes the workflow."""
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    handles: list[WorkflowHandle] = []
    detection = payment_detection("expired_card")

    async def third_report_mid_update(request: object) -> None:
        if getattr(request, "ts", None) and "seen 2 times" in str(getattr(request, "blocks", "")):
            await handles[0].signal(
                RemediationWorkflow.occurrence, detection.model_copy(update={"id": "evt_third"})
            )
            await asyncio.sleep(0.5)  # the signal lands while this post is still running

    fake.on_post = third_report_mid_update
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handles.append(await start(skip_env, detection, queue))
        await skip_env.sleep(timedelta(seconds=5))
        await handles[0].signal(
            RemediationWorkflow.occurrence, detection.model_copy(update={"id": "evt_second"})
        )
        for _ in range(100):
            if any("seen 3 times" in str(p.blocks) for p in fake.posts if p.ts):
                break
            await asyncio.sleep(0.1)
        current = await status(handles[0])
        await handles[0].terminate("test over")
    assert current.occurrences == 3
    assert any("seen 3 times" in str(p.blocks) for p in fake.posts if p.ts)
    assert "escalated" not in [e.kind for e in current.timeline]
