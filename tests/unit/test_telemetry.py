"""One trace from the Stripe webhook through the gateway and the workflow to the Slack call,
captured with an in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.converter import canary_data_converter
from canary.settings import Settings
from canary.telemetry import temporal_interceptors
from starter.gateway.app import create_app
from starter.intake import get_status
from tests.fakes import FakeServices
from tests.helpers import eventually, stripe_event, stripe_signature
from workflows import RemediationWorkflow

SECRET = "whsec_trace"


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter


async def test_one_trace_from_webhook_to_slack(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter
) -> None:
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=canary_data_converter,
        interceptors=temporal_interceptors(),
    )
    queue = f"trace-{uuid.uuid4().hex[:6]}"
    settings = Settings(task_queue=queue, stripe_webhook_secret=SECRET)
    app = create_app(settings, temporal=client)
    invoice = f"in_{uuid.uuid4().hex[:14]}"
    body = stripe_event(
        "invoice.payment_failed",
        {
            "id": invoice,
            "object": "invoice",
            "customer": "cus_t",
            "amount_due": 480_000,  # over the quiet threshold: alerted at once
            "currency": "usd",
        },
        f"evt_{uuid.uuid4().hex}",
    )
    async with Worker(
        client, task_queue=queue, workflows=[RemediationWorkflow], activities=FakeServices().all()
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            response = await http.post(
                "/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": stripe_signature(body, SECRET)},
            )
        assert response.status_code == 200
        workflow_id = f"payment_failed:invoice:{invoice}"
        await eventually(
            lambda: get_status(client, workflow_id), lambda s: s is not None and s.slack is not None
        )
    finished = spans.get_finished_spans()
    root = next(s for s in finished if s.name == "POST /webhooks/stripe" and s.parent is None)
    same_trace = {s.name for s in finished if s.context.trace_id == root.context.trace_id}
    assert "SignalWithStartWorkflow:RemediationWorkflow" in same_trace
    assert "RunWorkflow:RemediationWorkflow" in same_trace
    # The diagnosis (plan, lookups, catalog, owner) runs in one local activity.
    assert "RunActivity:canary.investigate" in same_trace
    assert "RunActivity:canary.post_alert" in same_trace


def test_without_a_tracer_provider_nothing_is_instrumented(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No exporter configured (and no provider of the embedder's): spans would go nowhere, so
    neither Temporal's interceptor nor the gateway's route spans are installed."""
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    assert temporal_interceptors() == []
    app = create_app(Settings(stripe_webhook_secret=SECRET))
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


def test_with_a_tracer_provider_both_are_instrumented(spans: InMemorySpanExporter) -> None:
    assert [type(i).__name__ for i in temporal_interceptors()] == ["TracingInterceptor"]
    app = create_app(Settings(stripe_webhook_secret=SECRET))
    assert getattr(app, "_is_instrumented_by_opentelemetry", False)
