"""Regenerate the recorded histories in tests/histories/ (`make histories`).

Each scenario drives RemediationWorkflow down one path on the time-skipping server with the
same-name fake activities, then saves Temporal's JSON history. `tests/test_replay.py`
replays them against the current workflow code: a change that would break running
remediations fails there and must be guarded with `workflow.patched`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models import (
    ActionRequest,
    Detection,
    ExternalEvent,
    RemediationConfig,
    RemediationInput,
)
from canary.workflows import RemediationWorkflow
from tests.fakes import FakeServices

HERE = Path(__file__).parent / "histories"
Drive = Callable[[WorkflowEnvironment, WorkflowHandle], Awaitable[None]]


def _payment(decline: str, invoice: str) -> Detection:
    return Detection(
        id=f"evt_{invoice}",
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": invoice},
        account={
            "name": "Globex",
            "stripe_customer_id": "cus_rec",
            "owner_email": "alice@acme-gtm.example",
        },
        message="Your card was declined.",
        facts={"event_type": "invoice.payment_failed", "decline_code": decline},
    )


async def _approve(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(minutes=10))
    await handle.execute_update(
        RemediationWorkflow.act, ActionRequest(action="retry", user="U0ALICE")
    )


async def _dismiss(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(hours=5))  # past the first escalation step
    await handle.execute_update(
        RemediationWorkflow.act, ActionRequest(action="snooze", user="U0ALICE")
    )
    await env.sleep(timedelta(hours=2))
    await handle.execute_update(
        RemediationWorkflow.act, ActionRequest(action="dismiss", user="U0BOB", note="duplicate")
    )


async def _paid(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    await env.sleep(timedelta(minutes=30))
    await handle.signal(
        RemediationWorkflow.external_event,
        ExternalEvent(kind="invoice.paid", source="stripe", event_id="evt_paid"),
    )


async def _nothing(env: WorkflowEnvironment, handle: WorkflowHandle) -> None:
    return None


SCENARIOS: dict[str, tuple[Detection, list[bool], Drive]] = {
    "payment_failed-auto_resolved": (_payment("insufficient_funds", "in_auto"), [True], _nothing),
    "payment_failed-approved": (_payment("expired_card", "in_approved"), [True], _approve),
    "payment_failed-escalated-dismissed": (
        _payment("insufficient_funds", "in_dismiss"),
        [],
        _dismiss,
    ),
    "payment_failed-resolved_externally": (
        _payment("authentication_required", "in_paid"),
        [],
        _paid,
    ),
    "payment_failed-expired": (_payment("fraudulent", "in_expired"), [], _nothing),
    "unknown-expired": (
        Detection(
            id="run-1",
            source="zapier",
            subject={"kind": "zap_run", "id": "run-1"},
            message="Zap failed: HubSpot returned 502",
        ),
        [],
        _nothing,
    ),
}


async def record(dest: Path = HERE) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    test_server = Path(sys.executable).parent / "temporal-test-server"
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server), data_converter=pydantic_data_converter
    )
    written: list[Path] = []
    try:
        for name, (detection, pays, drive) in SCENARIOS.items():
            fake = FakeServices(pay_results=list(pays))
            async with Worker(
                env.client,
                task_queue="record",
                workflows=[RemediationWorkflow],
                activities=fake.all(),
            ):
                handle = await env.client.start_workflow(
                    RemediationWorkflow.run,
                    RemediationInput(
                        detection=detection, config=RemediationConfig(search_attributes=False)
                    ),
                    id=f"{name}",
                    task_queue="record",
                )
                await drive(env, handle)
                await handle.result()
                history = await handle.fetch_history()
            path = dest / f"{name}.json"
            path.write_text(history.to_json())
            written.append(path)
    finally:
        await env.shutdown()
    return written


if __name__ == "__main__":
    for path in asyncio.run(record()):
        print(path)
