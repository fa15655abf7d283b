"""Long-lived remediations continue as new (time-skipping server): the story, the counters,
the ladder's schedule, the Slack message and a person's fix all survive the new run.

The bound is lowered through the workflow input (``continue_as_new_after``) so a few dozen
occurrences are enough to cross it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from typer.testing import CliRunner

from canary.converter import canary_data_converter
from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolutionRecord,
    StepInput,
)
from canary.reports.collect import collect_facts
from canary.reports.models import ReportRequest
from canary.settings import get_settings
from starter.cli import app as cli_app
from starter.listing import list_remediations
from tests.fakes import FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow

pytestmark = pytest.mark.asyncio

LIMIT = 80


def payment(decline: str, subject: str) -> Detection:
    return Detection(
        id=f"evt_{subject}_0",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": subject},
        account={
            "name": "Globex",
            "stripe_customer_id": "cus_1",
            "owner_email": "alice@acme-gtm.example",
        },
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": decline},
    )


def again(first: Detection, n: int) -> Detection:
    return first.model_copy(
        update={"id": f"{first.id[:-2]}_{n}", "message": f"Declined again #{n}"}
    )


async def start(
    env: WorkflowEnvironment, detection: Detection, queue: str, limit: int = LIMIT
) -> WorkflowHandle:
    return await env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(
            detection=detection,
            config=RemediationConfig(search_attributes=False, continue_as_new_after=limit),
            signed_by_stripe=True,  # as the gateway starts it for Stripe's signed webhook
        ),
        id=f"payment_failed:invoice:{detection.subject.id}",
        task_queue=queue,
        result_type=ResolutionRecord,
    )


def the_same_start(seen: datetime, first_seen: datetime) -> bool:
    """Whether two readings of a remediation's start are the first run's one moment.

    The start is ``workflow.now()`` in the first run's first task. On the time-skipping test
    server a replay of that task can read its time some milliseconds from the live run's (it
    happened once in CI: 51 ms, the continued run's state coming from a replayed first run),
    as the story's entry times can (compared without them below); a continued run that took
    its own start instead would be the new run's, later by the whole first run."""
    return abs(seen - first_seen) < timedelta(seconds=1)


async def status(handle: WorkflowHandle) -> RemediationStatus:
    return await handle.query(RemediationWorkflow.status)


async def runs(env: WorkflowEnvironment, handle: WorkflowHandle) -> list[str]:
    """The run ids of the chain, first to latest, read from the continue-as-new events."""
    chain = [handle.first_execution_run_id or handle.result_run_id or ""]
    while True:
        history = await env.client.get_workflow_handle(handle.id, run_id=chain[-1]).fetch_history()
        last = history.events[-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return chain
        chain.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


async def occur(handle: WorkflowHandle, first: Detection, count: int, start_at: int = 1) -> None:
    for n in range(start_at, start_at + count):
        await handle.signal(RemediationWorkflow.occurrence, again(first, n))


async def continued(
    env: WorkflowEnvironment, handle: WorkflowHandle, at_least: int = 2
) -> list[str]:
    return await eventually(lambda: runs(env, handle), lambda chain: len(chain) >= at_least)


def cli_status(address: str, workflow_id: str, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("TEMPORAL_ADDRESS", address)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["status", workflow_id, "--json"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


async def test_many_occurrences_continue_as_new_keeping_the_story(
    skip_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("expired_card", f"in_{uuid.uuid4().hex[:10]}")
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, first, queue)
        before = await eventually(lambda: status(handle), lambda s: s.slack is not None)
        # Redeliveries (same report id) are not occurrences, before or after the new run.
        await handle.signal(RemediationWorkflow.occurrence, first)
        await occur(handle, first, 30)
        chain = await continued(skip_env, handle)
        await handle.signal(RemediationWorkflow.occurrence, again(first, 30))
        await occur(handle, first, 5, start_at=31)
        after = await eventually(lambda: status(handle), lambda s: s.occurrences == 36)

        first_run = await skip_env.client.get_workflow_handle(handle.id, run_id=chain[0]).describe()
        assert first_run.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
        latest = await skip_env.client.get_workflow_handle(handle.id).describe()
        assert latest.run_id == chain[-1] != chain[0]
        assert latest.status == WorkflowExecutionStatus.RUNNING

        # One story: every occurrence once, the detection and diagnosis once, the new run noted.
        kinds = [e.kind for e in after.timeline]
        assert kinds.count("occurrence") == 35
        assert kinds.count("detected") == kinds.count("diagnosed") == 1
        assert kinds.count("continued") == len(chain) - 1

        # The same entries; their times may differ by the moment a replay saw them (an
        # evicted run replays its local activities' results in a later workflow task).
        def story(timeline: list[Any]) -> list[dict[str, Any]]:
            return [entry.model_dump(exclude={"at"}) for entry in timeline]

        assert story(after.timeline[: len(before.timeline)]) == story(before.timeline)
        numbers = [
            e.text.split("#")[1].split(")")[0] for e in after.timeline if e.kind == "occurrence"
        ]
        assert numbers == [str(n) for n in range(2, 37)]
        assert after.workflow_id == handle.id
        second_run = await skip_env.client.get_workflow_handle(
            handle.id, run_id=chain[1]
        ).describe()
        assert the_same_start(after.started_at, before.started_at)
        assert after.started_at < second_run.start_time, "the new run keeps the first one's start"
        assert after.state == "awaiting_human" and after.outcome is None
        assert after.slack == before.slack
        assert after.diagnosis == before.diagnosis
        assert after.diagnosis is not None and after.diagnosis.catalog_version

        # The alert was posted once; the new run keeps updating that message in place.
        assert [p.channel for p in fake.posts if not p.ts and not p.thread_ts] == ["#gtm-alerts"]
        await eventually(
            lambda: asyncio.sleep(0, [p for p in fake.posts if p.ts]),
            lambda updates: "36" in json.dumps(updates[-1].blocks),
        )
        # Thread posts go on numbering where the first run stopped (Slack metadata keys).
        keys = [p.metadata_key for p in fake.posts if p.thread_ts]
        assert len(keys) == len(set(keys))

        # `canary status ID --json` reads the latest run: the whole timeline, the same id.
        address = skip_env.client.service_client.config.target_host
        shown = await asyncio.to_thread(cli_status, address, handle.id, monkeypatch)
        assert shown["workflow_id"] == handle.id
        assert shown["occurrences"] == 36
        assert [e["kind"] for e in shown["timeline"]] == kinds

        result = await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="resolve", user="U0ALICE")
        )
        assert result.accepted and result.outcome == "resolved_by_human"
        record = await handle.result()
    assert record.occurrences == 36
    assert the_same_start(record.started_at, before.started_at)
    assert [e.kind for e in record.timeline].count("occurrence") == 35

    # Every run of the chain replays against the code.
    replayer = Replayer(workflows=[RemediationWorkflow], data_converter=canary_data_converter)
    for run_id in chain:
        history = await skip_env.client.get_workflow_handle(
            handle.id, run_id=run_id
        ).fetch_history()
        await replayer.replay_workflow(history)


async def test_escalation_after_the_new_run_keeps_the_original_schedule(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices()  # the scheduled retry declines
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("insufficient_funds", f"in_{uuid.uuid4().hex[:10]}")
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, first, queue)
        await eventually(lambda: status(handle), lambda s: s.slack is not None)
        # Three hours in: the owner's nudge (4 h after the alert) is an hour away.
        # Occurrences push the history past the bound now.
        await skip_env.sleep(timedelta(hours=3))
        await occur(handle, first, 30)
        chain = await continued(skip_env, handle)
        mid = await status(handle)
        assert mid.escalation_level == 0
        # Past the nudge, and past the escalation channel's turn (20 h after the nudge).
        await skip_env.sleep(timedelta(hours=22))
        current = await eventually(lambda: status(handle), lambda s: s.escalation_level == 2)
    notified = next(e.at for e in current.timeline if e.kind == "notified")
    escalated = [e.at for e in current.timeline if e.kind == "escalated"]
    continued_at = next(e.at for e in current.timeline if e.kind == "continued")
    assert continued_at < notified + timedelta(hours=4)
    # On the original schedule, not counted again from the new run's start.
    assert abs(escalated[0] - (notified + timedelta(hours=4))) < timedelta(seconds=5)
    assert abs(escalated[1] - (escalated[0] + timedelta(hours=20))) < timedelta(seconds=5)
    # The recovery plan's retries (its first is the payer's next day at 09:00, in the first
    # run or the new one) each ran once, under their own key: none again in the new run.
    retries = [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
    assert {s.step.id for s in retries} <= {"planned-retry"} and len(retries) <= 1
    assert len({s.attempt_key for s in retries}) == len(retries) == current.attempts
    assert len(chain) >= 2
    # One post to the escalation channel for level 2, none repeated for level 1.
    tops = [p.channel for p in fake.posts if not p.ts and not p.thread_ts]
    assert tops == ["#gtm-alerts", "#gtm-escalations"]


async def test_snooze_deadline_survives_the_new_run(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("expired_card", f"in_{uuid.uuid4().hex[:10]}")
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, first, queue)
        await eventually(lambda: status(handle), lambda s: s.slack is not None)
        await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="snooze", user="U0ALICE")
        )
        snoozed = await status(handle)
        assert snoozed.snoozed_until is not None
        await occur(handle, first, 30)
        await continued(skip_env, handle)
        assert (await status(handle)).snoozed_until == snoozed.snoozed_until
        # The snooze (1 day) moved the owner's nudge to 4 h after it ends.
        await skip_env.sleep(timedelta(hours=27))
        assert (await status(handle)).escalation_level == 0
        await skip_env.sleep(timedelta(hours=2))
        current = await eventually(lambda: status(handle), lambda s: s.escalation_level == 1)
    escalated = next(e.at for e in current.timeline if e.kind == "escalated")
    assert snoozed.snoozed_until is not None
    assert abs(escalated - (snoozed.snoozed_until + timedelta(hours=4))) < timedelta(seconds=5)


async def test_approval_after_the_new_run_fixes_once(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices(pay_results=[True])
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("expired_card", f"in_{uuid.uuid4().hex[:10]}")
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, first, queue)
        await eventually(lambda: status(handle), lambda s: s.slack is not None)
        await occur(handle, first, 30)
        chain = await continued(skip_env, handle)
        # The handle a gateway holds names no run: the click reaches the latest one.
        clicked = skip_env.client.get_workflow_handle(handle.id)
        first_click, second_click = await asyncio.gather(
            clicked.execute_update(
                RemediationWorkflow.act, ActionRequest(action="retry", user="U0ALICE")
            ),
            clicked.execute_update(
                RemediationWorkflow.act, ActionRequest(action="retry", user="U0ALICE")
            ),
            return_exceptions=True,
        )
        record = await handle.result()
    answers = [r for r in (first_click, second_click) if not isinstance(r, BaseException)]
    assert sum(1 for r in answers if r.accepted) == 1
    assert record.outcome == "resolved_by_human" and record.resolved_by == "U0ALICE"
    assert record.occurrences == 31
    assert len(chain) >= 2
    retries = [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
    assert len(retries) == 1 and len(fake.charges) == 1
    # The idempotency key is the first run's, so a retry in any run never repeats a key.
    assert retries[0].attempt_key == f"{handle.id}/{chain[0][:8]}/manual-retry/1"


async def test_no_new_run_while_a_fix_is_running(skip_env: WorkflowEnvironment) -> None:
    """Occurrences pile up while a person's retry is still at Stripe: the run waits for the
    click to finish (and answer) before it continues; nothing that arrived is lost."""
    fake = FakeServices(pay_results=[False])
    release = asyncio.Event()
    holding = asyncio.Event()

    async def slow_stripe(request: StepInput) -> None:
        if request.step.action == "stripe.retry_payment":
            holding.set()
            await release.wait()

    fake.on_step = slow_stripe
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("expired_card", f"in_{uuid.uuid4().hex[:10]}")
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(skip_env, first, queue)
        await eventually(lambda: status(handle), lambda s: s.slack is not None)
        click = asyncio.create_task(
            handle.execute_update(
                RemediationWorkflow.act, ActionRequest(action="retry", user="U0ALICE")
            )
        )
        await asyncio.wait_for(holding.wait(), 20)
        await occur(handle, first, 30)
        await eventually(lambda: status(handle), lambda s: s.occurrences == 31)
        assert await runs(skip_env, handle) == [handle.first_execution_run_id]
        release.set()
        answer = await asyncio.wait_for(click, 20)
        assert answer.accepted and answer.outcome is None and "declined" in answer.message
        chain = await continued(skip_env, handle)
        await occur(handle, first, 3, start_at=31)
        current = await eventually(lambda: status(handle), lambda s: s.occurrences == 34)
        await handle.terminate("test over")
    kinds = [e.kind for e in current.timeline]
    assert kinds.count("human_action") == 1 and kinds.count("step_failed") == 1
    assert kinds.index("step_failed") < kinds.index("continued")
    assert len(chain) >= 2


async def test_a_long_cooldown_continues_and_still_ends_on_time(
    skip_env: WorkflowEnvironment,
) -> None:
    """Closed by a person, cooling down for 7 days: a storm of repeats moves it to a new run,
    which stays closed, keeps folding repeats in quietly and ends when the cooldown does."""
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    case = f"500{uuid.uuid4().hex[:8]}"
    first = Detection(
        id=f"irate:{case}:0",
        type="irate_customer",
        source="detector:test",
        subject={"kind": "case", "id": case},
        account={"name": "Initech", "crm_id": "001X", "owner_email": "carol@x.example"},
        message="The customer is furious",
        facts={"case_number": "00001234", "score": -0.9},
    )
    async with Worker(
        skip_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=[*fake.all(), *fake.alerting()],
    ):
        handle = await skip_env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=first,
                config=RemediationConfig(search_attributes=False, continue_as_new_after=LIMIT),
                owner_email=first.account.owner_email,  # the detector's trusted lookup
            ),
            id=f"irate_customer:case:{case}",
            task_queue=queue,
            result_type=ResolutionRecord,
        )
        await eventually(lambda: status(handle), lambda s: s.slack is not None)
        await handle.execute_update(
            RemediationWorkflow.act, ActionRequest(action="acknowledge", user="U0ALICE")
        )
        closed = await eventually(
            lambda: status(handle), lambda s: any(e.kind == "cooldown" for e in s.timeline)
        )
        for n in range(1, 31):
            await handle.signal(
                RemediationWorkflow.occurrence,
                first.model_copy(update={"id": f"irate:{case}:{n}"}),
            )
        chain = await continued(skip_env, handle)
        current = await eventually(
            lambda: status(handle),
            lambda s: [e.kind for e in s.timeline].count("suppressed") == 30,
        )
        assert current.outcome == "resolved_by_human" and current.state == "resolved"
        assert current.occurrences == 1
        record = await handle.result()
    cooldown = next(e for e in closed.timeline if e.kind == "cooldown")
    assert record.outcome == "resolved_by_human"
    assert len(chain) >= 2
    # It ended when the first run's cooldown said, not 7 days after the new run started.
    ended = (await skip_env.client.get_workflow_handle(handle.id).describe()).close_time
    assert ended is not None
    assert abs(ended - (cooldown.at + timedelta(days=7))) < timedelta(minutes=1)
    # The e-mail went out once (critical), not again from the new run.
    assert len(fake.emails) == 1


async def test_list_and_report_count_a_continued_remediation_once(
    dev_env: WorkflowEnvironment,
) -> None:
    """On the dev server (real visibility): the closed first run is not listed next to the
    running one, and the report sees one remediation, started when the first run started."""
    fake = FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    first = payment("expired_card", f"in_{uuid.uuid4().hex[:10]}")
    client = dev_env.client
    async with Worker(
        client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=first,
                config=RemediationConfig(continue_as_new_after=LIMIT),
                signed_by_stripe=True,  # as the gateway starts it for Stripe's signed webhook
            ),
            id=f"payment_failed:invoice:{first.subject.id}",
            task_queue=queue,
            result_type=ResolutionRecord,
        )
        before = await eventually(lambda: status(handle), lambda s: s.slack is not None)
        await occur(handle, first, 30)
        await continued(dev_env, handle)
        await eventually(lambda: status(handle), lambda s: s.occurrences == 31)
        # Visibility is eventually consistent: wait until it knows the first run closed.
        await eventually(
            lambda: client.count_workflows(
                f"WorkflowId = '{handle.id}' AND ExecutionStatus = 'ContinuedAsNew'"
            ),
            lambda counted: counted.count >= 1,
        )
        listed = [s for s in await list_remediations(client) if s.workflow_id == handle.id]
        assert len(listed) == 1
        assert listed[0].occurrences == 31 and listed[0].state == "awaiting_human"
        now = await dev_env.get_current_time()
        request = ReportRequest(since=now - timedelta(days=1), until=now + timedelta(minutes=1))
        facts, _ = await collect_facts(client, request)
        mine = [f for f in facts if f.workflow_id == handle.id]
        assert len(mine) == 1 and mine[0].execution == "running"
        assert mine[0].status is not None and mine[0].status.started_at == before.started_at
        await handle.terminate("test over")
