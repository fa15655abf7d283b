"""DetectorWorkflow's own logic with stand-in activities (the real ones are exercised against
the sandboxes in test_detectors_live): query → compare → route → raise, and a finding that
cannot be raised is reported without hiding the others."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from canary.catalog import load_catalog
from canary.converter import canary_data_converter
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
from canary.rules.catalog import load_detectors
from workflows import DetectorWorkflow

pytestmark = pytest.mark.asyncio
SPEC = load_detectors(sops=load_catalog()).get("spend-shift")
# Recorded detector runs, replayed below; CANARY_RECORD_HISTORIES=1 rewrites them.
HISTORIES = Path(__file__).parents[1] / "histories" / "detectors"
AS_OF = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)


async def run_detector(
    env: WorkflowEnvironment, spec: Any, activities: list[Any], recording: str
) -> DetectorRunResult:
    """One DetectorWorkflow run with stand-in activities; CANARY_RECORD_HISTORIES=1 writes its
    history to tests/histories/detectors/<recording>.json."""
    queue = f"detector-{uuid.uuid4().hex[:6]}"
    async with Worker(
        env.client, task_queue=queue, workflows=[DetectorWorkflow], activities=activities
    ):
        handle = await env.client.start_workflow(
            DetectorWorkflow.run,
            DetectorRunInput(detector=spec, as_of=AS_OF, search_attributes=False),
            id=f"detector:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
            result_type=DetectorRunResult,
        )
        result = await handle.result()
        if os.environ.get("CANARY_RECORD_HISTORIES"):
            HISTORIES.mkdir(parents=True, exist_ok=True)
            history = await handle.fetch_history()
            target = HISTORIES / f"{recording}.json"
            target.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    return result


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

    assert SPEC is not None
    result = await run_detector(
        skip_env, SPEC, [query, team, raise_], "spend-shift-one-raised-one-failed"
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


async def test_sweep_raises_each_finding_as_its_own_type(skip_env: WorkflowEnvironment) -> None:
    """The unlinked-accounts sweep raises product accounts as account_unlinked and customers
    without any product account as app_account_missing, from one run."""
    sweep = load_detectors(sops=load_catalog()).get("unlinked-accounts")
    assert sweep is not None
    raised: list[RaiseInput] = []

    @activity.defn(name="canary.detector_query")
    async def query(request: DetectorQueryInput) -> DetectorQueryOutput:
        return DetectorQueryOutput(
            rows={
                "linked": [{"Id": "001G", "App_Account_Id__c": "app_globex"}],
                "customers": [
                    {
                        "Id": "001T",
                        "Name": "Tyrell",
                        "Domain__c": "tyrell.example",
                        "Type": "Customer - Direct",
                    }
                ],
                "app_accounts": [
                    {"app_account_id": "app_globex", "name": "Globex"},
                    {"app_account_id": "app_stark", "name": "Stark", "domain": "stark.example"},
                ],
            }
        )

    @activity.defn(name="canary.account_team")
    async def team(request: AccountTeamInput) -> AccountTeamOutput:
        return AccountTeamOutput(teams={"001T": AccountTeam(owner_email="gina@x.example")})

    @activity.defn(name="canary.raise_detection")
    async def raise_(request: RaiseInput) -> RaiseOutput:
        raised.append(request)
        d = request.detection
        workflow_id = f"{d.type}:{d.subject.kind}:{d.subject.id}"
        return RaiseOutput(workflow_id=workflow_id, error_type=d.type)

    result = await run_detector(
        skip_env, sweep, [query, team, raise_], "unlinked-accounts-two-types"
    )
    assert result.checked == 3 and result.raised == 2
    assert sorted(result.workflow_ids) == [
        "account_unlinked:app_account:app_stark",
        "app_account_missing:account:001T",
    ]
    tyrell = next(r.detection for r in raised if r.detection.subject.id == "001T")
    assert tyrell.account.owner_email == "gina@x.example"
    assert tyrell.source == "detector:unlinked-accounts"


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
async def test_recorded_detector_runs_replay(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[DetectorWorkflow], data_converter=canary_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"
