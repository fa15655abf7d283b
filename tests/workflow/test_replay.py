"""Recorded histories replay against the current workflow code (regenerate: make histories).

tests/histories/ is what `make histories` records with the current code (detectors/ holds
the detector workflows' own, replayed by their tests). A recorded history holds no patch
markers: Canary has not been released, so its workflows carry no `workflow.patched()` yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from canary.catalog import load_catalog
from canary.converter import canary_data_converter
from starter.replay import replay_histories
from tests.wall_clock import WallClockWorkflow
from worker import WORKFLOW_RUNNER
from workflows import RemediationWorkflow

ROOT = Path(__file__).parents[1] / "histories"


def _workflow_type(path: Path) -> str:
    started = json.loads(path.read_text())["events"][0]
    return str(started["workflowExecutionStartedEventAttributes"]["workflowType"]["name"])


# Other workflows' histories (tests/histories/detectors/) are replayed by their own tests.
HISTORIES = sorted(p for p in ROOT.rglob("*.json") if _workflow_type(p) == "RemediationWorkflow")
CURRENT = {p.stem for p in HISTORIES}
PATHS = (
    "auto_resolved",
    "approved",
    "escalated",
    "dismissed",
    "expired",
    "resolved_externally",
    "continued_as_new",
)


@pytest.mark.parametrize("path", PATHS)
def test_every_path_is_recorded(path: str) -> None:
    assert any(path in name for name in CURRENT), f"no recorded history for {path}"


def test_every_catalog_type_is_recorded() -> None:
    missing = [
        sop.type
        for sop in load_catalog().sops
        if not any(name.startswith(f"{sop.type}-") for name in CURRENT)
    ]
    assert not missing, f"no recorded history for {missing}: run `make histories`"


def test_a_continued_remediation_is_recorded_run_by_run() -> None:
    for name in CURRENT:
        if "continued_as_new" in name and "-run" not in name:
            assert f"{name}-run2" in CURRENT, f"{name}: its second run is not recorded"


def test_no_history_holds_a_patch_marker() -> None:
    """Before the first release, a workflow change re-records the histories instead of
    patching: no marker, no TemporalChangeVersion search attribute."""
    for path in sorted(ROOT.rglob("*.json")):
        text = path.read_text()
        assert "core_patch" not in text, f"{path.name} records a workflow.patched() marker"
        assert "TemporalChangeVersion" not in text, f"{path.name} upserts TemporalChangeVersion"


@pytest.mark.parametrize(
    "path", HISTORIES, ids=[str(p.relative_to(ROOT).with_suffix("")) for p in HISTORIES]
)
async def test_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[RemediationWorkflow], data_converter=canary_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name} no longer replays: {result.replay_failure}"


async def test_the_replays_catch_what_the_worker_no_longer_guards(
    skip_env: WorkflowEnvironment,
) -> None:
    """The worker runs workflows unsandboxed (worker.WORKFLOW_RUNNER): a workflow reading
    the wall clock runs there. Replaying its history as these tests and `canary replay` do
    refuses it — that strict sandbox is the guard kept."""
    async with Worker(
        skip_env.client,
        task_queue="wall-clock",
        workflows=[WallClockWorkflow],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await skip_env.client.start_workflow(
            WallClockWorkflow.run, id="wall-clock", task_queue="wall-clock"
        )
        assert await handle.result()
        history = await handle.fetch_history()
    outcomes = await replay_histories([(history, "wall-clock")], workflows=[WallClockWorkflow])
    assert not outcomes[0].ok
    assert "datetime.datetime.now" in (outcomes[0].reason or "")
