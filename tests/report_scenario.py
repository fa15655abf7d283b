"""A small history for the report, replay and metrics tests, driven once per session.

Its own dev server (with the Temporal UI, so report links can be followed) keeps the
report's numbers exact: no other test's remediations share its visibility store. The
activities are the same-name fakes, with timers shortened for the few subjects that must
retry, escalate or expire within seconds; everything goes through the real intake.

What it leaves (the numbers the tests expect are derived from this list):

- in_auto (Globex): payment_failed, the scheduled retry (after 1 s) collects: auto_resolved;
- in_human (Globex): payment_failed, Alice presses Retry payment: resolved_by_human;
- in_paid (Initech): payment_failed, Stripe says invoice.paid: resolved_externally;
- in_dismiss (Initech): payment_failed, Mallory's click and an unknown action are refused,
  then Alice dismisses: dismissed;
- in_expire (Hooli): payment_failed (fraud), escalates twice (1 s each), expires at 4 s;
- in_open (Globex): payment_failed, reported twice, nobody acts: open;
- 006GLOBEX (Globex): stage_mismatch, already Closed Won: auto_resolved;
- zap-1, zap-2, zap-3: the same Zapier error (unknown), open; zap-4: another one, open.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary import search_attributes as sa
from canary.catalog import diagnose as catalog_diagnose
from canary.metrics import MetricsInterceptor, use_meter_provider
from canary.models import (
    ActionRequest,
    ActionResult,
    Detection,
    DiagnoseInput,
    Diagnosis,
    ExternalEvent,
    ResolutionRecord,
    SlackMessageInput,
    SlackMessageOutput,
    Step,
    StepInput,
    StepOutput,
)
from canary.settings import Settings
from starter.intake import get_status, signal_external, submit_detection, take_action
from tests.conftest import dev_server_with_ui
from tests.fakes import CATALOG, FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow

ZAP_ERROR = "Zap 'Sync invoices' failed: HubSpot returned 502 Bad Gateway"
OTHER_ZAP_ERROR = "Zap 'Enrich leads' failed: Clearbit quota exceeded"


@dataclass
class ScenarioServices(FakeServices):
    """The fakes, plus: retries collect for ``paying`` subjects; ``fast_retry`` subjects
    retry after 1 s; ``fast_ladder`` ones escalate every second and expire after 4 s; and
    Slack answers with a permalink, as the real chat.getPermalink does."""

    paying: set[str] = field(default_factory=set)
    fast_retry: set[str] = field(default_factory=set)
    fast_ladder: set[str] = field(default_factory=set)

    @activity.defn(name="canary.diagnose")
    async def diagnose(self, request: DiagnoseInput) -> Diagnosis:
        found = catalog_diagnose(
            request.detection,
            request.plan,
            CATALOG,
            request.facts,
            {"stripe_dashboard": "https://dashboard.stripe.com/test"},
        )
        subject = request.detection.subject.id
        if subject in self.fast_retry:
            # The recovery plan's first retry (the payer's next day) a second after the
            # diagnosis instead, as a scheduled step, so the scenario runs in seconds.
            found.retry_plan = None
            found.automated = [
                *found.automated,
                Step(
                    id="scheduled-retry",
                    action="stripe.retry_payment",
                    title="Retry the payment",
                    after=timedelta(seconds=1),
                    resolves=True,
                ),
            ]
        if subject in self.fast_ladder:
            found.escalation = [
                e.model_copy(update={"after": timedelta(seconds=1)}) for e in found.escalation
            ]
            found.resolution = found.resolution.model_copy(
                update={"expire_after": timedelta(seconds=4)}
            )
        return found

    @activity.defn(name="canary.run_step")
    async def run_step(self, request: StepInput) -> StepOutput:
        if request.step.action == "stripe.retry_payment":
            self.pay_results = [request.detection.subject.id in self.paying]
        return await FakeServices.run_step(self, request)

    @activity.defn(name="canary.post_slack")
    async def post_slack(self, request: SlackMessageInput) -> SlackMessageOutput:
        posted = await FakeServices.post_slack(self, request)
        posted.permalink = (
            f"https://acme.slack.com/archives/{posted.channel}/p" + posted.ts.replace(".", "")
        )
        return posted


@dataclass
class Scenario:
    env: WorkflowEnvironment
    settings: Settings
    target: str
    ui_url: str
    queue: str
    started: datetime
    ids: dict[str, str]
    records: dict[str, ResolutionRecord]
    answers: dict[str, ActionResult]
    metrics: dict[str, list[tuple[dict[str, Any], Any]]]
    services: ScenarioServices


def payment(subject: str, account: str, decline: str, event: str | None = None) -> Detection:
    return Detection(
        id=event or f"evt_{subject}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": subject},
        account={
            "crm_id": f"001{account.upper()}",
            "name": account,
            "stripe_customer_id": f"cus_{account.lower()}",
            "owner_email": "alice@acme-gtm.example",
        },
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": decline},
    )


def zap(run: str, message: str) -> Detection:
    return Detection(
        id=run, source="zapier", subject={"kind": "zap_run", "id": run}, message=message
    )


def _snapshot(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Metric name → [(attributes, value)], value being a sum or (count, sum) of a histogram."""
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = (
                        (point.count, point.sum) if hasattr(point, "bucket_counts") else point.value
                    )
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return found


@pytest.fixture(scope="session")
async def report_scenario() -> AsyncIterator[Scenario]:
    env, ui_url = await dev_server_with_ui()
    target = env.client.service_client.config.target_host
    queue = f"report-{uuid.uuid4().hex[:6]}"
    settings = Settings(task_queue=queue, temporal_ui_url=ui_url, temporal_address=target)
    services = ScenarioServices(
        paying={"in_auto", "in_human"},
        fast_retry={"in_auto"},
        fast_ladder={"in_expire"},
        # Salesforce says the paid deal is already won (the report cannot say it itself).
        lookups={"salesforce.opportunity": {"opportunity_is_won": True}},
    )
    reader = InMemoryMetricReader()
    use_meter_provider(MeterProvider(metric_readers=[reader]))
    client = env.client
    started = datetime.now(UTC)
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[RemediationWorkflow],
            activities=services.all(),
            interceptors=[MetricsInterceptor()],
        ):
            detections = [
                payment("in_auto", "Globex", "insufficient_funds"),
                payment("in_human", "Globex", "expired_card"),
                payment("in_paid", "Initech", "authentication_required"),
                payment("in_dismiss", "Initech", "do_not_honor"),
                payment("in_expire", "Hooli", "fraudulent"),
                payment("in_open", "Globex", "insufficient_funds"),
                # As the gateway brings Stripe's invoice.paid for a deal: typed.
                Detection(
                    id="evt_paid_006",
                    source="stripe",
                    type="stage_mismatch",
                    subject={"kind": "opportunity", "id": "006GLOBEX"},
                    account={"crm_id": "001GLOBEX", "name": "Globex"},
                    message="Invoice paid for a deal",
                    facts={"signal": "payment_succeeded"},
                ),
                zap("zap-1", ZAP_ERROR),
                zap("zap-2", ZAP_ERROR),
                zap("zap-3", ZAP_ERROR),
                zap("zap-4", OTHER_ZAP_ERROR),
            ]
            ids: dict[str, str] = {}
            for detection in detections:
                # Stripe's failures arrive as its signed webhook would bring them.
                signed = detection.source == "stripe"
                submitted = await submit_detection(
                    client, detection, settings, signed_by_stripe=signed
                )
                ids[detection.subject.id] = submitted.workflow_id
            # The same failed invoice again, a different Stripe event: one more occurrence.
            await submit_detection(
                client,
                payment("in_open", "Globex", "insufficient_funds", "evt_again"),
                settings,
                signed_by_stripe=True,
            )

            async def awaiting(subject: str) -> None:
                await eventually(
                    lambda: get_status(client, ids[subject]),
                    lambda s: s is not None and s.state == "awaiting_human",
                )

            answers: dict[str, ActionResult] = {}
            await awaiting("in_human")
            answers["retry"] = await take_action(
                client, ids["in_human"], ActionRequest(action="retry", user="U0ALICE")
            )
            await awaiting("in_paid")
            await signal_external(
                client,
                ids["in_paid"],
                ExternalEvent(kind="invoice.paid", source="stripe", event_id="evt_paid_1"),
            )
            await awaiting("in_dismiss")
            answers["mallory"] = await take_action(
                client,
                ids["in_dismiss"],
                ActionRequest(action="dismiss", user="U0MALLORY", reason="Not a real problem"),
            )
            answers["unknown"] = await take_action(
                client, ids["in_dismiss"], ActionRequest(action="explode", user="U0ALICE")
            )
            answers["dismiss"] = await take_action(
                client,
                ids["in_dismiss"],
                ActionRequest(action="dismiss", user="U0ALICE", reason="Not a real problem"),
            )
            closing = ["in_auto", "in_human", "in_paid", "in_dismiss", "in_expire", "006GLOBEX"]
            records: dict[str, ResolutionRecord] = {}
            for subject in closing:
                handle: WorkflowHandle[Any, ResolutionRecord] = client.get_workflow_handle(
                    ids[subject], result_type=ResolutionRecord
                )
                records[subject] = await handle.result()
            for subject in ("in_open", "zap-1", "zap-2", "zap-3", "zap-4"):
                await awaiting(subject)
            await eventually(
                lambda: get_status(client, ids["in_open"]), lambda s: s and s.occurrences == 2
            )
            # Visibility is updated after the workflow closes; wait until the listing agrees.
            await eventually(
                lambda: client.count_workflows("ExecutionStatus = 'Completed'"),
                lambda c: c.count == len(closing),
            )
            await eventually(
                lambda: client.count_workflows(f"{sa.STATE.name} = 'awaiting_human'"),
                lambda c: c.count == 5,
            )
            snapshot = _snapshot(reader)
            yield Scenario(
                env=env,
                settings=settings,
                target=target,
                ui_url=ui_url,
                queue=queue,
                started=started,
                ids=ids,
                records=records,
                answers=answers,
                metrics=snapshot,
                services=services,
            )
    finally:
        use_meter_provider(otel_metrics.get_meter_provider())
        await env.shutdown()
