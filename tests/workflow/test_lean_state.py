"""A remediation waiting on people, cached by its worker, keeps its models lean: they share
their classes' sets of field names (``canary.models.field_sets``), and remediations of one
SOP share its parts of their pinned diagnoses (``canary.models.shared_parts``)."""

from __future__ import annotations

import gc
import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.models.field_sets import AllFields
from tests.fakes import FakeServices
from tests.helpers import until
from tests.workflow.test_home_entry import start_payment_failed
from worker import WORKFLOW_RUNNER
from workflows import RemediationWorkflow

pytestmark = pytest.mark.asyncio


async def test_a_waiting_remediation_shares_its_models_field_sets(
    skip_env: WorkflowEnvironment,
) -> None:
    fake = FakeServices()
    queue = f"lean-{uuid.uuid4().hex[:6]}"
    # The worker's own runner (no sandbox): the instance found below is the one it runs.
    async with Worker(
        skip_env.client,
        task_queue=queue,
        workflows=[RemediationWorkflow],
        activities=fake.all(),
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await start_payment_failed(skip_env, queue)
        await waiting_on_people(handle)
        remediation = cached(handle.id)
        assert remediation is not None
        state = remediation.r.state
        assert state.diagnosis is not None
        kept = [*state.timeline, state.diagnosis, *state.diagnosis.actions, *state.diagnosis.steps]
        assert all(isinstance(m.__pydantic_fields_set__, AllFields) for m in kept)
        assert len({id(e.__pydantic_fields_set__) for e in state.timeline}) == 1
        # A second remediation of the same SOP holds the first one's copy of its buttons.
        other = await start_payment_failed(skip_env, queue)
        await waiting_on_people(other)
        second = cached(other.id)
        assert second is not None and second.r.state.diagnosis is not None
        assert second.r.state.diagnosis.actions is state.diagnosis.actions
        assert second.r.state.diagnosis.escalation is state.diagnosis.escalation


async def waiting_on_people(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the remediation has posted its alert and finished the workflow task that
    posted it. The worker runs activations on its own threads, so the alert can show in the
    state while that task is still on its way to the wait; a query is answered only once the
    task before it is done."""
    await until(lambda: (w := cached(handle.id)) is not None and w.r.state.slack is not None)
    await handle.query(RemediationWorkflow.status)


def cached(workflow_id: str) -> RemediationWorkflow | None:
    """The worker's instance of this remediation (the worker runs in this process)."""
    found = [
        o
        for o in gc.get_objects()
        if isinstance(o, RemediationWorkflow)
        and getattr(getattr(o, "r", None), "workflow_id", None) == workflow_id
    ]
    return found[0] if found else None
