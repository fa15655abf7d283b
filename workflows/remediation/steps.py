"""Running SOP steps: each through the generic ``canary.run_step`` activity, under an attempt
key derived from the remediation and the step's run, so a retried or replayed step never
repeats its side effect (the key becomes the idempotency key)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from activities import StepActivities
    from canary.models import Step, StepInput, StepOutput
    from canary.models.capabilities import STEP_ACTIONS
    from canary.models.remediation import step_attempt_key

from workflows.policies import STEP_RETRY, cause
from workflows.remediation.context import Remediation


class StepRunner:
    def __init__(self, remediation: Remediation) -> None:
        self.r = remediation
        #: Link-preparing steps the investigation already ran: step id → result.
        self.prepared: dict[str, StepOutput] = {}

    async def run_automated(self, steps: list[Step]) -> None:
        """The SOP's immediate steps in catalog order; each run of consecutive steps that only
        prepare something for people (links) runs together, as local activities."""
        batch: list[Step] = []
        for step in [*steps, None]:
            if step is not None and step.prepares_only:
                batch.append(step)
                continue
            if batch and not self.r.state.closed:
                inputs = [self._begin(s, "canary") for s in batch]
                results = await asyncio.gather(*(self._prepare(i) for i in inputs))
                for prepared, result in zip(batch, results, strict=True):
                    self._finish(prepared, result, "canary")
            batch = []
            if step is None or self.r.state.closed:
                continue
            await self.run_automatically(step)

    async def run_automatically(self, step: Step) -> None:
        """One step Canary runs by itself; one that fixed the error closes the remediation.
        A step that moves money runs by itself only for a remediation Stripe's signed webhook
        started: a report through the API could name any invoice."""
        if STEP_ACTIONS[step.action].moves_money and not self.r.state.signed_by_stripe:
            self.r.record(
                "held",
                f"{step.title}: not run by itself, since this error was not reported by "
                "Stripe's signed webhook; a person may run it from the alert",
                data={"step": step.id},
            )
            self.r.state.needs_publish = True
            return
        result = await self.run(step, actor="canary")
        if result.ok and result.resolved and step.resolves:
            self.r.close("auto_resolved", "canary", result.text)

    async def run(self, step: Step, actor: str, value: str | None = None) -> StepOutput:
        """Run one SOP step; a failure is recorded and returned, not raised."""
        request = self._begin(step, actor, value)
        return self._finish(step, await self._execute(request, local=False), actor)

    async def _prepare(self, request: StepInput) -> StepOutput:
        done = self.prepared.pop(request.step.id, None)
        first = step_attempt_key(self.r.key_prefix, request.step.id, 1)
        if done is not None and request.attempt_key == first:
            return done  # already run by the investigation, under this very key
        return await self._execute(request, local=True)

    async def _execute(self, request: StepInput, local: bool) -> StepOutput:
        execute = (
            workflow.execute_local_activity_method if local else workflow.execute_activity_method
        )
        try:
            result = await execute(
                StepActivities.run_step,
                request,
                start_to_close_timeout=timedelta(seconds=self.r.config.step_timeout_seconds),
                retry_policy=STEP_RETRY,
            )
        except FailureError as err:
            return StepOutput(ok=False, text=f"{request.step.title} failed: {cause(err)}")
        return result

    def _begin(self, step: Step, actor: str, value: str | None = None) -> StepInput:
        state = self.r.state
        count = state.step_runs.get(step.id, 0) + 1
        state.step_runs[step.id] = count
        if step.action == "stripe.retry_payment":
            state.attempts += 1
            state.retry_times.append(workflow.now())
            if actor != "canary":
                state.recovery_hint = "person_retry"
        self.r.record("step_started", step.title, actor=actor, data={"step": step.id, "run": count})
        return StepInput(
            workflow_id=self.r.workflow_id,
            step=step,
            detection=self.r.detection.model_copy(update={"account": state.account}),
            attempt_key=step_attempt_key(self.r.key_prefix, step.id, count),
            facts=state.facts,
            value=value,
        )

    def _finish(self, step: Step, result: StepOutput, actor: str) -> StepOutput:
        state = self.r.state
        state.facts.update({k: v for k, v in result.facts.items() if v is not None})
        for link in result.links:
            if all(existing.label != link.label for existing in state.links):
                state.links.append(link)
        # A link prepared before the first alert is in the alert itself ("Links for the
        # customer"): its line stays on the timeline, not repeated in the alert's thread.
        shown_in_alert = bool(
            result.ok and result.links and step.prepares_only and state.slack is None
        )
        self.r.record(
            "step_succeeded" if result.ok else "step_failed",
            result.text,
            actor=actor,
            data={"step": step.id, "error_code": result.error_code}
            if result.error_code
            else {"step": step.id},
            thread=not shown_in_alert,
        )
        if not result.ok:
            state.note(f":warning: {result.text}")
        state.needs_publish = True
        return result
