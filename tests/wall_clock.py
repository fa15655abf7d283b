"""A workflow that breaks Temporal's rules on purpose: it reads the wall clock.

Canary's worker runs workflows without the SDK's workflow sandbox (worker); the replays
in `make test` and `canary replay` keep the strict sandbox, and
tests/workflow/test_replay.py uses this workflow to show they still catch such a mistake.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow


@workflow.defn
class WallClockWorkflow:
    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()  # workflow.now() is the deterministic one
