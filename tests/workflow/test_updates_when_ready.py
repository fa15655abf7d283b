"""An update sent while the workflow's last task failed: Temporal refuses it as not ready,
Canary sends it again until the task runs, and says so plainly when it never does."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from google.protobuf import any_pb2
from temporalio import workflow
from temporalio.api.common.v1 import GrpcStatus
from temporalio.api.enums.v1 import EventType
from temporalio.api.errordetails.v1 import NotFoundFailure, WorkflowNotReadyFailure
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from canary.models import ActionRequest
from starter.intake import take_action
from starter.updates import execute_update_when_ready, workflow_not_ready

#: The ids of FailingTasks workflows whose tasks the worker fails (a bad deploy would).
BROKEN: set[str] = set()


@workflow.defn(sandboxed=False)
class FailingTasks:
    """Waits forever and answers pokes; a poke fails its workflow task while the workflow's
    id is in BROKEN, as a worker that cannot run it would."""

    def __init__(self) -> None:
        self.pokes = 0

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)

    @workflow.update
    def poke(self, who: str) -> str:
        if workflow.info().workflow_id in BROKEN:
            raise RuntimeError("this worker cannot run the task")
        self.pokes += 1
        return f"{who} poked ({self.pokes} in all)"


async def test_an_update_sent_while_its_task_fails_lands_once_the_task_runs(
    dev_env: WorkflowEnvironment,
) -> None:
    queue = f"not-ready-{uuid.uuid4().hex[:6]}"
    async with Worker(
        dev_env.client,
        task_queue=queue,
        workflows=[FailingTasks],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await dev_env.client.start_workflow(
            FailingTasks.run, id=f"failing-{uuid.uuid4().hex}", task_queue=queue
        )
        BROKEN.add(handle.id)

        async def repaired() -> None:
            await asyncio.sleep(0.5)
            BROKEN.discard(handle.id)

        repairing = asyncio.create_task(repaired())
        answer = await execute_update_when_ready(handle, FailingTasks.poke, "dana", id="click-1")
        await repairing
        assert answer == "dana poked (1 in all)"
        failed = EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        assert any([e.event_type == failed async for e in handle.fetch_history_events()])
        # The same update id again is the same update: answered, not run twice.
        again = await execute_update_when_ready(handle, FailingTasks.poke, "dana", id="click-1")
        assert again == answer
        accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        events = [e async for e in handle.fetch_history_events()]
        assert sum(e.event_type == accepted for e in events) == 1
        await handle.terminate("test over")


def refusal(detail: Any, status: RPCStatusCode = RPCStatusCode.FAILED_PRECONDITION) -> RPCError:
    """An RPC error as the SDK raises it from Temporal's gRPC status with one detail."""
    packed = any_pb2.Any()
    packed.Pack(detail)
    grpc = GrpcStatus(code=status.value, message="refused", details=[packed])
    return RPCError("refused", status, grpc.SerializeToString())


class NeverReady:
    """A workflow handle whose workflow never runs a task again."""

    def __init__(self, error: RPCError) -> None:
        self.error = error
        self.tries: list[str | None] = []

    async def execute_update(self, update: Any, *, args: Any = (), id: str | None = None) -> Any:
        self.tries.append(id)
        raise self.error

    def get_workflow_handle(self, workflow_id: str) -> NeverReady:
        return self


def test_only_temporals_not_ready_detail_counts_as_not_ready() -> None:
    assert workflow_not_ready(refusal(WorkflowNotReadyFailure()))
    # Failed precondition for another reason (a closed workflow), or not found: not retried.
    assert not workflow_not_ready(refusal(NotFoundFailure()))
    assert not workflow_not_ready(refusal(WorkflowNotReadyFailure(), RPCStatusCode.NOT_FOUND))


async def test_a_workflow_never_ready_is_given_up_on_with_one_update_id() -> None:
    handle = NeverReady(refusal(WorkflowNotReadyFailure()))
    with pytest.raises(RPCError):
        await execute_update_when_ready(handle, FailingTasks.poke, "x", within=0.7)  # type: ignore[arg-type]
    # Sent at 0, 0.2 and 0.6 s; the next wait (0.8 s) would end past the 0.7 s allowed.
    assert len(handle.tries) == 3 and len(set(handle.tries)) == 1


async def test_another_refusal_is_not_sent_again() -> None:
    handle = NeverReady(refusal(NotFoundFailure(), RPCStatusCode.NOT_FOUND))
    with pytest.raises(RPCError):
        await execute_update_when_ready(handle, FailingTasks.poke, "x", within=0.5)  # type: ignore[arg-type]
    assert len(handle.tries) == 1


async def test_a_click_on_a_remediation_never_ready_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("starter.updates.READY_WITHIN", 0.1)
    client = NeverReady(refusal(WorkflowNotReadyFailure()))
    request = ActionRequest(action="retry", user="U0ALICE", source="slack")
    result = await take_action(client, "payment_failed:invoice:in_1", request, "click-7")  # type: ignore[arg-type]
    assert not result.accepted
    assert result.message.startswith("This remediation cannot take actions right now")
    assert set(client.tries) == {"click-7"}
