"""Issue 14, finding 6: money moves by itself only for what Stripe's signed webhook reported.

An attacker with an intake token reports a ``payment_failed`` with ``insufficient_funds`` on
an invoice of his choosing: the default SOP retries it on the recovery plan (day 1, 3, …).
Through the API that retry is held for a person (the owner may still press Retry payment);
only a remediation the gateway started from a webhook whose Stripe signature it verified
retries by itself. The flag cannot be set from outside: the detection route ignores it in a
body, and only the Stripe route sets it.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
)
from canary.settings import Settings
from starter.gateway.app import create_app
from tests.fakes import FakeServices
from tests.helpers import end_if_running, stripe_event, stripe_signature
from workflows import RemediationWorkflow

INTAKE = "intake-token-for-the-money-test-0123456789"
WEBHOOK_SECRET = "whsec_money_test_secret_0123456789"


def declined(invoice: str) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={"name": "Acme", "stripe_customer_id": "cus_ACME000001"},
        message="Your card has insufficient funds.",
        facts={"decline_code": "insufficient_funds", "amount_due": 120_000, "currency": "usd"},
    )


async def run(
    env: WorkflowEnvironment, signed: bool, click: ActionRequest | None = None
) -> tuple[FakeServices, RemediationStatus]:
    """A declined invoice payment, past the plan's first retry (the next day), then
    ``click``."""
    fake = FakeServices()
    queue = f"money-{uuid.uuid4().hex[:6]}"
    invoice = f"in_{uuid.uuid4().hex[:14]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=declined(invoice),
                config=RemediationConfig(search_attributes=False),
                signed_by_stripe=signed,
            ),
            id=f"payment_failed:invoice:{invoice}",
            task_queue=queue,
        )
        await env.sleep(timedelta(days=1, hours=12))
        if click is not None:
            result = await handle.execute_update(RemediationWorkflow.act, click)
            assert result.accepted, result.message
        status = await handle.query(RemediationWorkflow.status)
        await end_if_running(handle)
    return fake, status


def retries(fake: FakeServices) -> list[str]:
    return [s.step.id for s in fake.steps if s.step.action == "stripe.retry_payment"]


@pytest.mark.asyncio
async def test_a_reported_failure_holds_the_scheduled_retry_for_a_person(
    skip_env: WorkflowEnvironment,
) -> None:
    fake, status = await run(skip_env, signed=False)
    assert retries(fake) == [], "no money moved for a report through the API"
    held = {e.data["step"]: e.text for e in status.timeline if e.kind == "held"}
    # The plan's first retry, and the e-mail to the payer that would follow it: neither goes
    # out for a report that Stripe did not sign.
    assert set(held) == {"planned-retry", "dunning-first-notice"}, held
    assert all("signed webhook" in text for text in held.values())
    assert not [s for s in fake.steps if s.step.action == "stripe.dunning_email"]
    assert status.state in ("awaiting_human", "escalated") and status.attempts == 0


@pytest.mark.asyncio
async def test_the_owner_may_still_retry_a_reported_failure_by_hand(
    skip_env: WorkflowEnvironment,
) -> None:
    owner = ActionRequest(action="retry", user="U0ALICE", source="slack")
    fake, status = await run(skip_env, signed=False, click=owner)
    assert retries(fake) == ["manual-retry"]
    assert status.attempts == 1


@pytest.mark.asyncio
async def test_a_failure_stripe_signed_retries_by_itself(skip_env: WorkflowEnvironment) -> None:
    fake, status = await run(skip_env, signed=True)
    assert retries(fake) == ["planned-retry"]
    assert not [e for e in status.timeline if e.kind == "held"]


async def started_input(env: WorkflowEnvironment, workflow_id: str) -> RemediationInput:
    """The RemediationInput the gateway started ``workflow_id`` with, as Temporal keeps it
    and the worker reads it (fields at their defaults are left out of the payload)."""
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    first = history.events[0]
    assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    payload = first.workflow_execution_started_event_attributes.input.payloads[0]
    return RemediationInput.model_validate_json(payload.data)


@pytest.mark.asyncio
async def test_only_the_stripe_route_marks_a_remediation_signed(
    dev_env: WorkflowEnvironment,
) -> None:
    """No worker polls the queue: the test reads what the gateway asked Temporal to start."""
    settings = Settings(
        task_queue=f"money-gw-{uuid.uuid4().hex[:6]}",
        intake_tokens=[INTAKE],
        stripe_webhook_secret=WEBHOOK_SECRET,
    )
    app = create_app(settings, temporal=dev_env.client)
    reported = declined(f"in_{uuid.uuid4().hex[:14]}").model_dump(mode="json")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        # The attacker says it was signed, in the body and beside it.
        forged = {**reported, "signed_by_stripe": True}
        answer = await http.post(
            "/api/detections", json=forged, headers={"Authorization": f"Bearer {INTAKE}"}
        )
        if answer.status_code == 422:  # refused outright is as good as ignored
            answer = await http.post(
                "/api/detections", json=reported, headers={"Authorization": f"Bearer {INTAKE}"}
            )
        assert answer.status_code == 202, answer.text
        through_api = answer.json()["workflow_id"]

        invoice = {
            "id": f"in_{uuid.uuid4().hex[:14]}",
            "object": "invoice",
            "customer": "cus_ACME000001",
            "amount_due": 120_000,
            "currency": "usd",
            "status": "open",
            "livemode": False,
            "last_finalization_error": None,
            "metadata": {},
        }
        body = stripe_event("invoice.payment_failed", invoice, f"evt_{uuid.uuid4().hex[:12]}")
        answer = await http.post(
            "/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET)},
        )
        assert answer.status_code == 200, answer.text
        (through_stripe,) = answer.json()["workflow_ids"]

    assert (await started_input(dev_env, through_api)).signed_by_stripe is False
    assert (await started_input(dev_env, through_stripe)).signed_by_stripe is True
    for workflow_id in (through_api, through_stripe):
        await dev_env.client.get_workflow_handle(workflow_id).terminate("test over")
