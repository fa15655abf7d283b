"""Quiet windows from the outside: open one, list the open ones, end one early.

A window is a ``QuietWindowWorkflow`` (id ``quiet-window:<id>``) whose memo holds the window,
so the remediations' lookup and ``canary windows list`` read it from Temporal's visibility
store without asking a worker.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.windows import MEMO_KEY, open_windows
from canary import search_attributes as sa
from canary.models import QuietWindow
from canary.settings import Settings
from starter.updates import execute_update_when_ready, workflow_not_ready
from workflows import QuietWindowWorkflow
from workflows.ids import window_workflow_id

_SHORT = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_SLUG = re.compile(r"[^a-z0-9]+")


class WindowError(ValueError):
    """A window that cannot be opened or ended, with the reason in words."""


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (a window's length as people type it)."""
    found = _SHORT.match(text.strip().lower())
    if not found:
        raise WindowError(f"{text!r} is not a duration like 30m, 12h, 7d or 2w")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def window_id_for(reason: str, starts_at: datetime) -> str:
    """A readable id: the reason's words and the start, ``hooli-billing-migration-20261205``."""
    slug = _SLUG.sub("-", reason.lower()).strip("-")[:60] or "window"
    return f"{slug}-{starts_at.astimezone(UTC):%Y%m%d%H%M}"


async def open_window(
    client: Client, window: QuietWindow, settings: Settings, search_attributes: bool = True
) -> str:
    """Start the window's workflow; its id. The same id twice is refused (end it first)."""
    try:
        handle = await client.start_workflow(
            QuietWindowWorkflow.run,
            window,
            id=window_workflow_id(window.id),
            task_queue=settings.task_queue,
            memo={MEMO_KEY: window.model_dump(mode="json")},
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes([SearchAttributePair(sa.KIND, sa.QUIET_WINDOW)])
            if search_attributes
            else None,
            static_summary=f"quiet window: {window.scope()} — {window.reason}"[:200],
        )
    except WorkflowAlreadyStartedError as exc:
        raise WindowError(f"a quiet window {window.id} is already open") from exc
    return handle.id


async def list_windows(client: Client) -> list[QuietWindow]:
    return await open_windows(client)


async def end_window(client: Client, window_id: str, ended_by: str) -> QuietWindow:
    """End a window now; what it muted alerts at once."""
    handle = client.get_workflow_handle(window_workflow_id(window_id), result_type=QuietWindow)
    try:
        ended: QuietWindow = await execute_update_when_ready(
            handle, QuietWindowWorkflow.end, ended_by
        )
    except WorkflowUpdateFailedError as exc:
        raise WindowError(f"could not end {window_id}: {exc.cause}") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise WindowError(f"no open quiet window {window_id}") from exc
        if workflow_not_ready(exc):
            raise WindowError(
                f"could not end {window_id} yet: its workflow's last task failed and Temporal "
                "is retrying it; try again in a minute"
            ) from exc
        raise
    return ended


def windows_table(windows: list[QuietWindow], now: datetime) -> str:
    rows = [
        f"{w.id}  {w.scope()}  {'open' if w.open_at(now) else 'starts'} "
        f"{w.starts_at:%Y-%m-%d %H:%M} → {w.end:%Y-%m-%d %H:%M} UTC  “{w.reason}” "
        f"(by {w.opener})"
        for w in windows
    ]
    return "\n".join(rows)
