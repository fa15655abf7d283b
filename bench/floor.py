"""The bare-Temporal floor Canary is measured against.

The least a Temporal-based alerter can do: a workflow that starts, runs one activity posting
to the sandbox's Slack, and waits for one update (or, with ``escalate_after``, for a timer,
after which it posts once more). Same dev server, same sandbox, same data converter, and the
same workflow runner (no workflow sandbox) and workflow cache bound as Canary's worker, so the
ratios compare like with like.

Run as ``python -m bench.floor`` (the benchmark does): the worker lives under the
``__main__`` guard, as any module defining workflows should (a sandbox re-imports it).
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    import httpx
    from pydantic import BaseModel

FLOOR_QUEUE = "bench-floor"
FLOOR_CHANNEL = "C0GENERAL"


class FloorInput(BaseModel):
    key: str
    escalate_after_seconds: float | None = None


class FloorPost(BaseModel):
    key: str
    text: str


class FloorApproval(BaseModel):
    user: str


class FloorPoster:
    """One activity: chat.postMessage to the sandbox's Slack, the key in the metadata."""

    def __init__(self, slack_api_url: str, token: str) -> None:
        self.url = slack_api_url.rstrip("/") + "/chat.postMessage"
        self.token = token
        self.http = httpx.AsyncClient(
            timeout=20, limits=httpx.Limits(max_connections=64, keepalive_expiry=2.0)
        )

    @activity.defn(name="floor.post")
    async def post(self, message: FloorPost) -> str:
        response = await self.http.post(
            self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            json={
                "channel": FLOOR_CHANNEL,
                "text": message.text,
                "metadata": {"event_type": "floor", "event_payload": {"key": message.key}},
            },
        )
        response.raise_for_status()
        return str(response.json()["ts"])


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    """Start → post to Slack → wait for ``approve`` (or the timer, then post again).

    Updates: ``approve(FloorApproval) -> str``.
    """

    def __init__(self) -> None:
        self._approved_by: str | None = None

    @workflow.run
    async def run(self, request: FloorInput) -> str:
        retry = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10)
        await workflow.execute_activity(
            "floor.post",
            FloorPost(key=f"{request.key}/floor/alert", text=f"floor alert {request.key}"),
            start_to_close_timeout=timedelta(seconds=20),
            retry_policy=retry,
        )
        timeout = (
            timedelta(seconds=request.escalate_after_seconds)
            if request.escalate_after_seconds
            else None
        )
        try:
            await workflow.wait_condition(lambda: self._approved_by is not None, timeout=timeout)
        except TimeoutError:
            await workflow.execute_activity(
                "floor.post",
                FloorPost(
                    key=f"{request.key}/floor/escalation/1", text=f"floor escalation {request.key}"
                ),
                start_to_close_timeout=timedelta(seconds=20),
                retry_policy=retry,
            )
            await workflow.wait_condition(lambda: self._approved_by is not None)
        return self._approved_by or ""

    @workflow.update
    async def approve(self, approval: FloorApproval) -> str:
        self._approved_by = approval.user
        return "approved"


async def run_floor_worker() -> None:
    from temporalio.client import Client
    from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
    from temporalio.worker import UnsandboxedWorkflowRunner, Worker

    from canary.converter import canary_data_converter
    from canary.settings import Settings

    # Its Temporal metrics (the workflow cache's hits and misses) where the bench reads them.
    bind = os.environ.get("BENCH_PROMETHEUS_BIND")
    runtime = (
        Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
        if bind
        else None
    )
    client = await Client.connect(
        os.environ["TEMPORAL_ADDRESS"], data_converter=canary_data_converter, runtime=runtime
    )
    poster = FloorPoster(os.environ["SLACK_API_URL"], os.environ["SLACK_BOT_TOKEN"])
    worker = Worker(
        client,
        task_queue=FLOOR_QUEUE,
        workflows=[FloorWorkflow],
        activities=[poster.post],
        workflow_runner=UnsandboxedWorkflowRunner(),  # as worker.WORKFLOW_RUNNER
        max_cached_workflows=int(
            os.environ.get(
                "BENCH_MAX_CACHED_WORKFLOWS", Settings.model_fields["max_cached_workflows"].default
            )
        ),
    )
    print(f"floor worker polling task queue {FLOOR_QUEUE!r}", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(run_floor_worker())
