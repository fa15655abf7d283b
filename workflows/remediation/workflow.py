"""RemediationWorkflow: one durable remediation per subject (an invoice, an opportunity, …).

Generic over SOPs: everything type-specific comes from the diagnosis, which pins the SOP's
steps, buttons and escalation ladder into the state when the remediation starts.

Signals:
    ``occurrence(Detection)``      the same subject was reported again (folded in, counted once
                                   per source report id).
    ``external_event(ExternalEvent)``  a fact from outside, e.g. Stripe's ``invoice.paid``;
                                   if the SOP lists it, the remediation resolves with evidence.
Updates:
    ``act(ActionRequest) -> ActionResult``  a button click or ``canary signal``. The validator
                                   refuses unknown actions and closed remediations before
                                   anything is written to history.
Queries:
    ``status() -> RemediationStatus``  state, outcome, escalation level and the full timeline.

Alerting (the SOP's ``alerting``): a non-urgent remediation joins its owner's daily digest
instead of posting an alert (until it escalates); urgent ones are also e-mailed; after a
person dismisses or resolves it, the workflow stays up for the cooldown and folds repeats of
the same finding in silently (``suppressed``) instead of starting a new alert.

Continue-as-new: a long-lived remediation (many occurrences, long snoozes, a long ladder or
cooldown) continues as a new run of the same workflow id once its history reaches
``config.continue_as_new_after`` events (or Temporal suggests it), at a safe point — no update
handler running — carrying its whole ``RemediationState``. Signals and clicks that arrive
meanwhile are handled by the run they reach.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canary.blocks import human_duration
    from canary.models import (
        ActionRequest,
        ActionResult,
        Detection,
        ExternalEvent,
        RemediationInput,
        RemediationStatus,
        ResolutionRecord,
        SlackRef,
    )

from workflows.policies import MIN_RUN_EVENTS
from workflows.remediation.admission import admit, answer, ended
from workflows.remediation.alerting import Alerter
from workflows.remediation.context import Remediation
from workflows.remediation.investigation import Investigator
from workflows.remediation.ladder import Ladder
from workflows.remediation.steps import StepRunner


@workflow.defn(name="RemediationWorkflow")
class RemediationWorkflow:
    @workflow.init
    def __init__(self, input: RemediationInput) -> None:
        self.r = Remediation(input)
        self.steps = StepRunner(self.r)
        self.alerter = Alerter(self.r)
        self.ladder = Ladder(self.r, self.steps, self.alerter)

    # -- the main line -------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RemediationInput) -> ResolutionRecord:
        r, state = self.r, self.r.state
        if not r.first_run:
            return await self._resume()
        r.sync_search_attributes()
        # What the remediation learns on its way to the first alert (type, severity, account,
        # owner, state) is upserted once, just before the alert.
        r.hold_search_attributes()
        investigator = Investigator(r)
        diagnosis = await investigator.diagnose()
        state.diagnosis = diagnosis
        state.diagnosed_at = workflow.now()
        if diagnosis.error_type == "payment_failed":
            amount = state.facts.get("amount_due")
            state.note_payment_failure(
                amount=amount if isinstance(amount, int) else None,
                currency=str(state.facts.get("currency") or "") or None,
                decline_class=diagnosis.decline_class,
                failed_at=r.detection.occurred_at or state.started_at,
            )
        r.show_details()
        if diagnosis.nothing_to_fix:
            # The diagnosis found the error already gone (say, the opportunity is Closed Won
            # by now): close it on the record without pinging anyone.
            r.close("auto_resolved", "canary", f"Nothing to fix: {diagnosis.summary}")
            r.release_search_attributes()
            return state.resolution_record(r.workflow_id, r.detection)

        r.set_state("remediating")
        self.steps.prepared = investigator.prepared
        async with r.lock:
            await self.steps.run_automated([s for s in diagnosis.automated if s.after is None])
        r.apply_external()
        if not state.closed:
            r.set_state("awaiting_human")
        r.release_search_attributes()
        await self.alerter.publish()
        state.attention_anchor = workflow.now()
        return await self._follow_up()

    async def _resume(self) -> ResolutionRecord:
        """A continued run: no diagnosis, no automated steps, no new alert; it picks up where
        the previous run stopped, on the previous run's schedule."""
        r, state = self.r, self.r.state
        r.show_details()
        if state.closed:
            await self._cool_down()
            return state.resolution_record(r.workflow_id, r.detection)
        if state.needs_publish:
            await self.alerter.publish()
        return await self._follow_up()

    async def _follow_up(self) -> ResolutionRecord:
        """Wait for people, the outside world and the clock until it closes, then close."""
        r, state = self.r, self.r.state
        while not state.closed:
            await self._wait_for_next_thing()
            if state.closed:
                break
            if r.lock.locked():
                # A person's fix is running. Let it finish first: a payment it made is credited
                # to them, not to the invoice.paid webhook that payment caused.
                await workflow.wait_condition(lambda: not r.lock.locked())
                if state.closed:
                    break
            r.apply_external()
            if state.closed:
                break
            await self.ladder.handle_due()
            if state.needs_publish and not state.closed:
                await self.alerter.publish()
            if not state.closed and self._history_is_long():
                # Returns only if a click that was running closed it meanwhile.
                await self._continue_as_new()

        # Let an in-flight click finish (and answer its clicker) before the final message.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self.alerter.publish()
        await self._cool_down()
        return state.resolution_record(r.workflow_id, r.detection)

    async def _wait_for_next_thing(self) -> None:
        r = self.r
        r.keep_lean()
        timeout = (self.ladder.next_due() - workflow.now()).total_seconds()
        if timeout <= 0:
            return
        if r.wake:
            # Something arrived while the loop was busy (posting, running a step): go round
            # again at once rather than at the next deadline.
            r.wake = False
            return
        try:
            await workflow.wait_condition(
                lambda: r.state.closed or r.wake or bool(r.state.external),
                timeout=timedelta(seconds=timeout),
            )
        except TimeoutError:
            pass
        # Handled by this turn of the loop; set again only by what arrives during it.
        r.wake = False

    async def _cool_down(self) -> None:
        """Stay up after it closed (by a person, by default), so signal-with-start of the same
        finding lands here and is recorded as suppressed instead of starting a fresh alert."""
        r, state = self.r, self.r.state
        if state.cooldown_until is None:
            diagnosis = state.diagnosis
            if diagnosis is None or diagnosis.alerting.cooldown is None:
                return
            if state.outcome not in diagnosis.alerting.cooldown_after:
                return
            until = workflow.now() + diagnosis.alerting.cooldown
            r.record(
                "cooldown",
                f"Repeats of this finding stay quiet until {until:%Y-%m-%d %H:%M} UTC",
                data={"until": until.isoformat()},
            )
            state.cooldown_until = until
        # A storm of repeats during a long cooldown grows the history too: the same timer,
        # but it gives way to a new run (which sleeps until the same moment) when it is long.
        while (remaining := state.cooldown_until - workflow.now()) > timedelta(0):
            try:
                await workflow.wait_condition(self._history_is_long, timeout=remaining)
            except TimeoutError:
                break
            await self._continue_as_new()
        await workflow.wait_condition(workflow.all_handlers_finished)

    # -- continue-as-new ---------------------------------------------------------------------

    def _history_is_long(self) -> bool:
        """Pure (no commands), so it can be a wait condition: it reads the history length
        Temporal reports with each workflow task, the same on replay."""
        info = workflow.info()
        length = info.get_current_history_length()
        if length >= self.r.config.continue_as_new_after:
            return True
        return info.is_continue_as_new_suggested() and length >= MIN_RUN_EVENTS

    async def _continue_as_new(self) -> None:
        """Continue as a new run carrying the whole state, at a safe point: no click is being
        handled (its answer and its effects belong to this run). Returns only if that click
        closed the remediation meanwhile; the caller then finishes as usual."""
        r, state = self.r, self.r.state
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not r.lock.locked()
        )
        # Nothing is awaited from here on: no signal or click can slip in between the
        # snapshot and the continue-as-new command (one arriving at the server meanwhile
        # fails this workflow task, which is then run again with it).
        if state.cooldown_until is None:
            r.apply_external()
            if state.closed:
                return
        events = workflow.info().get_current_history_length()
        r.record(
            "continued",
            f"History of run {state.run} reached {events} events: continuing as run "
            f"{state.run + 1} of the same remediation",
            data={"run": state.run + 1, "events": events},
        )
        carried = state.model_copy(
            update={
                "run": state.run + 1,
                "needs_publish": state.needs_publish or bool(state.thread_queue),
            }
        )
        workflow.continue_as_new(
            RemediationInput(detection=r.detection, config=r.config, state=carried)
        )

    # -- signals, updates, queries ---------------------------------------------------------

    @workflow.signal
    def occurrence(self, detection: Detection) -> None:
        self.r.signals += 1
        if self.r.state.fold_occurrence(workflow.now(), detection):
            self.r.wake = True

    @workflow.signal
    def external_event(self, event: ExternalEvent) -> None:
        self.r.signals += 1
        if self.r.state.receive(event):
            self.r.wake = True

    @workflow.signal
    def digest_posted(self, message: SlackRef) -> None:
        """The owner's digest listed this remediation, with its buttons, in ``message``."""
        self.r.signals += 1
        self.r.state.messages.append(message)

    @workflow.update
    async def act(self, request: ActionRequest) -> ActionResult:
        r, state = self.r, self.r.state
        async with r.lock:
            if state.closed:
                # A double click, or two people at once: the fix ran once; say how it ended.
                return self._answer(request, False, f"Already {self._ended()}.")
            action = state.action(request.action)
            assert action is not None  # the validator saw to that
            actor = request.user
            who = request.user_name or actor
            source = {"action": action.id, "source": request.source}
            if not state.may_act(action, request):
                # Accepted as an update (so it is on the record) but never executed.
                allowed = action.allowed.describe()
                r.record(
                    "action_refused",
                    f"{who} may not press {action.label}: only {allowed} may",
                    actor=actor,
                    data=source,
                )
                return self._answer(
                    request, False, f"Only {allowed} may press {action.label} here."
                )
            reason = (request.reason or "").strip() or None
            note = (request.note or "").strip() or None
            if action.id == "note":
                r.record("human_action", f"{who} added a note: {note}", actor=actor, data=source)
                state.needs_publish = True
                r.wake = True
                return self._answer(request, True, "Note added to the timeline and the thread.")
            state.first_human_at = state.first_human_at or workflow.now()
            said = (f" — {reason}" if reason else "") + (f" (note: {note})" if note else "")
            r.record(
                "human_action",
                f"{who} pressed {action.label}{said}",
                actor=actor,
                data=source | ({"reason": reason} if reason else {}),
            )
            if action.snooze_for is not None:
                length = request.snooze_for or action.snooze_for
                until = request.snooze_until or workflow.now() + length
                snoozed = human_duration(until - workflow.now())
                state.snoozed_until = until
                state.attention_anchor = state.snoozed_until
                r.record(
                    "snoozed",
                    f"Snoozed for {snoozed}, until {until:%a %d %b %H:%M} UTC",
                    actor=actor,
                )
                state.needs_publish = True
                r.wake = True
                return self._answer(request, True, f"Snoozed for {snoozed}.")
            for step in action.steps:
                result = await self.steps.run(step, actor=actor, value=request.value)
                if not result.ok:
                    r.wake = True
                    return self._answer(request, True, result.text)
            if action.closes_as:
                state.close_reason = reason
                r.close(action.closes_as, actor, f"{action.label} by {who}{said}")
                return self._answer(request, True, f"Done: {self._ended()}.")
            state.needs_publish = True
            r.wake = True
            return self._answer(request, True, f"{action.label}: recorded.")

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        admit(self.r, request)

    @workflow.query
    def status(self) -> RemediationStatus:
        return self.r.status()

    def _ended(self) -> str:
        return ended(self.r)

    def _answer(self, request: ActionRequest, accepted: bool, message: str) -> ActionResult:
        return answer(self.r, request, accepted, message)
