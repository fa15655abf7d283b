"""No configured secret leaves Canary: not in its logs (even at DEBUG, the SDKs' included),
not in its traces, not in a remediation's timeline or Temporal history, not in Slack.

A whole story runs on a live stack — a declined payment through Stripe's signed webhook, the
alert, forged and stale requests, a detection through the API with a wrong token and then
the right one, a retry clicked in Slack — and everything Canary produced is searched for each
configured secret.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from canary.converter import canary_data_converter
from canary.logs import setup_logging
from canary.telemetry import temporal_interceptors
from starter.intake import get_status
from starter.scenario import CUSTOMERS, fail_a_payment
from tests.helpers import eventually, payload_data, slack_headers, stripe_signature
from tests.stack import (
    API_TOKEN,
    SIGNING_SECRET,
    SLACK_TOKEN,
    STRIPE_KEY,
    WEBHOOK_SECRET,
    LiveStack,
    live_stack,
)
from workflows import remediation_id

SALESFORCE_TOKEN = "00DSANDBOX!e2e-session"
SECRETS = [STRIPE_KEY, SLACK_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, API_TOKEN, SALESFORCE_TOKEN]


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter


@pytest.fixture()
def captured_logs() -> Iterator[io.StringIO]:
    """Canary's own log setup (JSON, secrets redacted) at DEBUG, written to a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("stripe").level)
    buffer = io.StringIO()
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("stripe").setLevel(saved[2])


async def story(live: LiveStack) -> list[str]:
    """Everything a deployment sees in a day, good and bad; the remediations it opened."""
    gateway = live.gateway_url
    # Forged and stale: a webhook signed with another secret, one replayed an hour later.
    body = b'{"id": "evt_forged", "type": "invoice.payment_failed", "data": {"object": {}}}'
    for signature in (
        stripe_signature(body, "whsec_not_ours"),
        stripe_signature(body, WEBHOOK_SECRET, int(time.time()) - 3600),
    ):
        answer = await live.http.post(
            f"{gateway}/webhooks/stripe", content=body, headers={"Stripe-Signature": signature}
        )
        assert answer.status_code == 400
    click = b"payload=%7B%7D"
    stale = await live.http.post(
        f"{gateway}/slack/actions", content=click, headers=slack_headers(click, SIGNING_SECRET, 1)
    )
    assert stale.status_code == 401

    # The detection API: the wrong token, then the right one.
    detection = {
        "source": "zapier",
        "subject": {"kind": "zap_run", "id": "zap-secrets-1"},
        "message": "Zap failed: HubSpot returned 502",
    }
    wrong = await live.http.post(
        f"{gateway}/api/detections",
        json=detection,
        headers={"Authorization": "Bearer not-the-token"},
    )
    assert wrong.status_code == 401
    right = await live.http.post(
        f"{gateway}/api/detections",
        json=detection,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert right.status_code == 202
    unknown = right.json()["workflow_id"]

    # A declined payment through Stripe's signed webhook, its alert, a retry clicked by the
    # owner (still declined), and a refusal for someone who may not press it.
    invoice = fail_a_payment(live.stripe, CUSTOMERS[0])
    payment = remediation_id("payment_failed", "invoice", invoice)
    status = await eventually(
        lambda: get_status(live.client, payment),
        lambda s: s is not None and s.slack is not None,
        timeout=60,
    )
    alert = next(m for m in await live.messages("#gtm-alerts") if m["ts"] == status.slack.ts)
    assert (await live.click("U0BOB", alert, "canary:retry"))["status"] == 200
    assert (await live.click("U0ALICE", alert, "canary:retry"))["status"] == 200
    await eventually(
        lambda: get_status(live.client, payment),
        lambda s: (
            s is not None and s.attempts == 1 and "step_failed" in [e.kind for e in s.timeline]
        ),
        timeout=60,
    )
    await eventually(
        lambda: get_status(live.client, unknown),
        lambda s: s is not None and s.slack is not None,
        timeout=60,
    )
    return [payment, unknown]


def span_text(exporter: InMemorySpanExporter) -> str:
    return json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [(e.name, dict(e.attributes or {})) for e in s.events],
                "status": s.status.description,
                "resource": dict(s.resource.attributes),
            }
            for s in exporter.get_finished_spans()
        ],
        default=str,
    )


async def test_no_configured_secret_in_logs_traces_timelines_or_slack(
    dev_env: WorkflowEnvironment, spans: InMemorySpanExporter, captured_logs: io.StringIO
) -> None:
    client = Client(
        dev_env.client.service_client,
        namespace=dev_env.client.namespace,
        data_converter=canary_data_converter,
        interceptors=temporal_interceptors(),
    )
    spans.clear()
    async with live_stack(client) as live:
        setup_logging(live.settings, "DEBUG")
        logging.getLogger().handlers[0].setStream(captured_logs)  # type: ignore[attr-defined]
        workflow_ids = await story(live)
        # Whatever logs a secret by mistake goes through the same formatter as everything else.
        logging.getLogger("canary.probe").warning("probe: key %s", STRIPE_KEY)
        assert "probe: key [redacted]" in captured_logs.getvalue()
        produced: dict[str, Any] = {"logs": captured_logs.getvalue(), "traces": span_text(spans)}
        for workflow_id in workflow_ids:
            status = await get_status(live.client, workflow_id)
            assert status is not None
            produced[f"status {workflow_id}"] = status.model_dump_json()
            history = await live.client.get_workflow_handle(workflow_id).fetch_history()
            produced[f"history {workflow_id}"] = history.to_json() + "".join(
                data.decode("utf-8", "replace")
                for event in history.events
                for data in payload_data(event)
            )
        for channel in ("#gtm-alerts", "#gtm-escalations", "#finance", "#revops"):
            produced[f"slack {channel}"] = json.dumps(await live.messages(channel))
        ephemeral = await live.sandbox_get("/_sandbox/slack/ephemeral")
        produced["slack ephemeral"] = json.dumps(ephemeral)

    # What was searched is real: logs from the gateway, the worker and the SDKs (DEBUG),
    # spans from the webhook to the activities, a timeline and Slack messages.
    logs = produced["logs"]
    assert '"logger": "canary.gateway"' in logs and '"logger": "temporalio' in logs
    loggers = set(re.findall(r'"logger": "([^"]+)"', logs))
    assert {"canary.gateway", "stripe", "slack_sdk.web.async_base_client"} <= loggers
    assert any(name.startswith("temporalio") for name in loggers)
    assert "RunActivity:canary.post_alert" in produced["traces"]
    assert "Retry the payment" in produced[f"status {workflow_ids[0]}"]
    assert "What happened" in produced["slack #gtm-alerts"]
    leaks = [
        (secret, where) for secret in SECRETS for where, text in produced.items() if secret in text
    ]
    assert not leaks, leaks
