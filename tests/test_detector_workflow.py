"""DetectorWorkflow's own logic with stand-in activities (the real ones are exercised against
the sandboxes in test_detectors_live): query → compare → route → raise, and a finding that
cannot be raised is reported without hiding the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from canary.catalog import load_catalog
from canary.detectors.catalog import load_detectors
from canary.models.detectors import (
    AccountTeam,
    AccountTeamInput,
    AccountTeamOutput,
    DetectorQueryInput,
    DetectorQueryOutput,
    DetectorRunInput,
    DetectorRunResult,
    RaiseInput,
    RaiseOutput,
)
from canary.workflows import DetectorWorkflow

pytestmark = pytest.mark.asyncio
SPEC = load_detectors(sops=load_catalog()).get("spend-shift")
AS_OF = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)


def series(app: str, crm: str, last: float) -> list[dict]:
    values = [1000, 1010, 990, 1005, 995, 1000, 1008, 992, last]
    return [
        {
            "app_account_id": app,
            "crm_id": crm,
            "account_name": app.title(),
            "period": (AS_OF.date() - timedelta(weeks=len(values) - i)).isoformat(),
            "value": v,
        }
        for i, v in enumerate(values)
    ]


async def test_query_compare_route_raise(skip_env: WorkflowEnvironment) -> None:
    raised: list[RaiseInput] = []
    queried: list[DetectorQueryInput] = []

    @activity.defn(name="canary.detector_query")
    async def query(request: DetectorQueryInput) -> DetectorQueryOutput:
        queried.append(request)
        rows = (
            series("drop", "001A", 100) + series("rise", "001B", 3000) + series("ok", "001C", 999)
        )
        return DetectorQueryOutput(rows={"rows": rows})

    @activity.defn(name="canary.account_team")
    async def team(request: AccountTeamInput) -> AccountTeamOutput:
        assert request.crm_ids == ["001A", "001B"]  # only accounts with findings
        return AccountTeamOutput(
            teams={
                c: AccountTeam(owner_email=f"ae-{c}@x.example", owner_manager_email="m@x.example")
                for c in request.crm_ids
            }
        )

    @activity.defn(name="canary.raise_detection")
    async def raise_(request: RaiseInput) -> RaiseOutput:
        if request.detection.account.crm_id == "001B":
            raise ApplicationError("Temporal refused the start", non_retryable=True)
        raised.append(request)
        subject = request.detection.subject
        return RaiseOutput(workflow_id=f"account_shift:{subject.kind}:{subject.id}", error_type="x")

    queue = f"detector-{uuid.uuid4().hex[:6]}"
    assert SPEC is not None
    async with Worker(
        skip_env.client,
        task_queue=queue,
        workflows=[DetectorWorkflow],
        activities=[query, team, raise_],
    ):
        result = await skip_env.client.execute_workflow(
            DetectorWorkflow.run,
            DetectorRunInput(detector=SPEC, as_of=AS_OF, search_attributes=False),
            id=f"detector:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            result_type=DetectorRunResult,
        )
    assert queried[0].as_of == AS_OF
    assert result.checked == 3 and result.raised == 1
    assert result.workflow_ids == ["account_shift:account_metric:001A.weekly_spend"]
    assert len(result.failed) == 1 and "001B" in result.failed[0]
    assert "Temporal refused the start" in result.failed[0]
    detection = raised[0].detection
    assert detection.type == "account_shift" and detection.facts["direction"] == "down"
    assert detection.account.owner_email == "ae-001A@x.example"
    assert detection.facts["manager_email"] == "m@x.example"
    assert detection.id == "spend-shift:account_metric:001A.weekly_spend:2026-11-18"
