"""DigestWorkflow: one owner's daily digest.

One per owner, started by the first remediation that routes to it. Lower-severity
remediations add themselves instead of posting an alert; once a day (at the configured hour,
UTC) the digest posts one Slack message listing the items that are still open, with each
item's buttons, then ends (the next item starts a fresh one).
    Signals:  ``add(DigestItem)``      an item (re-adding the same remediation replaces it).
    Updates:  ``flush() -> DigestFlushResult``  post now instead of waiting for the hour.
    Queries:  ``pending() -> list[DigestItem]``  what the next digest would list.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import DigestActivities, SlackActivities
    from canary.blocks import digest_blocks, digest_text
    from canary.models import SlackMessageInput, SlackRef
    from canary.models.detectors import (
        DigestFlushResult,
        DigestInput,
        DigestItem,
        DigestStatesInput,
    )
    from canary.rules.digest import next_flush

from workflows.policies import SLACK_RETRY, SLACK_TIMEOUT

# A digest that has flushed this often hands over to a fresh run (small histories).
FLUSHES_PER_RUN = 30


@workflow.defn(name="DigestWorkflow")
class DigestWorkflow:
    @workflow.init
    def __init__(self, input: DigestInput) -> None:
        self._input = input
        self._pending: dict[str, DigestItem] = {i.workflow_id: i for i in input.pending}
        self._flush_requested = False
        self._flushes = input.flushes
        self._last = DigestFlushResult(posted=False)
        self._flush_count = 0  # every flush, posted or not, so a waiting update always wakes

    @workflow.run
    async def run(self, input: DigestInput) -> DigestFlushResult:
        flushed_here = 0
        while True:
            now = workflow.now()
            due = next_flush(now, input.hour_utc)
            try:
                await workflow.wait_condition(lambda: self._flush_requested, timeout=due - now)
            except TimeoutError:
                pass
            await self._flush()
            flushed_here += 1
            if not self._pending:
                # Nothing waits for the next digest: end here, and the next item starts a new
                # run (signal-with-start). A flush update in flight gets its answer first.
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._last
            if flushed_here >= FLUSHES_PER_RUN or workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    input.model_copy(
                        update={"pending": list(self._pending.values()), "flushes": self._flushes}
                    )
                )

    async def _flush(self) -> None:
        self._flush_requested = False
        try:
            await self._post_digest()
        finally:
            self._flush_count += 1

    async def _post_digest(self) -> None:
        batch = list(self._pending.values())
        if not batch:
            self._last = DigestFlushResult(posted=False)
            return
        states = await workflow.execute_activity_method(
            DigestActivities.digest_states,
            DigestStatesInput(workflow_ids=[i.workflow_id for i in batch]),
            start_to_close_timeout=SLACK_TIMEOUT,
            retry_policy=SLACK_RETRY,
        )
        still_open = [
            i.model_copy(update={"headline": states.open[i.workflow_id] or i.headline})
            for i in batch
            if i.workflow_id in states.open
        ]
        dropped = [i.workflow_id for i in batch if i.workflow_id not in states.open]
        posted = False
        if still_open:
            self._flushes += 1
            day = workflow.now().date().isoformat()
            message = await workflow.execute_activity_method(
                SlackActivities.post_slack,
                SlackMessageInput(
                    workflow_id=workflow.info().workflow_id,
                    channel=self._input.channel,
                    text=digest_text(self._input, still_open),
                    blocks=digest_blocks(self._input, still_open, day),
                    metadata_key=f"{workflow.info().workflow_id}/{workflow.info().run_id[:8]}/"
                    f"{self._flushes}",
                ),
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
            posted = True
            # Each listed remediation learns where its buttons now are too: the gateway
            # accepts a click only on a message that carries that remediation's buttons.
            where = SlackRef(channel=message.channel, ts=message.ts)
            await asyncio.gather(*(self._tell_posted(i.workflow_id, where) for i in still_open))
        for item in batch:
            # Only what this flush looked at leaves; items added meanwhile wait for the next.
            if self._pending.get(item.workflow_id) is item:
                del self._pending[item.workflow_id]
        self._last = DigestFlushResult(
            posted=posted, items=[i.workflow_id for i in still_open], dropped=dropped
        )

    async def _tell_posted(self, workflow_id: str, where: SlackRef) -> None:
        try:
            await workflow.get_external_workflow_handle(workflow_id).signal("digest_posted", where)
        except FailureError:
            pass  # closed since its state was read: nobody can click it any more

    @workflow.signal
    def add(self, item: DigestItem) -> None:
        if item.added_at is None:
            item = item.model_copy(update={"added_at": workflow.now()})
        self._pending[item.workflow_id] = item

    @workflow.update
    async def flush(self) -> DigestFlushResult:
        before = self._flush_count
        self._flush_requested = True
        await workflow.wait_condition(lambda: self._flush_count > before)
        return self._last

    @workflow.query
    def pending(self) -> list[DigestItem]:
        return list(self._pending.values())
