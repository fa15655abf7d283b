"""Issue 14, "facts apart": a report cannot establish what only Canary's lookups establish.

The SOP branches turn on verdicts (the deal is won, the invoice is paid, one Salesforce
account matches) and steps write to records a lookup found (the candidate account). An
attacker with an intake token names them himself: to close a real failure quietly as
"already paid" or "already won", or to have people approve linking a product account to an
account of his choosing. Each is kept as reported and left for the lookups to say; a finding
of Canary's own detector, whose facts are its own lookups, keeps them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from canary.models.capabilities import LOOKUP_FACTS
from canary.models.state import RemediationState
from tests.fakes import FakeServices
from tests.helpers import end_if_running
from workflows import RemediationWorkflow

FOUND = "001000000000001AAA"  # the one account Salesforce's search finds
ATTACKERS = "001000000000666EVL"  # the account the report asks to link to


def report(kind: str, subject: str, error: str, **facts: Any) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="zapier",
        type=error,
        subject={"kind": kind, "id": subject},
        account={"name": "Hooli", "domain": "hooli.example", "stripe_customer_id": "cus_H1"},
        message="Reported by a workflow tool",
        facts=facts,
    )


async def run(
    env: WorkflowEnvironment,
    detection: Detection,
    fake: FakeServices,
    click: ActionRequest | None = None,
    from_detector: bool = False,
) -> RemediationStatus:
    queue = f"lookups-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection,
                config=RemediationConfig(search_attributes=False),
                from_canary_detector=from_detector,
            ),
            id=f"test:{detection.subject.id}:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        await env.sleep(timedelta(minutes=5))
        if click is not None:
            answer = await handle.execute_update(RemediationWorkflow.act, click)
            assert answer.accepted, answer.message
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        await end_if_running(handle)
    return status


def test_a_reports_verdicts_are_kept_as_reported_and_not_as_facts() -> None:
    claimed = {name: "claimed" for name in LOOKUP_FACTS}
    state = RemediationState.begin(
        report("invoice", "in_1", "payment_failed", **claimed), datetime.now(UTC)
    )
    assert not LOOKUP_FACTS & state.facts.keys()
    assert state.timeline[0].data["not_trusted"] == sorted(LOOKUP_FACTS)
    # Canary's own detector read them in Salesforce and Stripe: they stand.
    trusted = RemediationState.begin(
        report("invoice", "in_1", "payment_failed", **claimed),
        datetime.now(UTC),
        from_detector=True,
    )
    assert LOOKUP_FACTS <= trusted.facts.keys()


@pytest.mark.asyncio
async def test_a_report_saying_the_invoice_is_paid_does_not_close_a_failure_quietly(
    skip_env: WorkflowEnvironment,
) -> None:
    detection = report(
        "invoice",
        f"in_{uuid.uuid4().hex[:12]}",
        "payment_failed",
        decline_code="fraudulent",
        invoice_status="paid",
    )
    status = await run(skip_env, detection, FakeServices())
    assert status.state == "awaiting_human" and status.slack is not None
    assert status.diagnosis is not None and status.diagnosis.branch != "already_paid"
    # Stripe saying so is another matter: the lookup closes it.
    paid = FakeServices(lookups={"stripe.invoice": {"invoice_status": "paid"}})
    closed = await run(skip_env, detection, paid)
    assert closed.outcome == "auto_resolved"


@pytest.mark.asyncio
async def test_a_report_saying_the_deal_is_won_does_not_close_it_quietly(
    skip_env: WorkflowEnvironment,
) -> None:
    detection = report(
        "opportunity",
        "006000000000001AAA",
        "stage_mismatch",
        signal="payment_succeeded",
        opportunity_is_won=True,
        amount_matches=True,
    )
    status = await run(skip_env, detection, FakeServices())
    assert status.state == "awaiting_human" and status.outcome is None


@pytest.mark.asyncio
async def test_a_report_cannot_choose_the_account_a_product_account_is_linked_to(
    skip_env: WorkflowEnvironment,
) -> None:
    """RevOps approves "Link to Hooli Inc"; the step links what Salesforce found."""
    detection = report(
        "app_account",
        f"app_{uuid.uuid4().hex[:8]}",
        "account_unlinked",
        candidate_count=1,
        candidate_id=ATTACKERS,
        candidate_name="Hooli Inc",
    )
    fake = FakeServices(
        lookups={
            "salesforce.account_candidates": {
                "candidate_count": 1,
                "candidate_id": FOUND,
                "candidate_name": "Hooli Inc",
            }
        }
    )
    approve = ActionRequest(action="approve", user="U0DAN", source="slack", member_of=["revops"])
    await run(skip_env, detection, fake, click=approve)
    [link] = [s for s in fake.steps if s.step.action == "salesforce.link_account"]
    assert link.facts["candidate_id"] == FOUND
    assert ATTACKERS not in str(link.model_dump())


@pytest.mark.asyncio
async def test_a_reported_candidate_is_not_offered_when_salesforce_finds_none(
    skip_env: WorkflowEnvironment,
) -> None:
    detection = report(
        "app_account",
        f"app_{uuid.uuid4().hex[:8]}",
        "account_unlinked",
        candidate_count=1,
        candidate_id=ATTACKERS,
        candidate_name="Hooli Inc",
    )
    nothing = FakeServices(lookups={"salesforce.account_candidates": {"candidate_count": 0}})
    status = await run(skip_env, detection, nothing)
    assert status.diagnosis is not None and status.diagnosis.branch == "no_candidate"
    assert ATTACKERS not in str(status.diagnosis.model_dump())
