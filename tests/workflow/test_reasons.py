"""Reasons and notes on the time-skipping server: a dismissal without a reason is refused
before anything is recorded; one with a reason closes with it (timeline, thread, record, the
alert's outcome); a note goes on the timeline and in the thread; a snooze takes a length the
SOP offers or a date, and nothing else; the report groups dismissals by reason."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolutionRecord,
)
from tests.fakes import FakeServices
from workflows import RemediationWorkflow


def payment() -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:8]}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={"name": "Hooli", "stripe_customer_id": "cus_HOOLI0001"},
        message="Your card was declined.",
        facts={"decline_code": "insufficient_funds", "amount_due": 480_000},
    )


@pytest.mark.asyncio
async def test_a_dismissal_says_why_and_a_note_and_a_snooze_are_kept(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices()
    queue = f"reasons-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        detection = payment()
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection,
                config=RemediationConfig(search_attributes=False),
                signed_by_stripe=True,
            ),
            id=f"payment_failed:invoice:{detection.subject.id}",
            task_queue=queue,
            result_type=ResolutionRecord,
        )
        await skip_env.sleep(timedelta(minutes=1))
        alice = "U0ALICE"

        with pytest.raises(WorkflowUpdateFailedError) as no_reason:
            await handle.execute_update(
                RemediationWorkflow.act, ActionRequest(action="dismiss", user=alice)
            )
        assert "Dismiss needs a reason" in str(no_reason.value.cause)
        with pytest.raises(WorkflowUpdateFailedError) as odd_length:
            await handle.execute_update(
                RemediationWorkflow.act,
                ActionRequest(action="snooze", user=alice, snooze_for=timedelta(minutes=1)),
            )
        assert "offers these lengths" in str(odd_length.value.cause)

        noted = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="note", user=alice, note="Called their AP team"),
        )
        assert noted.accepted
        snoozed = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="snooze", user=alice, snooze_for=timedelta(days=3)),
        )
        assert snoozed.accepted and snoozed.message == "Snoozed for 3 days."
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert status.snoozed_until is not None

        done = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user=alice, reason="Written off"),
        )
        assert done.accepted and done.outcome == "dismissed"
        record = await handle.result()
        status = await handle.query(RemediationWorkflow.status)
    assert record.close_reason == "Written off"
    texts = [e.text for e in record.timeline]
    assert f"{alice} added a note: Called their AP team" in texts
    assert f"{alice} pressed Dismiss — Written off" in texts
    threaded = " ".join(p.thread_text or p.text for p in fake.posts if p.thread_ts or p.thread_text)
    assert "Called their AP team" in threaded and "Written off" in threaded
    final = [p for p in fake.posts if p.ts][-1]
    assert "Written off" in str(final.blocks) and "*Outcome*" in str(final.blocks)
