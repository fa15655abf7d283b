"""Export a remediation's history and replay histories against the current workflow code.

This is how a team changes an SOP or the workflow safely: replay last month's cases before
deploying. A replay that fails with a nondeterminism error means running remediations
would break on the new code: guard the change with ``workflow.patched`` (the README's section
for contributors says when).

Histories of an encrypted deployment stay encrypted in an export; a replay decrypts them with
the keys of CANARY_PAYLOAD_KEYS (the data converter of canary.client).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from canary.client import data_converter
from canary.settings import get_settings


class ReplayOutcome(BaseModel):
    workflow_id: str
    run_id: str | None = None
    origin: str = Field(description="The file it came from, or 'temporal'.")
    result: Literal["ok", "non-deterministic", "failed"]
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.result == "ok"


async def export_history(client: Client, workflow_id: str, run_id: str | None = None) -> str:
    """The run's full history in Temporal's JSON format (what the Temporal CLI and UI
    download, and what ``WorkflowHistory.from_json`` reads back)."""
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    return history.to_json()


def history_from_file(path: Path) -> WorkflowHistory:
    """The file's stem names the workflow (``canary export ID -o ID.json``); the JSON
    history itself does not carry the workflow id."""
    return WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))


def history_files(target: Path) -> list[Path]:
    return sorted(target.glob("*.json")) if target.is_dir() else [target]


async def replay_histories(
    histories: AsyncIterator[tuple[WorkflowHistory, str]] | Sequence[tuple[WorkflowHistory, str]],
    workflows: Sequence[type] | None = None,
    converter: DataConverter | None = None,
) -> list[ReplayOutcome]:
    """Replay each (history, origin) with one Replayer (its workers are reused); ``converter``
    defaults to the one the settings give every client (with the payload keys, if any)."""
    if workflows is None:
        from workflows import WORKFLOWS

        workflows = WORKFLOWS
    if converter is None:
        converter = data_converter(get_settings())
    replayer = Replayer(workflows=list(workflows), data_converter=converter)
    outcomes: list[ReplayOutcome] = []

    async def pairs() -> AsyncIterator[tuple[WorkflowHistory, str]]:
        if isinstance(histories, Sequence):
            for pair in histories:
                yield pair
        else:
            async for pair in histories:
                yield pair

    async for history, origin in pairs():
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        failure = result.replay_failure
        if failure is None:
            verdict: Literal["ok", "non-deterministic", "failed"] = "ok"
        elif isinstance(failure, NondeterminismError):
            verdict = "non-deterministic"
        else:
            verdict = "failed"
        outcomes.append(
            ReplayOutcome(
                workflow_id=history.workflow_id,
                run_id=history.run_id if history.events else None,
                origin=origin,
                result=verdict,
                reason=None if failure is None else str(failure),
            )
        )
    return outcomes


async def histories_from_temporal(
    client: Client, workflow_ids: Sequence[str] = (), query: str | None = None
) -> AsyncIterator[tuple[WorkflowHistory, str]]:
    """Histories fetched from Temporal: the latest run of each id, then every run matching
    the visibility query (streamed, so a month of cases is not held in memory at once)."""
    for workflow_id in workflow_ids:
        yield await client.get_workflow_handle(workflow_id).fetch_history(), "temporal"
    if query:
        async for history in client.list_workflows(query).map_histories():
            yield history, "temporal"
