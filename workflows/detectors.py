"""Detector runs and owners' daily digests.

``DetectorWorkflow`` — one run of one detector, started by its Temporal Schedule (or by
``run_detectors_once``): query (activity) → compare (pure rules, here in the workflow) → route
each finding to the account team (activity) → raise it (activity: signal-with-start of the
subject's remediation). Returns how many it checked and raised.
    No signals, updates or queries: a run is short, and its result and current details say
    what it found.

``DigestWorkflow`` — one per owner, started by the first remediation that routes to it.
Lower-severity remediations add themselves instead of posting an alert; once a day (at the
configured hour, UTC) the digest posts one Slack message listing the items that are still
open, with each item's buttons, then ends (the next item starts a fresh one).
    Signals:  ``add(DigestItem)``      an item (re-adding the same remediation replaces it).
    Updates:  ``flush() -> DigestFlushResult``  post now instead of waiting for the hour.
    Queries:  ``pending() -> list[DigestItem]``  what the next digest would list.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from canary.blocks import digest_blocks, digest_text
    from canary.models import SlackMessageInput, SlackMessageOutput
    from canary.models.detectors import (
        AccountTeamInput,
        AccountTeamOutput,
        DetectorQueryInput,
        DetectorQueryOutput,
        DetectorRunInput,
        DetectorRunResult,
        DigestFlushResult,
        DigestInput,
        DigestItem,
        DigestStatesInput,
        DigestStatesOutput,
        RaiseInput,
        RaiseOutput,
    )
    from canary.rules import evaluate, route, to_detection
    from canary.rules.digest import next_flush

QUERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)
RAISE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=8,
)
SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
QUERY_TIMEOUT = timedelta(minutes=2)
RAISE_TIMEOUT = timedelta(seconds=30)
SLACK_TIMEOUT = timedelta(seconds=20)


def _cause(err: BaseException) -> str:
    """The innermost message of an activity failure: what a person needs to read."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    return err.message if isinstance(err, ApplicationError) else str(err)


# A digest that has flushed this often hands over to a fresh run (small histories).
FLUSHES_PER_RUN = 30


@workflow.defn(name="DetectorWorkflow")
class DetectorWorkflow:
    @workflow.run
    async def run(self, input: DetectorRunInput) -> DetectorRunResult:
        spec = input.detector
        as_of = input.as_of or workflow.now()
        workflow.set_current_details(f"Querying for {spec.title}…")
        queried: DetectorQueryOutput = await workflow.execute_activity(
            "canary.detector_query",
            DetectorQueryInput(detector=spec, as_of=as_of),
            result_type=DetectorQueryOutput,
            start_to_close_timeout=QUERY_TIMEOUT,
            retry_policy=QUERY_RETRY,
        )
        result = evaluate(spec, queried.rows, as_of.date())
        findings = result.findings
        crm_ids = sorted({f.account.crm_id for f in findings if f.account.crm_id})
        if crm_ids:
            team: AccountTeamOutput = await workflow.execute_activity(
                "canary.account_team",
                AccountTeamInput(crm_ids=crm_ids),
                result_type=AccountTeamOutput,
                start_to_close_timeout=QUERY_TIMEOUT,
                retry_policy=QUERY_RETRY,
            )
            findings = [
                route(f, team.teams.get(f.account.crm_id or ""), spec.route_to) for f in findings
            ]
        outcomes = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "canary.raise_detection",
                    RaiseInput(
                        detection=to_detection(spec, finding, as_of),
                        search_attributes=input.search_attributes,
                    ),
                    result_type=RaiseOutput,
                    start_to_close_timeout=RAISE_TIMEOUT,
                    retry_policy=RAISE_RETRY,
                )
                for finding in findings
            ),
            return_exceptions=True,
        )
        # One finding that cannot be raised must not hide the others: it is reported as
        # failed, and the next scheduled run finds it again.
        raised = [o for o in outcomes if isinstance(o, RaiseOutput)]
        failed = [
            f"{finding.subject.kind}:{finding.subject.id}: {_cause(o)}"
            for finding, o in zip(findings, outcomes, strict=True)
            if isinstance(o, BaseException)
        ]
        summary = f"{spec.title}: checked {result.checked}, raised {len(raised)}"
        if result.skipped:
            summary += f", skipped {len(result.skipped)}"
        if failed:
            summary += f", failed {len(failed)}"
        workflow.set_current_details(
            "\n".join(
                [f"**{summary}**"]
                + [f"- raised `{r.workflow_id}`" for r in raised]
                + [f"- skipped {s.subject_id}: {s.reason}" for s in result.skipped]
                + [f"- failed {f}" for f in failed]
            )
        )
        return DetectorRunResult(
            detector_id=spec.id,
            kind=spec.kind,
            as_of=as_of,
            checked=result.checked,
            raised=len(raised),
            workflow_ids=[r.workflow_id for r in raised],
            skipped=result.skipped,
            failed=failed,
        )


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
        states: DigestStatesOutput = await workflow.execute_activity(
            "canary.digest_states",
            DigestStatesInput(workflow_ids=[i.workflow_id for i in batch]),
            result_type=DigestStatesOutput,
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
            await workflow.execute_activity(
                "canary.post_slack",
                SlackMessageInput(
                    workflow_id=workflow.info().workflow_id,
                    channel=self._input.channel,
                    text=digest_text(self._input, still_open),
                    blocks=digest_blocks(self._input, still_open, day),
                    metadata_key=f"{workflow.info().workflow_id}/{workflow.info().run_id[:8]}/"
                    f"{self._flushes}",
                ),
                result_type=SlackMessageOutput,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
            posted = True
        for item in batch:
            # Only what this flush looked at leaves; items added meanwhile wait for the next.
            if self._pending.get(item.workflow_id) is item:
                del self._pending[item.workflow_id]
        self._last = DigestFlushResult(
            posted=posted, items=[i.workflow_id for i in still_open], dropped=dropped
        )

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
