"""Issue 14, finding 5: a later report never retargets a fix people approved.

People approve a fix after reading the alert, which shows what the first report and Canary's
own lookups found. An attacker with an intake token then reports the same subject again,
naming another target in the facts the steps read (another opportunity, another retry URL),
and waits for the click: the step must still write to what people approved.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import ActionRequest, Detection, RemediationConfig, RemediationInput, StepInput
from canary.models.state import RemediationState
from tests.fakes import FakeServices
from tests.helpers import end_if_running
from workflows import RemediationWorkflow

APPROVED = "006000000000001AAA"  # the opportunity the alert shows and people approve
OTHER = "006000000000002BBB"  # another customer's deal, named by a later report
APPROVED_URL = "https://hooks.zapier.example/retry/approved"
OTHER_URL = "https://hooks.zapier.example/retry/attacker"


def stage_report(**facts: Any) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="zapier",
        type="stage_mismatch",
        subject={"kind": "opportunity", "id": APPROVED},
        account={"name": "Wayne", "crm_id": "001WAYNE"},
        message="Invoice paid; the opportunity is not Closed Won",
        facts={
            "signal": "payment_succeeded",
            "opportunity_name": "Wayne pilot",
            "evidence_text": "Stripe collected $12,000.00",
            **facts,
        },
    )


def unknown_report(**facts: Any) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="zapier",
        subject={"kind": "zap", "id": f"zap_{uuid.uuid4().hex[:8]}"},
        account={"name": "Wayne"},
        message="Zap step 3 failed",
        facts={"raw_excerpt": "Zap step 3 failed", **facts},
    )


def again(first: Detection, **facts: Any) -> Detection:
    """The same subject reported again (a new report id), naming other facts."""
    return first.model_copy(
        update={"id": f"evt_{uuid.uuid4().hex[:10]}", "facts": {**first.facts, **facts}}
    )


def test_a_later_report_is_kept_as_evidence_and_never_merged() -> None:
    first = stage_report(opportunity_id=APPROVED)
    state = RemediationState.begin(first, datetime.now(UTC))
    later = again(first, opportunity_id=OTHER, retry_url=OTHER_URL, case_id="500EVIL")
    assert state.fold_occurrence(datetime.now(UTC), later)
    assert state.facts["opportunity_id"] == APPROVED
    assert "retry_url" not in state.facts and "case_id" not in state.facts
    assert state.occurrences == 2
    entry = state.timeline[-1]
    assert entry.kind == "occurrence" and entry.data["facts"]["opportunity_id"] == OTHER
    assert entry.data["not_applied"] == ["case_id", "opportunity_id", "retry_url"]


async def approved_step(
    env: WorkflowEnvironment, first: Detection, later: Detection, click: ActionRequest, action: str
) -> StepInput:
    """Start a remediation on ``first``, fold in ``later``, click, and return the step input."""
    fake = FakeServices()
    queue = f"retarget-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle: WorkflowHandle = await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(detection=first, config=RemediationConfig(search_attributes=False)),
            id=f"test:{first.subject.id}:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        await env.sleep(timedelta(seconds=5))
        await handle.signal(RemediationWorkflow.occurrence, later)
        await env.sleep(timedelta(seconds=5))
        status = await handle.query(RemediationWorkflow.status)
        assert status.occurrences == 2
        result = await handle.execute_update(RemediationWorkflow.act, click)
        assert result.accepted, result.message
        await end_if_running(handle)
    steps = [s for s in fake.steps if s.step.action == action]
    assert len(steps) == 1, [s.step.action for s in fake.steps]
    return steps[0]


@pytest.mark.asyncio
@pytest.mark.parametrize("first_names_it", [True, False])
async def test_a_later_report_cannot_move_an_approved_closed_won_to_another_deal(
    skip_env: WorkflowEnvironment, first_names_it: bool
) -> None:
    """Whether the first report named the opportunity in its facts or only as its subject."""
    first = stage_report(**({"opportunity_id": APPROVED} if first_names_it else {}))
    step = await approved_step(
        skip_env,
        first,
        again(first, opportunity_id=OTHER),
        ActionRequest(action="approve", user="U0ALICE", source="slack"),  # the owner
        "salesforce.mark_closed_won",
    )
    # What the Salesforce handler writes to: the facts' opportunity, else the subject.
    target = step.facts.get("opportunity_id") or step.detection.subject.id
    assert target == APPROVED
    assert OTHER not in str(step.facts) and OTHER not in step.detection.model_dump_json()


@pytest.mark.asyncio
@pytest.mark.parametrize("first_names_it", [True, False])
async def test_a_later_report_cannot_move_an_approved_retry_to_another_url(
    skip_env: WorkflowEnvironment, first_names_it: bool
) -> None:
    first = unknown_report(**({"retry_url": APPROVED_URL} if first_names_it else {}))
    step = await approved_step(
        skip_env,
        first,
        again(first, retry_url=OTHER_URL),
        ActionRequest(action="retry", user="U0ADMIN", source="slack", admin=True),
        "source.retry",
    )
    # What the source.retry handler calls: the facts' URL, else the first report's.
    url = step.facts.get("retry_url") or step.detection.facts.get("retry_url")
    assert url == (APPROVED_URL if first_names_it else None)
    assert OTHER_URL not in str(step.facts) and OTHER_URL not in step.detection.model_dump_json()
