"""A new remediation's diagnosis in one local activity (canary.investigate), and what the
workflow does when a lookup in it failed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary import search_attributes as sa
from canary.models import (
    Detection,
    DiagnosisPlan,
    EnrichInput,
    EnrichOutput,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    StepInput,
    StepOutput,
)
from canary.settings import Settings
from starter.intake import submit_detection
from tests.fakes import FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow


def _local_activity(event: Any) -> str | None:
    """The activity type a local activity's marker records, if the event is one."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    data = event.marker_recorded_event_attributes.details.get("data")
    if data is None or not data.payloads:
        return None
    return str(json.loads(data.payloads[0].data).get("activity_type"))


def detection(subject: str) -> Detection:
    return Detection(
        id=f"evt_{subject}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": subject},
        account={
            "name": "Globex",
            "stripe_customer_id": "cus_1",
            "owner_email": "alice@acme-gtm.example",
        },
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": "insufficient_funds"},
    )


async def run_until_alerted(
    env: WorkflowEnvironment, fake: FakeServices, subject: str, activities: list[Any] | None = None
) -> RemediationStatus:
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=activities or fake.all(),
    ):
        handle = await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(
                detection=detection(subject), config=RemediationConfig(search_attributes=False)
            ),
            id=f"payment_failed:invoice:{subject}",
            task_queue=queue,
        )
        status = await eventually(
            lambda: handle.query(RemediationWorkflow.status),
            lambda s: s.slack is not None and s.state == "awaiting_human",
        )
        await handle.terminate("test over")
        return status


async def test_one_investigation_diagnoses_and_routes(skip_env: WorkflowEnvironment) -> None:
    fake = FakeServices()
    status = await run_until_alerted(skip_env, fake, f"in_{uuid.uuid4().hex[:8]}")
    assert fake.diagnoses == 0, "the investigation's diagnosis was used as it came"
    assert status.diagnosis is not None and status.diagnosis.branch == "insufficient_funds"
    assert status.owner == "alice@acme-gtm.example"
    kinds = [e.kind for e in status.timeline]
    assert "enrich_failed" not in kinds and "owner" in kinds


async def test_a_failed_lookup_is_retried_and_a_refused_one_is_not(
    skip_env: WorkflowEnvironment,
) -> None:
    """In the investigation, Stripe's customer lookup fails once (retried on its own, after a
    backoff) and the invoice lookup is refused for good (recorded, not retried)."""
    calls: dict[str, int] = {}

    class Flaky(FakeServices):
        async def plan_diagnosis(self, detection: Detection) -> DiagnosisPlan:
            # A catalog whose SOP asks for two lookups.
            planned = await super().plan_diagnosis(detection)
            return planned.model_copy(update={"enrich": ["stripe.invoice", "stripe.customer"]})

        @activity.defn(name="canary.enrich")
        async def enrich(self, request: EnrichInput) -> EnrichOutput:
            calls[request.enricher] = calls.get(request.enricher, 0) + 1
            if request.enricher == "stripe.invoice":
                raise ApplicationError("Stripe: no such invoice", non_retryable=True)
            if calls[request.enricher] == 1:
                raise ApplicationError("Stripe answered 500")
            return EnrichOutput(facts={"customer_email": "ap@globex.example"})

    fake = Flaky()
    status = await run_until_alerted(skip_env, fake, f"in_{uuid.uuid4().hex[:8]}")
    assert calls == {"stripe.invoice": 1, "stripe.customer": 2}
    failed = [e.text for e in status.timeline if e.kind == "enrich_failed"]
    assert failed == ["Could not look up stripe.invoice: Stripe: no such invoice"]
    assert fake.diagnoses == 1, "diagnosed again, with the customer found on the retry"


async def test_the_investigation_prepares_the_alerts_links(
    skip_env: WorkflowEnvironment,
) -> None:
    """The SOP's leading link steps run inside the investigation, under the keys the workflow
    would give them; one that failed there is run by the workflow itself, with retries."""
    runs: dict[str, int] = {}
    where: list[tuple[str, str]] = []  # (step, the activity it ran in)

    class PortalDown(FakeServices):
        @activity.defn(name="canary.run_step")
        async def run_step(self, request: StepInput) -> StepOutput:
            runs[request.step.id] = runs.get(request.step.id, 0) + 1
            where.append((request.step.id, activity.info().activity_type))
            if request.step.action == "stripe.billing_portal_link" and runs[request.step.id] == 1:
                raise ApplicationError("Stripe answered 500")
            return await super().run_step(request)

    fake = PortalDown()
    subject = f"in_{uuid.uuid4().hex[:8]}"
    status = await run_until_alerted(skip_env, fake, subject)
    assert status.diagnosis is not None
    leading = status.diagnosis.leading_preparations()
    assert [s.action for s in leading] == [
        "stripe.hosted_invoice_link",
        "stripe.billing_portal_link",
    ]
    # Each step ran under its first key: the invoice page once (in the investigation), the
    # portal link twice (refused there, then run by the workflow).
    assert runs == {leading[0].id: 1, leading[1].id: 2}
    assert where == [
        (leading[0].id, "canary.investigate"),
        (leading[1].id, "canary.investigate"),
        (leading[1].id, "canary.run_step"),
    ]
    assert {r.attempt_key.rsplit("/", 2)[1:] == [r.step.id, "1"] for r in fake.steps} == {True}
    assert all(r.attempt_key.startswith(f"payment_failed:invoice:{subject}/") for r in fake.steps)
    done = [e.data.get("step") for e in status.timeline if e.kind == "step_succeeded"]
    assert done == [s.id for s in leading]
    assert status.state == "awaiting_human"


async def alerted_history(
    env: WorkflowEnvironment,
    start: Callable[[str], Awaitable[WorkflowHandle[Any, Any]]],
    fake: FakeServices | None = None,
) -> tuple[list[Any], TypedSearchAttributes]:
    """Start a remediation with ``start(queue)`` on a worker with stand-in activities; its
    history once it waits for people, and its search attributes then."""
    fake = fake or FakeServices()
    queue = f"q-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        handle = await start(queue)
        await eventually(
            lambda: handle.query(RemediationWorkflow.status),
            lambda s: s.slack is not None and s.state == "awaiting_human",
        )
        history = await handle.fetch_history()
        described = await handle.describe()
        await handle.terminate("test over")
    return list(history.events), described.typed_search_attributes


def started_directly(
    env: WorkflowEnvironment,
) -> Callable[[str], Awaitable[WorkflowHandle[Any, Any]]]:
    """A new payment failure's remediation, started on the given queue by the client itself."""
    subject = f"in_{uuid.uuid4().hex[:8]}"

    async def start(queue: str) -> WorkflowHandle[Any, Any]:
        return await env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(detection=detection(subject)),
            id=f"payment_failed:invoice:{subject}",
            task_queue=queue,
        )

    return start


def upserts_before_alert(events: list[Any]) -> list[set[str]]:
    """The search attributes of each of Canary's upserts before the alert (the SDK's own
    TemporalChangeVersion upserts left out), checking the alert went out from the first task."""
    alert = next(i for i, e in enumerate(events) if _local_activity(e) == "canary.post_alert")
    assert not any(
        e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events[:alert]
    ), "the alert goes out from the first workflow task"
    # After the alert, its Home entry (the memo, and the worker told whose Homes changed).
    home = EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED
    after = [
        e
        for e in events[alert + 1 :]
        if e.event_type != home and _local_activity(e) != "canary.home_changed"
    ]
    assert after[0].event_type == EventType.EVENT_TYPE_TIMER_STARTED, (
        "then it waits for people, in the same task"
    )
    found = []
    for event in events[:alert]:
        if event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            names = set(fields.indexed_fields) - {"TemporalChangeVersion"}
            if names:
                found.append(names)
    return found


async def test_search_attributes_learnt_on_the_way_are_upserted_once(
    dev_env: WorkflowEnvironment,
) -> None:
    """On a real server with Canary's search attributes: the remediation shows in visibility
    from its start, and what the diagnosis learns lands in one upsert before the alert."""
    events, attributes = await alerted_history(dev_env, started_directly(dev_env))
    canary_upserts = upserts_before_alert(events)
    assert len(canary_upserts) == 2
    # The owner the report names is not trusted: the first upsert has what the report
    # says; the owner Stripe names comes with the diagnosis, in the second.
    assert {"CanaryState", "CanarySubject"} <= canary_upserts[0]
    assert "CanaryErrorType" not in canary_upserts[0] and "CanaryOwner" not in canary_upserts[0]
    assert {"CanaryState", "CanaryErrorType", "CanarySeverity", "CanaryOwner"} <= canary_upserts[1]
    assert attributes.get(sa.STATE) == "awaiting_human"
    assert attributes.get(sa.ERROR_TYPE) == "payment_failed"
    assert attributes.get(sa.OWNER) == "alice@acme-gtm.example"


async def test_a_reported_remediation_upserts_only_what_its_diagnosis_learnt(
    dev_env: WorkflowEnvironment,
) -> None:
    """Started by the gateway's intake, the remediation carries what the report names (type,
    state, subject, account, owner) from its start: one upsert before the alert, not two."""
    subject = f"in_{uuid.uuid4().hex[:8]}"

    async def start(queue: str) -> WorkflowHandle[Any, Any]:
        submitted = await submit_detection(
            dev_env.client, detection(subject), Settings(task_queue=queue)
        )
        return dev_env.client.get_workflow_handle(submitted.workflow_id)

    events, attributes = await alerted_history(dev_env, start)
    started = events[0].workflow_execution_started_event_attributes.search_attributes
    assert {"CanaryErrorType", "CanaryState", "CanarySubject", "CanaryAccount"} <= set(
        started.indexed_fields
    )
    # The owner a report names is never searchable as its owner: Stripe's comes later.
    assert "CanaryOwner" not in started.indexed_fields
    canary_upserts = upserts_before_alert(events)
    assert len(canary_upserts) == 1
    assert {"CanaryState", "CanarySeverity", "CanaryOwner"} <= canary_upserts[0]
    assert "CanarySubject" not in canary_upserts[0]
    assert attributes.get(sa.STATE) == "awaiting_human"
    assert attributes.get(sa.ACCOUNT) == "cus_1"
    assert attributes.get(sa.OWNER) == "alice@acme-gtm.example"


async def windows_unreadable() -> Any:
    raise RuntimeError("visibility is down")


@pytest.mark.parametrize(
    ("read_windows", "first_task"),
    [
        (None, ["canary.investigate", "canary.post_alert"]),
        (windows_unreadable, ["canary.investigate", "canary.quiet_windows", "canary.post_alert"]),
    ],
    ids=["windows read by the investigation", "the investigation could not read them"],
)
async def test_the_first_alert_waits_on_the_investigation_alone(
    dev_env: WorkflowEnvironment, read_windows: Any, first_task: list[str]
) -> None:
    """Everything the first alert needs (the diagnosis, its people and links, the quiet
    windows open now) comes from one local activity, so the alert's post is the task's next.
    When the investigation could not read the windows, they are looked up before the alert.
    The Home change rides with the alert's post: no local activity of its own."""
    started = started_directly(dev_env)
    events, _ = await alerted_history(dev_env, started, FakeServices(read_windows=read_windows))
    # Up to its wait for people (its first timer): the Home change rode with the alert.
    waits = next(
        i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    )
    before_the_wait = [_local_activity(e) for e in events[:waits]]
    assert [name for name in before_the_wait if name] == first_task
