"""The recovery plan in the remediation workflow, on the time-skipping server: a soft decline
is retried exactly when its class's plan says (in the payer's timezone), until it is paid and
not after; a hard decline is never retried and a card that must change waits for a new one;
the alert says when the next retry is, and the record says which retry recovered the money.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.catalog import cached_catalog
from canary.models import (
    Detection,
    EnrichInput,
    EnrichOutput,
    ExternalEvent,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    ResolutionRecord,
)
from canary.recovery.plans import planned_attempts
from tests.fakes import FakeServices
from tests.helpers import end_if_running
from workflows import RemediationWorkflow

TOKYO = "Asia/Tokyo"


def declined(decline: str) -> Detection:
    return Detection(
        id=f"evt_{uuid.uuid4().hex[:10]}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": f"in_{uuid.uuid4().hex[:12]}"},
        account={"name": "Hooli", "stripe_customer_id": "cus_HOOLI0001"},
        message="Your card was declined.",
        facts={"decline_code": decline, "amount_due": 120_000, "currency": "usd"},
    )


async def started(
    env: WorkflowEnvironment, detection: Detection, fake: FakeServices, queue: str
) -> WorkflowHandle[RemediationWorkflow, ResolutionRecord]:
    return await env.client.start_workflow(
        RemediationWorkflow.run,
        RemediationInput(
            detection=detection,
            config=RemediationConfig(search_attributes=False),
            signed_by_stripe=True,  # as the gateway starts it for Stripe's signed webhook
        ),
        id=f"payment_failed:invoice:{detection.subject.id}",
        task_queue=queue,
        result_type=ResolutionRecord,
    )


def retry_times(status: RemediationStatus) -> list[datetime]:
    return [
        e.at
        for e in status.timeline
        if e.kind == "step_started" and e.data.get("step") == "planned-retry"
    ]


@pytest.mark.asyncio
async def test_a_soft_decline_is_retried_on_its_plan_until_paid_and_not_after(
    skip_env: WorkflowEnvironment,
) -> None:
    # Stripe declines the first two retries and collects on the third.
    fake = FakeServices(
        pay_results=[False, False, True],
        lookups={"stripe.invoice": {"customer_timezone": TOKYO}},
    )
    queue = f"plan-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await started(skip_env, declined("insufficient_funds"), fake, queue)
        await skip_env.sleep(timedelta(minutes=1))
        first: RemediationStatus = await handle.query(RemediationWorkflow.status)
        assert first.diagnosis is not None and first.diagnosis.decline_class == "soft"
        plan = first.diagnosis.retry_plan
        assert plan is not None and first.first_failed_at is not None
        schedule = planned_attempts(plan, first.first_failed_at, TOKYO)
        assert first.next_retry and f"attempt 1 of {len(schedule)}" in first.next_retry
        assert "Recovery plan" in str([p.blocks for p in fake.posts])
        await skip_env.sleep(timedelta(days=40))
        record = await handle.result()
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
    # At the plan's times (09:00 in Tokyo), three retries, then nothing after payment.
    made = retry_times(status)
    assert len(made) == 3
    on_time = [
        abs(at - due) < timedelta(seconds=1) for at, due in zip(made, schedule[:3], strict=True)
    ]
    assert all(on_time), list(zip(made, schedule, strict=False))
    assert all(due.astimezone(ZoneInfo(TOKYO)).hour == 9 for due in schedule)
    assert record.outcome == "auto_resolved" and record.attempts == 3
    assert record.recovered_by == "scheduled_retry" and record.recovery_attempt == 3
    assert record.recovered_amount == 120_000 and record.decline_class == "soft"
    keys = [s.attempt_key for s in fake.steps if s.step.action == "stripe.retry_payment"]
    assert len(set(keys)) == 3, "each retry is its own idempotent Stripe call"
    # The payer was dunned on the plan's schedule (after the first failed retry), and the
    # sequence stopped with the payment (the reminder after retry 3 and day 21's never went).
    dunned = [s.step.params["email"] for s in fake.steps if s.step.action == "stripe.dunning_email"]
    assert dunned == ["first_notice"]


@pytest.mark.asyncio
async def test_the_e_mails_stop_when_the_payer_pays_on_the_hosted_page(
    skip_env: WorkflowEnvironment,
) -> None:
    """Every retry declines; after the first notice the payer pays on Stripe's hosted page
    (Stripe's invoice.paid): no retry and no e-mail after that, recovered by the payer."""
    fake = FakeServices()
    queue = f"hosted-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await started(skip_env, declined("insufficient_funds"), fake, queue)
        await skip_env.sleep(timedelta(days=2))  # retry 1 declined, the first notice went out
        sent = [
            s.step.params["email"] for s in fake.steps if s.step.action == "stripe.dunning_email"
        ]
        assert sent == ["first_notice"]
        paid = ExternalEvent(kind="invoice.paid", source="stripe", event_id="evt_paid_hosted")
        await handle.signal(RemediationWorkflow.external_event, paid)
        record = await handle.result()
        steps_at_payment = len(fake.steps)
        await skip_env.sleep(timedelta(days=30))
    assert record.outcome == "resolved_externally" and record.recovered_by == "hosted_page"
    assert record.attempts == 1
    assert len(fake.steps) == steps_at_payment, "nothing ran after the payment"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("decline", "decline_class"),
    [
        ("fraudulent", "hard"),
        ("expired_card", "card_must_change"),
    ],
)
async def test_hard_declines_and_cards_that_must_change_are_not_retried_on_a_schedule(
    skip_env: WorkflowEnvironment, decline: str, decline_class: str
) -> None:
    fake = FakeServices()
    queue = f"plan-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await started(skip_env, declined(decline), fake, queue)
        await skip_env.sleep(timedelta(days=23))  # past the day-21 e-mail, no retry on the way
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        await end_if_running(handle)
    assert status.diagnosis is not None and status.diagnosis.decline_class == decline_class
    assert status.next_retry is None
    assert not [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
    # A card that must change is dunned by day (the card-update link); a fraudulent one never.
    dunned = [s.step.params["email"] for s in fake.steps if s.step.action == "stripe.dunning_email"]
    assert bool(dunned) == (decline_class == "card_must_change")


def test_the_default_catalog_pins_its_plan_in_the_diagnosis() -> None:
    catalog = cached_catalog(None)
    soft = catalog.recovery.plan_for("soft")
    assert soft.scheduled and catalog.recovery.classify("insufficient_funds") == "soft"
    assert not catalog.recovery.plan_for("hard").scheduled


async def run_quietly(
    env: WorkflowEnvironment, fake: FakeServices, days: int
) -> tuple[RemediationStatus, FakeServices]:
    """A small self-serve payment ($49, no deal), declined for insufficient funds."""
    detection = declined("insufficient_funds")
    detection.facts["amount_due"] = 4_900
    queue = f"quiet-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await started(env, detection, fake, queue)
        await env.sleep(timedelta(days=days))
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
        await end_if_running(handle)
    return status, fake


@pytest.mark.asyncio
async def test_a_small_self_serve_payment_recovered_quietly_pings_nobody(
    skip_env: WorkflowEnvironment,
) -> None:
    status, fake = await run_quietly(skip_env, FakeServices(pay_results=[False, True]), days=10)
    assert status.outcome == "auto_resolved"
    assert status.recovered_by == "scheduled_retry" and status.recovery_attempt == 2
    assert fake.posts == [] and fake.emails == [], "nobody was pinged"
    assert [e.kind for e in status.timeline].count("quiet") == 1
    assert status.escalation_level == 0


@pytest.mark.asyncio
async def test_people_hear_of_a_quiet_payment_once_its_plan_is_exhausted(
    skip_env: WorkflowEnvironment,
) -> None:
    status, fake = await run_quietly(skip_env, FakeServices(), days=31)  # every retry declines
    alerts = [p for p in fake.posts if not p.ts and not p.thread_ts]
    assert alerts and alerts[0].channel == "#gtm-alerts"
    assert status.diagnosis is not None and status.diagnosis.retry_plan is not None
    assert status.attempts == len(
        planned_attempts(status.diagnosis.retry_plan, status.first_failed_at, None)  # type: ignore[arg-type]
    )
    assert status.state in ("awaiting_human", "escalated"), "open for people, not expired"


class SalesforceDown(FakeServices):
    """Salesforce refuses the deal lookup: Canary cannot know who stands behind the payment."""

    @activity.defn(name="canary.enrich")
    async def enrich(self, request: EnrichInput) -> EnrichOutput:
        if request.enricher == "salesforce.deal":
            raise ApplicationError("salesforce: Sandbox fault", non_retryable=True)
        return await super().enrich(request)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("who", "fake"),
    [
        (
            "a committed deal",
            FakeServices(lookups={"salesforce.deal": {"opportunity_forecast_category": "Commit"}}),
        ),
        (
            "a strategic account",
            FakeServices(lookups={"salesforce.deal": {"customer_segment": "strategic"}}),
        ),
        ("an account Salesforce could not look up", SalesforceDown()),
    ],
)
async def test_a_small_payment_behind_a_deal_alerts_its_owner_at_once(
    skip_env: WorkflowEnvironment, who: str, fake: FakeServices
) -> None:
    """$49, as small as the quiet case, but the deal behind it (or not knowing it) is loud."""
    status, fake = await run_quietly(skip_env, fake, days=0)
    alerts = [p for p in fake.posts if not p.ts and not p.thread_ts]
    assert alerts, f"{who}: the owner is alerted before any retry"
    assert "quiet" not in [e.kind for e in status.timeline]
    assert "*Recovery plan:* next retry" in str(alerts[0].blocks)


@pytest.mark.asyncio
async def test_a_new_card_retries_the_payment_once_and_says_so(
    skip_env: WorkflowEnvironment,
) -> None:
    """An expired card waits for a new one; Stripe's card event retries at once, once."""
    fake = FakeServices(pay_results=[True])
    queue = f"card-{uuid.uuid4().hex[:6]}"
    async with Worker(
        skip_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await started(skip_env, declined("expired_card"), fake, queue)
        await skip_env.sleep(timedelta(hours=2))
        assert not [s for s in fake.steps if s.step.action == "stripe.retry_payment"]
        new_card = ExternalEvent(kind="card_updated", source="stripe", event_id="evt_card_1")
        await handle.signal(RemediationWorkflow.external_event, new_card)
        record = await handle.result()
        status: RemediationStatus = await handle.query(RemediationWorkflow.status)
    retries = [s.step.id for s in fake.steps if s.step.action == "stripe.retry_payment"]
    assert retries == ["card-update-retry"]
    assert record.outcome == "auto_resolved" and record.recovered_by == "card_update_retry"
    assert "Recovered after a card update" in [e.text for e in status.timeline]
