"""Workflow updates that wait out a failing workflow task.

Temporal refuses an update with ``WorkflowNotReadyFailure`` (gRPC FAILED_PRECONDITION) while
the workflow's last task failed and is being tried again: a worker restarting mid-deploy, a
task that timed out on a busy worker. The workflow is still open and the update was never
admitted, so sending it again (with the same update id, which Temporal deduplicates) is
safe, and a click or a ``canary windows end`` succeeds a moment later instead of failing
with a raw RPC error. Past READY_WITHIN the caller is told the workflow is not ready.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio.api.errordetails.v1 import WorkflowNotReadyFailure
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

#: How long an update is sent again while its workflow is not ready. Temporal tries a failed
#: task again at once, then after a backoff of ten seconds or more, and may hold an update
#: while the task fails (about 20 s) before refusing it. A click is acknowledged to Slack
#: before its update is sent, and a form answers later, so either can wait this long.
READY_WITHIN = 45.0
#: The first wait before sending it again; each next one doubles, up to MAX_WAIT.
FIRST_WAIT = 0.2
MAX_WAIT = 4.0


def workflow_not_ready(err: RPCError) -> bool:
    """Whether Temporal refused a call because the workflow's last task failed."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION and any(
        detail.Is(WorkflowNotReadyFailure.DESCRIPTOR) for detail in err.grpc_status.details
    )


async def execute_update_when_ready(
    handle: WorkflowHandle[Any, Any],
    update: Any,
    *args: Any,
    id: str | None = None,
    within: float | None = None,
) -> Any:
    """``handle.execute_update(update, *args)``, sent again with the same update id while
    the workflow is not ready, for up to ``within`` seconds (default READY_WITHIN); any
    other error, and the not-ready refusal past that, is raised."""
    update_id = id or str(uuid.uuid4())
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + (READY_WITHIN if within is None else within)
    wait = FIRST_WAIT
    while True:
        try:
            return await handle.execute_update(update, args=args, id=update_id)
        except RPCError as err:
            if not workflow_not_ready(err) or loop.time() + wait > give_up_at:
                raise
        await asyncio.sleep(wait)
        wait = min(wait * 2, MAX_WAIT)
