"""Long reports are kept, not refused: a workflow tool does not retry a 4xx, so a refused
report is a lost error. A message over the limit is accepted, cut with "…", and its full size
and SHA-256 hash are recorded; the gateway's body-size limit still answers 413.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import RemediationStatus
from canary.models.detection import MESSAGE_LIMIT
from canary.settings import Settings
from starter.gateway.app import create_app
from tests.fakes import FakeServices
from tests.helpers import eventually
from workflows import RemediationWorkflow

INTAKE = "intake-token-long-reports-0123456789abcdef"
READ = "read-token-long-reports-0123456789abcdef"
BODY_LIMIT = 200_000


@dataclass
class Gateway:
    http: httpx.AsyncClient
    queue: str

    async def report(self, body: dict[str, Any] | bytes) -> httpx.Response:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post(
            "/api/detections",
            content=content,
            headers={"Authorization": f"Bearer {INTAKE}", "Content-Type": "application/json"},
        )

    async def status(
        self, workflow_id: str, ready: Any = lambda s: s.state == "awaiting_human"
    ) -> RemediationStatus:
        async def read() -> RemediationStatus | None:
            response = await self.http.get(
                f"/api/remediations/{workflow_id}", headers={"Authorization": f"Bearer {READ}"}
            )
            return (
                RemediationStatus.model_validate(response.json()) if response.is_success else None
            )

        found = await eventually(read, lambda s: s is not None and ready(s))
        assert found is not None
        return found


@pytest.fixture(scope="module")
async def gateway(dev_env: WorkflowEnvironment) -> AsyncIterator[Gateway]:
    queue = f"long-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        task_queue=queue, intake_tokens=INTAKE, read_tokens=READ, max_body_bytes=BODY_LIMIT
    )
    app = create_app(settings, temporal=dev_env.client)
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=FakeServices().all(),
    ):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Gateway(http, queue)


def zap_failure(message: str, subject: str | None = None) -> dict[str, Any]:
    return {
        "source": "zapier",
        "subject": {"kind": "zap_run", "id": subject or f"run-{uuid.uuid4().hex[:10]}"},
        "message": message,
    }


def a_stack_trace(size: int) -> str:
    """A long error as a workflow tool sends one, non-ASCII included, exactly ``size`` long."""
    line = "Traceback: HubSpot returned 502 — réessayez plus tard 😠\n"
    return (line * (size // len(line) + 1))[:size]


def reported(status: RemediationStatus) -> dict[str, Any]:
    detection: dict[str, Any] = status.timeline[0].data["detection"]
    return detection


@pytest.mark.parametrize("size", [MESSAGE_LIMIT + 1, 10_000, 20_001, 100_000])
async def test_a_long_message_is_accepted_and_kept_cut_with_its_size_and_hash(
    gateway: Gateway, size: int
) -> None:
    message = a_stack_trace(size)
    accepted = await gateway.report(zap_failure(message))
    assert accepted.status_code == 202, accepted.text[:300]

    kept = reported(await gateway.status(accepted.json()["workflow_id"]))
    assert len(kept["message"]) == MESSAGE_LIMIT
    assert kept["message"] == message[: MESSAGE_LIMIT - 1] + "…"
    assert kept["message_size"] == size
    assert kept["message_sha256"] == hashlib.sha256(message.encode()).hexdigest()


async def test_a_message_at_the_limit_is_kept_whole(gateway: Gateway) -> None:
    message = a_stack_trace(MESSAGE_LIMIT)
    accepted = await gateway.report(zap_failure(message))
    assert accepted.status_code == 202, accepted.text[:300]
    kept = reported(await gateway.status(accepted.json()["workflow_id"]))
    assert kept["message"] == message
    assert kept["message_size"] is None and kept["message_sha256"] is None


async def test_two_long_reports_alike_at_the_start_are_two_occurrences(gateway: Gateway) -> None:
    """Cut to the same first characters, they still differ: the second is not taken for a
    redelivery of the first."""
    subject = f"run-{uuid.uuid4().hex[:10]}"
    head = a_stack_trace(5_000)
    first = await gateway.report(zap_failure(head + " (first run)", subject))
    assert first.status_code == 202
    workflow_id = first.json()["workflow_id"]
    await gateway.status(workflow_id)
    second = await gateway.report(zap_failure(head + " (second run)", subject))
    assert second.status_code == 202 and second.json()["workflow_id"] == workflow_id
    await gateway.status(workflow_id, ready=lambda s: s.occurrences == 2)


async def test_a_body_over_the_gateway_limit_is_still_refused(
    gateway: Gateway, dev_env: WorkflowEnvironment
) -> None:
    before = (await dev_env.client.count_workflows(f"TaskQueue = '{gateway.queue}'")).count
    refused = await gateway.report(zap_failure("x" * (BODY_LIMIT + 1)))
    assert refused.status_code == 413
    after = (await dev_env.client.count_workflows(f"TaskQueue = '{gateway.queue}'")).count
    assert after == before
