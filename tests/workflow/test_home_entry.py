"""A remediation's Home entry on the time-skipping server: kept in its memo, without the
timeline or the pinned SOP; the worker is told whose Homes to publish when what a Home shows
changes (the alert, a snooze, a dismissal, an escalation), and not when nothing a Home shows
did (a note)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolutionRecord,
)
from canary.models.home import HOME_MEMO, entry_of, shown
from tests.fakes import FakeServices
from tests.helpers import eventually, until
from tests.workflow.test_quick_start import _local_activity
from tests.workflow.test_reasons import payment
from workflows import RemediationWorkflow

pytestmark = pytest.mark.asyncio


async def start_payment_failed(
    env: WorkflowEnvironment, queue: str
) -> WorkflowHandle[Any, ResolutionRecord]:
    """A failed payment's remediation, Alice's account, signed by Stripe."""
    detection = payment()
    return await env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(
            detection=detection,
            config=RemediationConfig(search_attributes=False),
            signed_by_stripe=True,
            owner_email="alice@acme-gtm.example",
        ),
        id=f"payment_failed:invoice:{detection.subject.id}",
        task_queue=queue,
        result_type=ResolutionRecord,
    )


async def test_the_entry_follows_what_a_home_shows(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices()
    queue = f"home-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start_payment_failed(skip_env, queue)

        def told() -> int:
            # Distinct changes of what a Home shows: a workflow task tried again (a busy
            # machine) runs its local activities again, and the worker is told the same
            # change twice, stamped with the retried task's time.
            return len({(c.workflow_id, shown(c.read())) for c in fake.home_changes})

        async def memo() -> RemediationStatus | None:
            return entry_of(await (await handle.describe()).memo_value(HOME_MEMO, None))

        # Waits poll in real time: the virtual clock stays locked, as nothing here waits on a
        # timer. Unlocking it (a skipped second at a time) let the test server run on to the
        # escalation four hours on when the machine was busy.
        async def settled(changes: int) -> RemediationStatus:
            await until(lambda: told() >= changes)
            # The worker is told from the task's local activity; the memo is kept when the
            # task completes, a moment later.
            latest = shown(fake.home_changes[-1].read())
            entry = await eventually(memo, lambda m: shown(m) == latest, timeout=60)
            assert entry is not None
            return entry

        # The alert: the owner and the groups its buttons name are told, the memo holds it.
        alerted = await settled(1)
        assert alerted.state == "awaiting_human" and alerted.slack is not None
        assert alerted.timeline == [] and alerted.diagnosis is not None
        assert alerted.diagnosis.steps == [] and alerted.diagnosis.escalation == []
        assert [a.id for a in alerted.diagnosis.actions] == (
            await handle.query(RemediationWorkflow.status)
        ).actions
        told_of = fake.home_changes[-1]
        # On a busy machine the worker can be told of the alert twice (seen in a parallel run
        # of the suite): what follows counts from here.
        alerted_changes = told()
        # Told by the alert's post, with the entry the memo keeps once the alert is out; the
        # change is stamped before the post, the memo when the post's answer came.
        assert told_of.workflow_id == handle.id and told_of.updated_at <= alerted.updated_at
        assert "U0ALICE" in told_of.people.user_ids and "revops" in told_of.people.groups

        # A note is on the timeline and in the thread, not on anyone's Home.
        noted = await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="note", user="U0ALICE", source="slack", note="Called them"),
        )
        assert noted.accepted
        # The thread's reply (posted before or after the update's answer): the note is done.
        await until(lambda: any(p.thread_ts and "Called them" in p.text for p in fake.posts))
        assert told() == alerted_changes

        # A snooze shows: told again, with the time it wakes.
        await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="snooze", user="U0ALICE", source="slack"),
        )
        snoozed = await settled(alerted_changes + 1)
        assert snoozed.snoozed_until is not None

        # A dismissal shows with its reason, and the record closes.
        await handle.execute_update(
            RemediationWorkflow.act,
            ActionRequest(action="dismiss", user="U0ALICE", source="slack", reason="Duplicate"),
        )
        closed = await settled(alerted_changes + 2)
        assert closed.outcome == "dismissed" and closed.close_reason == "Duplicate"
        assert fake.home_changes[-1].updated_at == closed.updated_at


async def test_an_escalation_tells_the_homes_from_its_slack_activity(
    skip_env: WorkflowEnvironment,
) -> None:
    """The escalation's change reaches the worker with its Slack messages: one local activity
    in the escalation's workflow task, not one for Slack and one for the Homes."""
    fake = FakeServices()
    queue = f"home-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start_payment_failed(skip_env, queue)

        def escalated() -> list[RemediationStatus]:
            entries = [c.read() for c in fake.home_changes]
            return [e for e in entries if e is not None and e.state == "escalated"]

        while not escalated():
            await skip_env.sleep(timedelta(hours=1))
        [entry] = {e.updated_at: e for e in escalated()}.values()
        assert entry.escalation_level == 1 and entry.timeline == []
        told = {c.updated_at: c for c in fake.home_changes if c.updated_at == entry.updated_at}
        [change] = told.values()
        assert "U0ALICE" in change.people.user_ids and "revops" in change.people.groups
        memo = entry_of(await (await handle.describe()).memo_value(HOME_MEMO))
        assert memo is not None and memo.state == "escalated"

        # In the escalation's workflow task, one local activity: Slack's, the change with it.
        events = [e async for e in handle.fetch_history_events()]
        done = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        posted = next(
            i for i, e in enumerate(events) if _local_activity(e) == "canary.post_escalation"
        )
        task = max(i for i in range(posted) if events[i].event_type == done)
        after = (i for i in range(posted, len(events)) if events[i].event_type == done)
        in_task = [_local_activity(e) for e in events[task : next(after, len(events))]]
        assert [a for a in in_task if a] == ["canary.post_escalation"]
