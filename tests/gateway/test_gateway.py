"""The gateway on a real Temporal dev server: signed webhooks, refusals, duplicates, API."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import RemediationStatus
from canary.settings import Settings
from starter.gateway.app import create_app
from starter.intake import get_status
from tests.fakes import FakeServices
from tests.helpers import eventually, stripe_event, stripe_signature
from workflows import RemediationWorkflow

pytestmark = pytest.mark.asyncio
SECRET = "whsec_test_gateway_secret"
TOKEN = "test-api-token-0123456789abcdef0123"


@pytest.fixture(scope="module")
async def gateway(dev_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    queue = f"gateway-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        task_queue=queue,
        stripe_webhook_secret=SECRET,
        api_token=TOKEN,
        max_body_bytes=200_000,
    )
    fake = FakeServices(pay_results=[])
    app = create_app(settings, temporal=dev_env.client)
    async with Worker(
        dev_env.client, task_queue=queue, workflows=[RemediationWorkflow], activities=fake.all()
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            http.fake = fake  # type: ignore[attr-defined]
            yield http


def failed_invoice(invoice_id: str) -> dict:
    return {
        "id": invoice_id,
        "object": "invoice",
        "customer": "cus_test",
        "status": "open",
        "amount_due": 480000,
        "amount_remaining": 480000,
        "currency": "usd",
        "attempt_count": 1,
        "customer_email": "ap@globex.example",
        "customer_name": "Globex",
    }


async def post_event(http: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await http.post("/webhooks/stripe", content=body, headers=headers)


async def exists(env: WorkflowEnvironment, workflow_id: str) -> bool:
    try:
        await env.client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return False
    return True


async def test_signed_failure_starts_one_remediation_despite_redelivery(
    gateway: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    invoice = f"in_{uuid.uuid4().hex[:14]}"
    body = stripe_event(
        "invoice.payment_failed", failed_invoice(invoice), f"evt_{uuid.uuid4().hex}"
    )
    # The same event delivered ten times at once (Stripe retries, a proxy replays...).
    responses = await asyncio.gather(
        *(post_event(gateway, body, stripe_signature(body, SECRET)) for _ in range(10))
    )
    assert {r.status_code for r in responses} == {200}
    workflow_id = f"payment_failed:invoice:{invoice}"
    assert all(r.json()["workflow_ids"] == [workflow_id] for r in responses)
    status = await eventually(
        lambda: get_status(dev_env.client, workflow_id),
        lambda s: s is not None and s.state == "awaiting_human",
    )
    assert status.occurrences == 1
    # A different event about the same invoice is a new occurrence of the same remediation.
    other = stripe_event(
        "invoice.payment_failed", failed_invoice(invoice), f"evt_{uuid.uuid4().hex}"
    )
    assert (await post_event(gateway, other, stripe_signature(other, SECRET))).status_code == 200
    status = await eventually(
        lambda: get_status(dev_env.client, workflow_id),
        lambda s: s is not None and s.occurrences == 2,
    )
    visible = [e async for e in dev_env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert len(visible) == 1

    # Stripe says the invoice is paid now: the remediation resolves itself, with evidence.
    paid = stripe_event(
        "invoice.paid",
        {**failed_invoice(invoice), "status": "paid", "amount_paid": 480000},
        f"evt_{uuid.uuid4().hex}",
    )
    answer = await post_event(gateway, paid, stripe_signature(paid, SECRET))
    assert answer.json()["action"] == "signalled"
    handle = dev_env.client.get_workflow_handle(workflow_id)
    record = await handle.result()
    assert record["outcome"] == "resolved_externally"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED


@pytest.mark.parametrize("case", ["forged", "stale", "unsigned", "other_secret"])
async def test_bad_signatures_are_refused_and_start_nothing(
    gateway: httpx.AsyncClient, dev_env: WorkflowEnvironment, case: str
) -> None:
    invoice = f"in_{uuid.uuid4().hex[:14]}"
    body = stripe_event(
        "invoice.payment_failed", failed_invoice(invoice), f"evt_{uuid.uuid4().hex}"
    )
    signature = {
        "forged": stripe_signature(body, SECRET).replace("v1=", "v1=00"),
        "stale": stripe_signature(body, SECRET, timestamp=int(time.time()) - 3600),
        "unsigned": None,
        "other_secret": stripe_signature(body, "whsec_someone_else"),
    }[case]
    response = await post_event(gateway, body, signature)
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not await exists(dev_env, f"payment_failed:invoice:{invoice}")


async def test_malformed_and_unknown_events(gateway: httpx.AsyncClient) -> None:
    broken = b'{"id": "evt_1", "type": "invoice.payment_failed", "data": {'
    response = await post_event(gateway, broken, stripe_signature(broken, SECRET))
    assert response.status_code == 400 and "JSON" in response.json()["detail"]

    not_event = b"[1, 2, 3]"
    response = await post_event(gateway, not_event, stripe_signature(not_event, SECRET))
    assert response.status_code == 400

    other = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, "evt_other")
    response = await post_event(gateway, other, stripe_signature(other, SECRET))
    assert response.status_code == 200 and response.json()["action"] == "ignored"

    huge = b"{" + b" " * 300_000 + b"}"
    response = await post_event(gateway, huge, stripe_signature(huge, SECRET))
    assert response.status_code == 413


async def test_detection_api(gateway: httpx.AsyncClient, dev_env: WorkflowEnvironment) -> None:
    detection = {
        "source": "zapier",
        "subject": {"kind": "zap_run", "id": f"run-{uuid.uuid4().hex[:8]}"},
        "message": "Zap failed: HubSpot returned 502",
        "custom_field": {"kept": True},
    }
    assert (await gateway.post("/api/detections", json=detection)).status_code == 401
    wrong = await gateway.post(
        "/api/detections", json=detection, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    invalid = await gateway.post("/api/detections", json={"source": "zapier"}, headers=auth)
    assert invalid.status_code == 422
    assert any(err["loc"][-1] == "subject" for err in invalid.json()["detail"])

    accepted = await gateway.post("/api/detections", json=detection, headers=auth)
    assert accepted.status_code == 202, accepted.text
    workflow_id = accepted.json()["workflow_id"]
    assert workflow_id.startswith("unknown:zap_run:")
    status = await eventually(
        lambda: gateway.get(f"/api/remediations/{workflow_id}", headers=auth),
        lambda r: r.status_code == 200 and r.json()["state"] == "awaiting_human",
    )
    body = RemediationStatus.model_validate(status.json())
    assert body.error_type == "unknown"
    assert "HubSpot returned 502" in body.diagnosis.summary  # the raw error is echoed
    detected = body.timeline[0]
    assert detected.data["detection"]["custom_field"] == {"kept": True}
    missing = await gateway.get("/api/remediations/unknown:nope:nope", headers=auth)
    assert missing.status_code == 404


async def test_healthz_and_openapi(gateway: httpx.AsyncClient) -> None:
    health = (await gateway.get("/healthz")).json()
    assert health["ok"] and health["temporal"] == "connected"
    schema = (await gateway.get("/openapi.json")).json()
    assert {"/webhooks/stripe", "/slack/actions", "/api/detections"} <= set(schema["paths"])
    detection = schema["components"]["schemas"]["Detection"]
    assert detection["properties"]["subject"]


def test_no_route_waits_on_a_thread_for_its_dependencies() -> None:
    """FastAPI runs a plain ``def`` dependency in its thread pool: every dependency of every
    route (the settings, the Temporal client, the token checks, the signature checks) is a
    coroutine, so a webhook or a click never waits on a thread hop before its handler."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    app = create_app(Settings(stripe_webhook_secret=SECRET, api_token=TOKEN))

    def sync_dependencies(dependant: Dependant) -> list[str]:
        found = []
        for dependency in dependant.dependencies:
            call = dependency.call
            # A function, or an instance called through its class's __call__ (HTTPBearer).
            if not (
                inspect.iscoroutinefunction(call)
                or inspect.iscoroutinefunction(type(call).__call__)
            ):
                found.append(getattr(call, "__qualname__", repr(call)))
            found += sync_dependencies(dependency)
        return found

    def api_routes(routes: list[Any]) -> list[APIRoute]:
        # Included routers are kept as they were given (FastAPI includes them lazily).
        found = []
        for route in routes:
            if isinstance(route, APIRoute):
                found.append(route)
            elif (router := getattr(route, "original_router", None)) is not None:
                found += api_routes(router.routes)
        return found

    routes = api_routes(app.routes)
    assert {r.path for r in routes} >= {"/webhooks/stripe", "/slack/actions", "/api/detections"}
    waiting = {r.path: sync_dependencies(r.dependant) for r in routes}
    assert {path: found for path, found in waiting.items() if found} == {}
