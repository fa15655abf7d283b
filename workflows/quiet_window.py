"""QuietWindowWorkflow: one quiet window, from opening to its end.

While it runs, remediations that match it (checked before their first alert) ping nobody and
tell it they are muted; each keeps the window's end on a timer of its own, so they alert at the
end even if this workflow is gone. Ended early (``end``), it tells the remediations it muted,
which alert at once. Its memo holds the window for the remediations' lookup.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from canary.models import WINDOW_ENDED, ExternalEvent, QuietWindow

#: How many muted remediations a window remembers to tell of an early end (the rest still
#: alert at the window's planned end, on their own timers).
MAX_TOLD = 2000
#: The remediation's signal an early end arrives by (``RemediationWorkflow.external_event``).
EXTERNAL_EVENT = "external_event"


@workflow.defn(name="QuietWindowWorkflow")
class QuietWindowWorkflow:
    def __init__(self) -> None:
        self._window: QuietWindow | None = None
        self._muted: list[str] = []
        self._ending_by: str | None = None

    @workflow.run
    async def run(self, window: QuietWindow) -> QuietWindow:
        self._window = window
        remaining = window.ends_at - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(
                    lambda: self._ending_by is not None, timeout=remaining
                )
            except TimeoutError:
                pass
        if self._ending_by is not None:
            self._window = window.model_copy(
                update={"ended_at": workflow.now(), "ended_by": self._ending_by}
            )
            await self._tell_muted()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._window

    async def _tell_muted(self) -> None:
        """The remediations it muted alert now rather than at the planned end."""
        assert self._window is not None
        event = ExternalEvent(
            kind=WINDOW_ENDED,
            source=self._ending_by or "canary",
            event_id=f"{WINDOW_ENDED}:{self._window.id}",
            occurred_at=workflow.now(),
            evidence={"window": self._window.id},
        )

        async def tell(workflow_id: str) -> None:
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    EXTERNAL_EVENT, event
                )
            except Exception:  # noqa: BLE001 - closed meanwhile; its own timer covers it
                workflow.logger.info("remediation %s not told of the window's end", workflow_id)

        await asyncio.gather(*(tell(w) for w in self._muted))

    @workflow.signal
    def muted(self, workflow_id: str) -> None:
        """A remediation this window holds; told if the window ends early."""
        if workflow_id not in self._muted and len(self._muted) < MAX_TOLD:
            self._muted.append(workflow_id)

    @workflow.update
    def end(self, ended_by: str) -> QuietWindow:
        """End the window now: what it muted alerts at once."""
        self._ending_by = ended_by
        assert self._window is not None
        return self._window.model_copy(update={"ended_at": workflow.now(), "ended_by": ended_by})

    @end.validator
    def _end_once(self, ended_by: str) -> None:
        if self._window is None:
            raise ApplicationError("the window has not started yet")
        if self._ending_by is not None:
            raise ApplicationError(f"the window was already ended by {self._ending_by}")
        if not ended_by.strip():
            raise ApplicationError("say who ends the window")

    @workflow.query
    def window(self) -> QuietWindow | None:
        return self._window

    @workflow.query
    def muted_remediations(self) -> list[str]:
        return list(self._muted)
