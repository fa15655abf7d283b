"""Quiet windows: the remediation's lookup of the windows open now.

A window is a running ``QuietWindowWorkflow`` whose memo holds what it mutes (written when it
is opened, never changed: ending it early ends its workflow). Temporal's visibility store is
the only place windows live, so they need no database of Canary's own.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from pydantic import ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from activities.services import Services
from canary.models import QuietWindow, QuietWindows

#: Running windows: the ones that may mute something now or later.
OPEN_WINDOWS = "WorkflowType = 'QuietWindowWorkflow' AND ExecutionStatus = 'Running'"
#: The memo field that holds a window's definition.
MEMO_KEY = "window"
#: More windows than this open at once is a misuse; the lookup reads no further.
MAX_OPEN_WINDOWS = 200
#: How long one listing of the open windows serves a worker's new remediations.
CACHE_SECONDS = 5.0

log = logging.getLogger(__name__)


async def open_windows(client: Client) -> list[QuietWindow]:
    """The windows open now (or later), as their memos say; one that cannot be read (an old
    or hand-made memo) is left out and logged."""
    found: list[QuietWindow] = []
    async for execution in client.list_workflows(OPEN_WINDOWS, limit=MAX_OPEN_WINDOWS):
        memo = await execution.memo()
        try:
            found.append(QuietWindow.model_validate(memo.get(MEMO_KEY)))
        except ValidationError as exc:
            log.warning("quiet window %s unreadable: %s", execution.id, exc)
    return sorted(found, key=lambda w: (w.starts_at, w.id))


async def windows_between(client: Client, since: datetime, until: datetime) -> list[QuietWindow]:
    """The windows that were open at some time in [since, until): running ones and those
    whose workflow closed since (a window ended early ends when its workflow closed)."""
    stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = (
        "WorkflowType = 'QuietWindowWorkflow' AND "
        f"(ExecutionStatus = 'Running' OR CloseTime > '{stamp}')"
    )
    found: list[QuietWindow] = []
    async for execution in client.list_workflows(query, limit=MAX_OPEN_WINDOWS):
        memo = await execution.memo()
        try:
            window = QuietWindow.model_validate(memo.get(MEMO_KEY))
        except ValidationError as exc:
            log.warning("quiet window %s unreadable: %s", execution.id, exc)
            continue
        closed = execution.close_time
        if execution.status == WorkflowExecutionStatus.COMPLETED:
            # Its result is the window as it ended (early: when and by whom).
            handle = client.get_workflow_handle(execution.id, result_type=QuietWindow)
            window = await handle.result()
        elif closed is not None and closed < window.ends_at:
            # Terminated or failed: it stopped muting when its workflow closed.
            window = window.model_copy(update={"ended_at": max(closed, window.starts_at)})
        if window.starts_at < until and window.end > since:
            found.append(window)
    return sorted(found, key=lambda w: (w.starts_at, w.id))


class WindowActivities:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._cached: tuple[float, list[QuietWindow]] | None = None

    @activity.defn(name="canary.quiet_windows")
    async def quiet_windows(self) -> QuietWindows:
        """The quiet windows open now, for a remediation about to alert. One listing serves
        the worker's new remediations for a few seconds (a burst asks Temporal once); a window
        ended meanwhile is caught when the remediation tells it it is muted."""
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            self._cached = (now, await open_windows(self.services.require_temporal()))
        return QuietWindows(windows=list(self._cached[1]))
