"""Quiet windows, as a remediation meets them: before its first alert, whether an open
window mutes it (the window is told, and tells it if it ends early)."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import WindowActivities

from workflows.ids import window_workflow_id
from workflows.policies import WINDOWS_RETRY, WINDOWS_TIMEOUT, cause
from workflows.remediation.context import Remediation


async def check_quiet_windows(r: Remediation) -> None:
    """Before the first alert: does an open quiet window mute this remediation? If so,
    the window is told (it tells this one if it ends early)."""
    state = r.state
    read = r.investigated_windows
    if read is not None and read[0] == workflow.now():
        found = read[1]  # the investigation read them, in this same workflow task
    else:
        try:
            found = await workflow.execute_local_activity_method(
                WindowActivities.quiet_windows,
                start_to_close_timeout=WINDOWS_TIMEOUT,
                retry_policy=WINDOWS_RETRY,
            )
        except FailureError as err:
            state.windows_checked = True
            r.record(
                "state",
                f"Could not read the quiet windows ({cause(err)}): alerting as usual",
                thread=False,
            )
            return
    state.mute_for(workflow.now(), found.windows, state.account)
    if state.window is None:
        return
    try:
        await workflow.get_external_workflow_handle(window_workflow_id(state.window.id)).signal(
            "muted", r.workflow_id
        )
    except FailureError:
        # The window's workflow is gone (ended early, its listing not caught up yet): the
        # window is over, and people are told as usual.
        state.end_window(workflow.now())
