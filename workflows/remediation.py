"""RemediationWorkflow: one durable remediation per subject (an invoice, an opportunity, …).

Generic over SOPs: everything type-specific comes from the diagnosis, which pins the SOP's
steps, buttons and escalation ladder into history when the remediation starts.

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

Alerting (the SOP's ``alerting``, off by default): a non-urgent remediation joins its owner's
daily digest instead of posting an alert (until it escalates); urgent ones are also e-mailed;
after a person dismisses or resolves it, the workflow stays up for the cooldown and folds
repeats of the same finding in silently (``suppressed``) instead of starting a new alert.

Continue-as-new: a long-lived remediation (many occurrences, long snoozes, a long ladder or
cooldown) continues as a new run of the same workflow id once its history reaches
``config.continue_as_new_after`` events (or Temporal suggests it), at a safe point — no update
handler running — carrying its whole state (``RemediationInput.carried``): the timeline,
counters, the pinned diagnosis, the ladder's absolute deadlines, Slack message, owner and
outcome so far. Signals and clicks that arrive meanwhile are handled by the run they reach.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from canary import search_attributes as sa
    from canary.blocks import (
        build_blocks,
        fallback_text,
        human_duration,
        temporal_ui_link,
        thread_blocks,
    )
    from canary.blocks.email import alert_email
    from canary.catalog.diagnosis import render
    from canary.models import (
        ActionRequest,
        ActionResult,
        CarriedState,
        Detection,
        DiagnoseInput,
        Diagnosis,
        DiagnosisPlan,
        EnrichInput,
        EnrichOutput,
        EscalationStep,
        ExternalEvent,
        HumanAction,
        InvestigateInput,
        Investigation,
        Link,
        Outcome,
        RemediationInput,
        RemediationStatus,
        ResolutionRecord,
        ResolveGroupsInput,
        ResolveGroupsOutput,
        ResolveOwnerInput,
        ResolveOwnerOutput,
        SlackMessageInput,
        SlackMessageOutput,
        SlackRef,
        State,
        Step,
        StepInput,
        StepOutput,
        TimelineEntry,
    )
    from canary.models.detectors import (
        DigestAddInput,
        DigestAddOutput,
        DigestInput,
        DigestItem,
        EmailInput,
        EmailOutput,
    )
    from canary.models.remediation import owner_emails, step_attempt_key

# Named retry policies. Permanent failures are raised non-retryable by the activities, so
# these only govern transient trouble (timeouts, 5xx, 429 with Retry-After).
DIAGNOSIS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=6,
)
STEP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
)
SLACK_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
)
DIAGNOSIS_TIMEOUT = timedelta(seconds=30)
# One patch for a leaner history (bench/README.md has the figures): diagnosis only reads
# (the catalog, Stripe, Salesforce, Slack's directory), so it runs as local activities inside
# the workflow task instead of one server round trip per lookup, which was most of the time
# to the first alert; and search attributes are upserted only when a value changed (each
# upsert is an event and a visibility write). Remediations started before it replay unchanged.
LEAN_HISTORY_PATCH = "lean-history-local-reads-changed-upserts"
# Continue-as-new. Asked only once a run's history is long (or at the start of a cooldown,
# whose wait it changes), so the histories recorded before it replay unchanged; a run that
# had already passed the bound before this code arrived keeps going as it was.
CONTINUE_AS_NEW_PATCH = "continue-as-new-carrying-state"
# Temporal may suggest continuing because of the history's size (a big carried timeline):
# a run this short continues only at its own event bound, never in a loop of fresh runs.
MIN_RUN_EVENTS = 100
# A signal or click that arrived while the loop was busy (posting to Slack, running a step)
# used to wait for the next deadline before it reached the alert; now the loop goes round
# again at once. Asked only when that happens, so older histories replay unchanged.
PROMPT_WAKE_PATCH = "wake-for-what-arrived-while-busy"
# A faster first alert and fewer history events per remediation (bench/README.md): one local
# activity investigates (plan, enrichers, diagnosis, owner, manager, groups; what failed there
# is looked up again on its own); steps that only prepare something for people (links) run
# together as local activities; the search attributes learnt on the way are upserted once; and
# the alert's first thread reply is posted by the same activity as the alert. Remediations
# started before it replay unchanged.
QUICK_START_PATCH = "quick-start-together-lookups-local-links-one-post"
# The first alert is posted from the workflow task that started the remediation (a local
# activity, after the investigation, which now also prepares the alert's links), so a new
# remediation reaches Slack in one workflow task: no activity task to dispatch and no second
# workflow task, eight history events fewer. Safe to retry like the activity it replaces: a
# retried post finds its alert by metadata instead of posting twice. And an escalation's posts
# go out together with the alert's update, without asking Slack for a permalink nobody uses. It
# supersedes the two patches before it — a remediation with its marker has theirs implied and
# records one marker instead of three (each marker is also an upsert of TemporalChangeVersion).
# Remediations started before it replay unchanged.
LOCAL_ALERT_PATCH = "first-alert-from-the-start-task"
SLACK_TIMEOUT = timedelta(seconds=20)
MAX_NOTES = 3
R = TypeVar("R")
# Timeline entries worth a line in the alert's Slack thread (the rest stay in Temporal).
THREADED_KINDS = frozenset(
    {
        "step_succeeded",
        "step_failed",
        "human_action",
        "snoozed",
        "occurrence",
        "external",
        "closed",
        "enrich_failed",
    }
)


def _cause(err: BaseException) -> str:
    """The innermost message of an activity failure, which is what a person needs to read."""
    while isinstance(err, ActivityError) and err.cause is not None:
        err = err.cause
    if isinstance(err, ApplicationError):
        return err.message
    return str(err)


@workflow.defn(name="RemediationWorkflow")
class RemediationWorkflow:
    @workflow.init
    def __init__(self, input: RemediationInput) -> None:
        self._input = input
        self._detection: Detection = input.detection
        self._config = input.config
        info = workflow.info()
        self._workflow_id = info.workflow_id
        # What every key this remediation writes (idempotency, Slack metadata) starts with:
        # the first run's id, so a continued run goes on writing the same keys.
        self._key_prefix = f"{self._workflow_id}/{info.first_execution_run_id[:8]}"
        self._started_at: datetime = workflow.now()
        self._state: State = "diagnosing"
        self._outcome: Outcome | None = None
        self._closed = False
        self._resolved_by: str | None = None
        self._diagnosis: Diagnosis | None = None
        self._facts: dict[str, Any] = dict(input.detection.facts)
        self._account = input.detection.account
        self._timeline: list[TimelineEntry] = []
        self._seen: set[str] = {input.detection.dedupe_key()}
        self._occurrences = 1
        self._attempts = 0
        self._escalation_level = 0
        self._highest_escalation = 0
        self._owner: ResolveOwnerOutput = ResolveOwnerOutput()
        self._slack: SlackRef | None = None
        self._thread_posts = 0
        self._links: list[Link] = []
        self._notes: list[str] = []
        self._step_runs: dict[str, int] = {}
        self._done_scheduled: set[str] = set()
        self._diagnosed_at: datetime | None = None
        self._first_notified_at: datetime | None = None
        self._first_human_at: datetime | None = None
        self._attention_anchor: datetime | None = None
        self._snoozed_until: datetime | None = None
        self._external: list[ExternalEvent] = []
        self._wake = False
        self._needs_publish = False
        self._thread_queue: list[str] = []
        self._group_members: dict[str, list[str]] = {}
        self._manager: ResolveOwnerOutput = ResolveOwnerOutput()
        self._digest_id: str | None = None
        self._digest_failed = False
        self._emailed = False
        self._lean: bool | None = None
        self._continues: bool | None = None
        self._prompt_wake: bool | None = None
        self._quick: bool | None = None
        self._alert_locally: bool | None = None
        self._signals = 0  # signals delivered to this run (each one event in its history)
        self._prepared: dict[str, StepOutput] = {}  # link steps the investigation ran
        self._deferring_upserts = False
        self._upsert_pending = False
        self._deferred_type: str | None = None
        self._run_number = 1
        self._cooldown_until: datetime | None = None
        # Steps that touch money run one at a time: a scheduled retry and a clicked retry
        # must never charge twice, and a double click must execute the fix once.
        self._lock = asyncio.Lock()
        if input.carried is not None:
            self._restore(input.carried)
            return
        self._record(
            "detected",
            f"{input.detection.source} reported {input.detection.type or 'an error'} on "
            f"{input.detection.subject.kind} {input.detection.subject.id}",
            actor=input.detection.source,
            data={"detection": input.detection.model_dump(mode="json")},
        )

    # -- the main line -------------------------------------------------------------------

    @workflow.run
    async def run(self, input: RemediationInput) -> ResolutionRecord:
        if input.carried is not None:
            return await self._resume()
        self._upsert()
        # Asked before the first local activity: a patch first asked after one, in a workflow
        # task that heartbeated while it ran, is not known yet when that history is replayed.
        # With it, the search attributes learnt on the way to the first alert (type, severity,
        # account, owner, state) are upserted once, just before the alert, not one by one.
        self._local_alert()
        self._deferring_upserts = self._quick_start()
        diagnosis = await self._diagnose()
        self._diagnosis = diagnosis
        self._diagnosed_at = workflow.now()
        workflow.set_current_details(self._details())
        if diagnosis.nothing_to_fix:
            # The diagnosis found the error already gone (say, the opportunity is Closed Won
            # by now): close it on the record without pinging anyone.
            self._close("auto_resolved", "canary", f"Nothing to fix: {diagnosis.summary}")
            self._flush_upserts()
            return self._resolution_record()

        self._set_state("remediating")
        async with self._lock:
            if self._quick_start():
                await self._run_automated([s for s in diagnosis.automated if s.after is None])
            else:
                for step in diagnosis.automated:
                    if step.after is not None or self._closed:
                        continue
                    result = await self._run_step(step, actor="canary")
                    if result.ok and result.resolved and step.resolves:
                        self._close("auto_resolved", "canary", result.text)
        self._drain_external()
        if not self._closed:
            self._set_state("awaiting_human")
        self._flush_upserts()
        await self._publish()
        self._attention_anchor = workflow.now()
        return await self._follow_up()

    async def _follow_up(self) -> ResolutionRecord:
        """Wait for people, the outside world and the clock until it closes, then close."""
        while not self._closed:
            await self._wait_for_next_thing()
            if self._closed:
                break
            if self._lock.locked():
                # A person's fix is running. Let it finish first: a payment it made is credited
                # to them, not to the invoice.paid webhook that payment caused.
                await workflow.wait_condition(lambda: not self._lock.locked())
                if self._closed:
                    break
            self._drain_external()
            if self._closed:
                break
            await self._handle_due()
            if self._needs_publish and not self._closed:
                await self._publish()
            if not self._closed and self._history_is_long() and self._may_continue_as_new():
                # Returns only if a click that was running closed it meanwhile.
                await self._continue_as_new()

        # Let an in-flight click finish (and answer its clicker) before the final message.
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._publish()
        await self._cool_down()
        return self._resolution_record()

    async def _cool_down(self) -> None:
        """Stay up after it closed (by a person, by default), so signal-with-start of the same
        finding lands here and is recorded as suppressed instead of starting a fresh alert."""
        if self._cooldown_until is None:
            diagnosis = self._diagnosis
            if diagnosis is None or diagnosis.alerting.cooldown is None:
                return
            if self._outcome not in diagnosis.alerting.cooldown_after:
                return
            until = workflow.now() + diagnosis.alerting.cooldown
            self._record(
                "cooldown",
                f"Repeats of this finding stay quiet until {until:%Y-%m-%d %H:%M} UTC",
                data={"until": until.isoformat()},
            )
            if not self._may_continue_as_new():
                await workflow.sleep(diagnosis.alerting.cooldown)
                await workflow.wait_condition(workflow.all_handlers_finished)
                return
            self._cooldown_until = until
        # A storm of repeats during a long cooldown grows the history too: the same timer,
        # but it gives way to a new run (which sleeps until the same moment) when it is long.
        while (remaining := self._cooldown_until - workflow.now()) > timedelta(0):
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
        if length >= self._config.continue_as_new_after:
            return True
        return info.is_continue_as_new_suggested() and length >= MIN_RUN_EVENTS

    def _may_continue_as_new(self) -> bool:
        if self._continues is None:
            self._continues = workflow.patched(CONTINUE_AS_NEW_PATCH)
        return self._continues

    async def _continue_as_new(self) -> None:
        """Continue as a new run carrying everything, at a safe point: no click is being
        handled (its answer and its effects belong to this run). Returns only if that click
        closed the remediation meanwhile; the caller then finishes as usual."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._lock.locked()
        )
        # Nothing is awaited from here on: no signal or click can slip in between the
        # snapshot and the continue-as-new command (one arriving at the server meanwhile
        # fails this workflow task, which is then run again with it).
        if self._cooldown_until is None:
            self._drain_external()
            if self._closed:
                return
        info = workflow.info()
        self._record(
            "continued",
            f"History of run {self._run_number} reached {info.get_current_history_length()} "
            f"events: continuing as run {self._run_number + 1} of the same remediation",
            data={"run": self._run_number + 1, "events": info.get_current_history_length()},
        )
        workflow.continue_as_new(
            RemediationInput(detection=self._detection, config=self._config, carried=self._carry())
        )

    def _carry(self) -> CarriedState:
        assert self._diagnosis is not None and self._diagnosed_at is not None
        return CarriedState(
            run=self._run_number + 1,
            started_at=self._started_at,
            state=self._state,
            outcome=self._outcome,
            closed=self._closed,
            resolved_by=self._resolved_by,
            diagnosis=self._diagnosis,
            diagnosed_at=self._diagnosed_at,
            facts=self._facts,
            account=self._account,
            timeline=self._timeline,
            # Sorted: a set's order differs between processes, a command's input must not.
            seen=sorted(self._seen),
            occurrences=self._occurrences,
            attempts=self._attempts,
            escalation_level=self._escalation_level,
            highest_escalation=self._highest_escalation,
            owner=self._owner,
            manager=self._manager,
            group_members=self._group_members,
            slack=self._slack,
            thread_posts=self._thread_posts,
            thread_queue=self._thread_queue,
            links=self._links,
            notes=self._notes,
            step_runs=self._step_runs,
            done_scheduled=sorted(self._done_scheduled),
            first_notified_at=self._first_notified_at,
            first_human_at=self._first_human_at,
            attention_anchor=self._attention_anchor,
            snoozed_until=self._snoozed_until,
            external=self._external,
            needs_publish=self._needs_publish or bool(self._thread_queue),
            digest_id=self._digest_id,
            digest_failed=self._digest_failed,
            emailed=self._emailed,
            cooldown_until=self._cooldown_until,
        )

    def _restore(self, carried: CarriedState) -> None:
        self._run_number = carried.run
        self._started_at = carried.started_at
        self._state = carried.state
        self._outcome = carried.outcome
        self._closed = carried.closed
        self._resolved_by = carried.resolved_by
        self._diagnosis = carried.diagnosis
        self._diagnosed_at = carried.diagnosed_at
        self._facts = dict(carried.facts)
        self._account = carried.account
        self._timeline = list(carried.timeline)
        self._seen = set(carried.seen)
        self._occurrences = carried.occurrences
        self._attempts = carried.attempts
        self._escalation_level = carried.escalation_level
        self._highest_escalation = carried.highest_escalation
        self._owner = carried.owner
        self._manager = carried.manager
        self._group_members = dict(carried.group_members)
        self._slack = carried.slack
        self._thread_posts = carried.thread_posts
        self._thread_queue = list(carried.thread_queue)
        self._links = list(carried.links)
        self._notes = list(carried.notes)
        self._step_runs = dict(carried.step_runs)
        self._done_scheduled = set(carried.done_scheduled)
        self._first_notified_at = carried.first_notified_at
        self._first_human_at = carried.first_human_at
        self._attention_anchor = carried.attention_anchor
        self._snoozed_until = carried.snoozed_until
        self._external = list(carried.external)
        self._needs_publish = carried.needs_publish
        self._digest_id = carried.digest_id
        self._digest_failed = carried.digest_failed
        self._emailed = carried.emailed
        self._cooldown_until = carried.cooldown_until
        # A run that continued knew these patches; so does this one, without new markers.
        self._continues = True
        self._prompt_wake = True
        self._quick = True
        # A continued run's alerts go out as ordinary activities, as they did before.
        self._alert_locally = False

    async def _resume(self) -> ResolutionRecord:
        """A continued run: no diagnosis, no automated steps, no new alert; it picks up where
        the previous run stopped, on the previous run's schedule."""
        workflow.set_current_details(self._details())
        if self._closed:
            await self._cool_down()
            return self._resolution_record()
        if self._needs_publish:
            await self._publish()
        return await self._follow_up()

    def _lean_history(self) -> bool:
        if self._lean is None:
            self._lean = workflow.patched(LEAN_HISTORY_PATCH)
        return self._lean

    def _quick_start(self) -> bool:
        if self._quick is None:
            self._quick = self._lean_history() and workflow.patched(QUICK_START_PATCH)
        return self._quick

    def _local_alert(self) -> bool:
        if self._alert_locally is None:
            self._alert_locally = workflow.patched(LOCAL_ALERT_PATCH)
            if self._alert_locally:
                # Superseded: implied by this marker, not asked (and not recorded) again.
                self._lean = self._quick = True
        return self._alert_locally

    async def _read(
        self, activity: str, arg: Any, result_type: type[R], timeout: timedelta, retry: RetryPolicy
    ) -> R:
        """A read-only activity: local once the patch is in this remediation's history."""
        if self._lean_history():
            try:
                return await workflow.execute_local_activity(
                    activity,
                    arg,
                    result_type=result_type,
                    start_to_close_timeout=timeout,
                    retry_policy=retry,
                )
            except ActivityError:
                raise
            except FailureError as err:
                # A local activity's failure arrives unwrapped (an ApplicationError, a
                # timeout); the callers record ActivityError and carry on, as before.
                raise ActivityError(
                    f"{activity} failed",
                    scheduled_event_id=0,
                    started_event_id=0,
                    identity="",
                    activity_type=activity,
                    activity_id="",
                    retry_state=None,
                ) from err
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            start_to_close_timeout=timeout,
            retry_policy=retry,
        )

    async def _diagnose(self) -> Diagnosis:
        quick: Investigation | None = None
        sent = dict(self._facts)
        if self._quick_start():
            # Everything a first alert needs, in one local activity; what failed in it is
            # looked up again below, each with its own retries.
            # With the first-alert patch the investigation also prepares the alert's links.
            prefix = self._key_prefix if self._local_alert() else None
            quick = await self._read(
                "canary.investigate",
                InvestigateInput(
                    detection=self._detection,
                    facts=sent,
                    workflow_id=self._workflow_id,
                    prepare_key=prefix,
                    # Well inside the investigation's own timeout: a slower link is left
                    # to the workflow, which gives it the step's whole timeout.
                    step_timeout_seconds=min(
                        self._config.step_timeout_seconds, DIAGNOSIS_TIMEOUT.total_seconds() / 3
                    ),
                ),
                Investigation,
                DIAGNOSIS_TIMEOUT,
                DIAGNOSIS_RETRY,
            )
            plan = quick.plan
        else:
            plan = await self._read(
                "canary.plan_diagnosis",
                self._detection,
                DiagnosisPlan,
                DIAGNOSIS_TIMEOUT,
                DIAGNOSIS_RETRY,
            )
        self._upsert(error_type=plan.error_type)
        facts: dict[str, Any] = {}
        found: list[EnrichOutput | str]
        if quick is not None:
            # A permanent refusal stays failed; anything else is looked up again, after the
            # backoff the retry policy would wait (or as long as the service asked).
            final = {
                i: quick.enrich_errors[i] or "failed"
                for i, e in enumerate(quick.enriched)
                if e is None and quick.enrich_final[i]
            }
            missing = [i for i, e in enumerate(quick.enriched) if e is None and i not in final]
            if missing:
                await workflow.sleep(
                    max(quick.retry_after or timedelta(0), DIAGNOSIS_RETRY.initial_interval)
                )
            retried = await asyncio.gather(*(self._enrich(plan.enrich[i]) for i in missing))
            again: dict[int, EnrichOutput | str] = {
                **final,
                **dict(zip(missing, retried, strict=True)),
            }
            found = [again[i] if e is None else e for i, e in enumerate(quick.enriched)]
        else:
            found = [await self._enrich(e) for e in plan.enrich]
        for enricher, enriched in zip(plan.enrich, found, strict=True):
            if isinstance(enriched, str):
                # Diagnosis goes on with what the detection said; the gap is on the record.
                self._record("enrich_failed", f"Could not look up {enricher}: {enriched}")
                continue
            facts.update(enriched.facts)
            if enriched.account:
                self._account = self._account.filled_from(enriched.account)
        # The investigation's diagnosis holds if it saw these very facts (a report that
        # arrived meanwhile may have added some).
        investigated = quick.diagnosis if quick is not None and self._facts == sent else None
        self._facts.update(facts)
        if investigated is not None:
            diagnosis = investigated
            # Its links were prepared from these same facts: used as the steps' first runs.
            self._prepared = dict(quick.prepared) if quick is not None else {}
        else:
            detection = self._detection.model_copy(update={"account": self._account})
            diagnosis = await self._read(
                "canary.diagnose",
                DiagnoseInput(detection=detection, plan=plan, facts=self._facts),
                Diagnosis,
                DIAGNOSIS_TIMEOUT,
                DIAGNOSIS_RETRY,
            )
        matched = next((s for s in reversed(diagnosis.steps) if s.matched), None)
        self._record(
            "diagnosed",
            f"Diagnosed as {diagnosis.error_type}"
            + (f" ({matched.title})" if matched else "")
            + f"; catalog {diagnosis.catalog_version}",
            data={"steps": [s.model_dump() for s in diagnosis.steps], "branch": diagnosis.branch},
        )
        self._facts.update(diagnosis.facts)
        manager_email = self._facts.get("manager_email")
        if quick is not None:
            await self._route(diagnosis, quick if investigated is not None else None)
        else:
            self._owner = await self._resolve_owner()
            if manager_email:
                self._manager = await self._lookup_people([str(manager_email)], "manager")
            await self._resolve_groups(diagnosis)
        self._upsert(error_type=diagnosis.error_type)
        return diagnosis

    async def _route(self, diagnosis: Diagnosis, quick: Investigation | None) -> None:
        """Owner, manager and groups: the investigation's answers where it asked for the
        same people and got one, the rest looked up together."""
        emails = owner_emails(self._account, self._facts)
        manager_email = self._facts.get("manager_email")
        managers = [str(manager_email)] if manager_email else []

        async def known(value: R) -> R:
            return value

        owner, manager, members = await asyncio.gather(
            known(quick.owner)
            if quick and quick.owner and quick.owner_emails == emails
            else self._fetch_people(emails),
            known(quick.manager)
            if quick and quick.manager and [quick.manager_email] == managers
            else self._fetch_people(managers),
            known(quick.members)
            if quick and quick.members and quick.groups == diagnosis.allowed_groups()
            else self._fetch_groups(diagnosis),
        )
        self._owner = self._note_people(emails, "owner", owner)
        if managers:
            self._manager = self._note_people(managers, "manager", manager)
        self._note_groups(members)

    async def _enrich(self, enricher: str) -> EnrichOutput | str:
        """One enricher's facts, or why it could not look them up."""
        try:
            return await self._read(
                "canary.enrich",
                EnrichInput(enricher=enricher, detection=self._detection),
                EnrichOutput,
                DIAGNOSIS_TIMEOUT,
                DIAGNOSIS_RETRY,
            )
        except ActivityError as err:
            return _cause(err)

    async def _resolve_groups(self, diagnosis: Diagnosis) -> None:
        """Snapshot the members of the groups allowed to act, so the (deterministic) update
        handler can check a clicker without calling Slack."""
        self._note_groups(await self._fetch_groups(diagnosis))

    async def _fetch_groups(self, diagnosis: Diagnosis) -> ResolveGroupsOutput | str | None:
        groups = diagnosis.allowed_groups()
        if not groups:
            return None
        try:
            return await self._read(
                "canary.resolve_groups",
                ResolveGroupsInput(groups=groups),
                ResolveGroupsOutput,
                SLACK_TIMEOUT,
                SLACK_RETRY,
            )
        except ActivityError as err:
            return _cause(err)

    def _note_groups(self, found: ResolveGroupsOutput | str | None) -> None:
        if isinstance(found, str):
            self._record("groups_failed", f"Could not read Slack user groups: {found}")
        elif found is not None:
            self._group_members = found.members

    async def _resolve_owner(self) -> ResolveOwnerOutput:
        emails = owner_emails(self._account, self._facts)
        if not emails:
            return ResolveOwnerOutput()
        return await self._lookup_people(emails, "owner")

    async def _lookup_people(self, emails: list[str], role: str) -> ResolveOwnerOutput:
        return self._note_people(emails, role, await self._fetch_people(emails))

    async def _fetch_people(self, emails: list[str]) -> ResolveOwnerOutput | str | None:
        """Slack users for these e-mails (the first found), or why Slack could not say."""
        if not emails:
            return None
        try:
            return await self._read(
                "canary.resolve_owner",
                ResolveOwnerInput(emails=emails),
                ResolveOwnerOutput,
                SLACK_TIMEOUT,
                SLACK_RETRY,
            )
        except ActivityError as err:
            return _cause(err)

    def _note_people(
        self, emails: list[str], role: str, owner: ResolveOwnerOutput | str | None
    ) -> ResolveOwnerOutput:
        if owner is None:
            return ResolveOwnerOutput()
        if isinstance(owner, str):
            self._record(f"{role}_lookup_failed", f"Could not find the {role} in Slack: {owner}")
            return ResolveOwnerOutput()
        if owner.slack_user:
            self._record(
                role,
                f"{role.capitalize()} is {owner.name or owner.email} (<@{owner.slack_user}>)",
            )
        else:
            fallback = (
                f"alerting {self._config.alert_channel}"
                if role == "owner"
                else f"escalating to {self._config.escalation_channel}"
            )
            self._record(role, f"No Slack user for {', '.join(emails)}; {fallback}")
        return owner

    # -- waiting: scheduled steps, escalation ladder, expiry -------------------------------

    def _deadlines(self) -> list[tuple[datetime, str, Any]]:
        assert self._diagnosis is not None and self._diagnosed_at is not None
        found: list[tuple[datetime, str, Any]] = []
        for step in self._diagnosis.automated:
            if step.after is not None and step.id not in self._done_scheduled:
                found.append((self._diagnosed_at + step.after, "step", step))
        ladder = self._diagnosis.escalation
        anchor = self._attention_anchor or self._started_at
        if self._escalation_level < len(ladder):
            due = anchor + ladder[self._escalation_level].after
            if self._snoozed_until and self._snoozed_until > due:
                due = self._snoozed_until
            found.append((due, "escalate", ladder[self._escalation_level]))
        expire = self._started_at + self._diagnosis.resolution.expire_after
        if self._snoozed_until and self._snoozed_until > expire:
            expire = self._snoozed_until
        found.append((expire, "expire", None))
        return found

    async def _wait_for_next_thing(self) -> None:
        due = min(d[0] for d in self._deadlines())
        timeout = (due - workflow.now()).total_seconds()
        if timeout <= 0:
            return
        if self._wake and self._wakes_promptly():
            self._wake = False
            return
        self._wake = False
        try:
            await workflow.wait_condition(
                lambda: self._closed or self._wake or bool(self._external),
                timeout=timedelta(seconds=timeout),
            )
        except TimeoutError:
            pass
        # Handled by this turn of the loop; set again only by what arrives during it.
        self._wake = False

    def _wakes_promptly(self) -> bool:
        if self._prompt_wake is None:
            self._prompt_wake = workflow.patched(PROMPT_WAKE_PATCH)
        return self._prompt_wake

    async def _handle_due(self) -> None:
        now = workflow.now()
        for due, kind, item in sorted(self._deadlines(), key=lambda d: d[0]):
            if due > now or self._closed:
                continue
            if kind == "step":
                await self._run_scheduled(item)
            elif kind == "escalate":
                await self._escalate(item)
            elif kind == "expire":
                self._close("expired", "canary", "Nobody resolved this before it expired.")

    async def _run_scheduled(self, step: Step) -> None:
        self._done_scheduled.add(step.id)
        async with self._lock:
            if self._closed:
                return
            result = await self._run_step(step, actor="canary")
            if result.ok and result.resolved and step.resolves:
                self._close("auto_resolved", "canary", result.text)
        self._needs_publish = True

    async def _escalate(self, step: EscalationStep) -> None:
        now = workflow.now()
        waited = human_duration(now - (self._attention_anchor or self._started_at))
        text = render(step.message, {"waited": waited})
        self._escalation_level += 1
        self._highest_escalation = max(self._highest_escalation, self._escalation_level)
        self._attention_anchor = now
        self._set_state("escalated")
        target = step.target
        mention = f"<@{self._owner.slack_user}>" if self._owner.slack_user else None
        if target == "manager" and self._manager.slack_user:
            text = f"<@{self._manager.slack_user}> {text}"
        # On the record before the Slack calls, so a status read while they run already
        # shows the escalation its level counts.
        self._record(
            "escalated",
            f"Escalation level {self._escalation_level} ({target}): {text}",
            data={"target": target, "level": self._escalation_level},
        )
        posts: list[Any] = []  # coroutines, run in this order
        if target == "owner":
            posts.append(self._thread(f":bell: {mention or 'No owner on record —'} {text}"))
        elif target == "manager":
            if self._manager.slack_user:
                posts.append(self._thread(f":bell: Escalated to the manager: {text}"))
            else:
                # No manager in the CRM or in Slack: the escalation channel stands in.
                posts.append(self._thread(f":bell: No manager on record for this account. {text}"))
            posts.append(self._post_escalation(text))
        elif target == "escalation_channel":
            posts.append(self._post_escalation(text))
        elif target == "crm_case":
            posts.append(
                self._thread(
                    f":clipboard: {text} A CRM case is the next step; open one in "
                    "Salesforce for this account."
                )
            )
        if self._local_alert():
            # The escalation's posts and the alert's update go out together: one round of
            # activities, not one after another (a storm of escalations is a storm of these).
            self._upsert()
            await asyncio.gather(*posts, self._publish())
            return
        for post in posts:
            await post
        self._upsert()
        self._needs_publish = True

    async def _post_escalation(self, text: str) -> None:
        link = (
            f" <{self._slack.permalink}|original alert>"
            if self._slack and self._slack.permalink
            else ""
        )
        status = self._status()
        blocks = [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f":rotating_light: *Escalated:* {status.headline}\n{text}{link}",
                },
            },
            *build_blocks(status, self._links, self._mention(), self._temporal_url())[1:],
        ]
        await self._slack_call(
            SlackMessageInput(
                workflow_id=self._workflow_id,
                channel=self._config.escalation_channel,
                text=f"Escalated: {status.headline}",
                blocks=blocks,
                metadata_key=f"{self._key_prefix}/escalation/{self._escalation_level}",
                permalink=not self._local_alert(),  # nothing links to an escalation post
            )
        )

    # -- steps ---------------------------------------------------------------------------

    async def _run_automated(self, steps: list[Step]) -> None:
        """The SOP's immediate steps in catalog order; each run of consecutive steps that only
        prepare something for people (links) runs together, as local activities."""
        batch: list[Step] = []
        for step in [*steps, None]:
            if step is not None and step.prepares_only:
                batch.append(step)
                continue
            if batch and not self._closed:
                inputs = [self._begin_step(s, "canary") for s in batch]
                results = await asyncio.gather(*(self._prepare(i) for i in inputs))
                for prepared, result in zip(batch, results, strict=True):
                    self._finish_step(prepared, result, "canary")
            batch = []
            if step is None or self._closed:
                continue
            result = await self._run_step(step, actor="canary")
            if result.ok and result.resolved and step.resolves:
                self._close("auto_resolved", "canary", result.text)

    async def _prepare(self, request: StepInput) -> StepOutput:
        done = self._prepared.pop(request.step.id, None)
        first = step_attempt_key(self._key_prefix, request.step.id, 1)
        if done is not None and request.attempt_key == first:
            return done  # already run by the investigation, under this very key
        return await self._execute_step(request, local=True)

    async def _run_step(self, step: Step, actor: str, value: str | None = None) -> StepOutput:
        """Run one SOP step through the generic activity; failures are recorded, not raised."""
        request = self._begin_step(step, actor, value)
        return self._finish_step(step, await self._execute_step(request, local=False), actor)

    async def _execute_step(self, request: StepInput, local: bool) -> StepOutput:
        execute = workflow.execute_local_activity if local else workflow.execute_activity
        try:
            result: StepOutput = await execute(
                "canary.run_step",
                request,
                result_type=StepOutput,
                start_to_close_timeout=timedelta(seconds=self._config.step_timeout_seconds),
                retry_policy=STEP_RETRY,
            )
        except (ActivityError, FailureError) as err:
            # A local activity's failure arrives unwrapped (an ApplicationError, a timeout).
            return StepOutput(ok=False, text=f"{request.step.title} failed: {_cause(err)}")
        return result

    def _begin_step(self, step: Step, actor: str, value: str | None = None) -> StepInput:
        count = self._step_runs.get(step.id, 0) + 1
        self._step_runs[step.id] = count
        if step.action == "stripe.retry_payment":
            self._attempts += 1
        self._record("step_started", step.title, actor=actor, data={"step": step.id, "run": count})
        return StepInput(
            workflow_id=self._workflow_id,
            step=step,
            detection=self._detection.model_copy(update={"account": self._account}),
            attempt_key=step_attempt_key(self._key_prefix, step.id, count),
            facts=self._facts,
            value=value,
        )

    def _finish_step(self, step: Step, result: StepOutput, actor: str) -> StepOutput:
        self._facts.update({k: v for k, v in result.facts.items() if v is not None})
        for link in result.links:
            if all(existing.label != link.label for existing in self._links):
                self._links.append(link)
        # A link prepared before the alert is in the alert itself ("Links for the customer"):
        # its line stays on the timeline, not repeated under the alert in its thread.
        shown = bool(
            result.ok and result.links and step.prepares_only
            and self._slack is None and self._local_alert()
        )
        self._record(
            "step_succeeded" if result.ok else "step_failed",
            result.text,
            actor=actor,
            data={"step": step.id, "error_code": result.error_code}
            if result.error_code
            else {"step": step.id},
            thread=not shown,
        )
        if not result.ok:
            self._note(f":warning: {result.text}")
        self._needs_publish = True
        return result

    # -- signals, updates, queries ---------------------------------------------------------

    @workflow.signal
    def occurrence(self, detection: Detection) -> None:
        self._signals += 1
        key = detection.dedupe_key()
        if key in self._seen:
            return  # a redelivered webhook: already counted
        self._seen.add(key)
        if self._closed:
            # Closed (cooling down): the same finding again, folded in without an alert.
            self._record(
                "suppressed",
                f"{detection.source} reported it again; quiet during the cooldown: "
                f"{detection.message[:200]}",
                actor=detection.source,
                data={"detection_id": detection.id},
            )
            return
        self._occurrences += 1
        self._facts.update(detection.facts)
        self._record(
            "occurrence",
            f"Reported again by {detection.source} (#{self._occurrences}): "
            f"{detection.message[:200]}",
            actor=detection.source,
            data={"detection_id": detection.id, "facts": detection.facts},
        )
        self._needs_publish = True
        self._wake = True

    @workflow.signal
    def external_event(self, event: ExternalEvent) -> None:
        self._signals += 1
        if event.event_id and f"external:{event.event_id}" in self._seen:
            return
        if event.event_id:
            self._seen.add(f"external:{event.event_id}")
        self._external.append(event)
        self._wake = True

    def _drain_external(self) -> None:
        if self._diagnosis is None:
            return
        while self._external and not self._closed:
            event = self._external.pop(0)
            if event.kind in self._diagnosis.resolution.external_events:
                self._close(
                    "resolved_externally",
                    event.source,
                    f"{event.source} reported {event.kind}",
                    evidence=event.evidence,
                )
            else:
                self._record(
                    "external",
                    f"{event.source} reported {event.kind} (no effect)",
                    actor=event.source,
                    data=event.evidence,
                )

    @workflow.update
    async def act(self, request: ActionRequest) -> ActionResult:
        async with self._lock:
            if self._closed:
                # A double click, or two people at once: the fix ran once; say how it ended.
                return self._result(request, False, f"Already {self._closed_phrase()}.")
            action = self._action(request.action)
            assert action is not None  # the validator saw to that
            actor = request.user
            if not self._may(action, request):
                # Accepted as an update (so it is on the record) but never executed.
                who = action.allowed.describe()
                self._record(
                    "action_refused",
                    f"{request.user_name or actor} may not {action.label.lower()}: only {who}",
                    actor=actor,
                    data={"action": action.id, "source": request.source},
                )
                return self._result(
                    request, False, f"You cannot {action.label.lower()} this — {who} can."
                )
            self._first_human_at = self._first_human_at or workflow.now()
            self._record(
                "human_action",
                f"{request.user_name or actor} pressed {action.label}"
                + (f": {request.note}" if request.note else ""),
                actor=actor,
                data={"action": action.id, "source": request.source},
            )
            if action.snooze_for is not None:
                self._snoozed_until = workflow.now() + action.snooze_for
                self._attention_anchor = self._snoozed_until
                self._record(
                    "snoozed", f"Snoozed for {human_duration(action.snooze_for)}", actor=actor
                )
                self._needs_publish = True
                self._wake = True
                return self._result(
                    request, True, f"Snoozed for {human_duration(action.snooze_for)}."
                )
            for step in action.steps:
                result = await self._run_step(step, actor=actor, value=request.value)
                if not result.ok:
                    self._wake = True
                    return self._result(request, True, result.text)
            if action.closes_as:
                self._close(
                    action.closes_as, actor, f"{action.label} by {request.user_name or actor}"
                )
                return self._result(request, True, f"Done: {self._closed_phrase()}.")
            self._needs_publish = True
            self._wake = True
            return self._result(request, True, f"{action.label}: recorded.")

    @act.validator
    def _validate_act(self, request: ActionRequest) -> None:
        # Runs before anything is written to history: a refused click leaves no trace but
        # the refusal the caller shows.
        if self._closed:
            raise ValueError(f"This remediation is already {self._closed_phrase()}.")
        if self._diagnosis is None:
            raise ValueError("Canary is still diagnosing this error; try again in a moment.")
        if self._action(request.action) is None:
            offered = ", ".join(a.id for a in self._diagnosis.actions) or "none"
            raise ValueError(f"Unknown action {request.action!r} here; offered: {offered}.")

    @workflow.query
    def status(self) -> RemediationStatus:
        return self._status()

    # -- helpers ------------------------------------------------------------------------------

    def _may(self, action: HumanAction, request: ActionRequest) -> bool:
        """Who may press which button, from the SOP; admins always may (break-glass).

        The CLI and the API reach Temporal with the operator's own credentials, which
        already allow anything, so only chat clicks are checked against the SOP."""
        allowed = action.allowed
        user = request.user
        if request.source != "slack" or allowed.anyone or user in self._config.admins:
            return True
        if allowed.owner and self._owner.slack_user and user == self._owner.slack_user:
            return True
        if user in allowed.users:
            return True
        return any(user in self._group_members.get(group, []) for group in allowed.groups)

    def _action(self, action_id: str) -> HumanAction | None:
        if self._diagnosis is None:
            return None
        return next((a for a in self._diagnosis.actions if a.id == action_id), None)

    def _result(self, request: ActionRequest, accepted: bool, message: str) -> ActionResult:
        return ActionResult(
            accepted=accepted,
            action=request.action,
            state=self._state,
            outcome=self._outcome,
            message=message,
        )

    def _closed_phrase(self) -> str:
        by = (
            f" by {self._resolved_by}"
            if self._resolved_by and self._resolved_by != "canary"
            else ""
        )
        return {
            "auto_resolved": "fixed automatically",
            "resolved_by_human": f"resolved{by}",
            "resolved_externally": f"resolved externally{by}",
            "dismissed": f"dismissed{by}",
            "expired": "expired",
        }.get(self._outcome or "", "closed")

    def _close(
        self, outcome: Outcome, actor: str, text: str, evidence: dict[str, Any] | None = None
    ) -> None:
        if self._closed:
            return
        self._closed = True
        self._outcome = outcome
        self._resolved_by = actor
        state: State = {"dismissed": "dismissed", "expired": "failed"}.get(outcome, "resolved")  # type: ignore[assignment]
        self._state = state
        self._record(
            "closed",
            f"{text} — outcome {outcome}",
            actor=actor,
            data={"outcome": outcome, "evidence": evidence or {}},
        )
        self._upsert()

    def _set_state(self, state: State) -> None:
        if self._closed or self._state == state:
            return
        self._state = state
        self._record("state", f"State is now {state}")
        self._upsert()

    def _record(
        self,
        kind: str,
        text: str,
        actor: str = "canary",
        data: dict[str, Any] | None = None,
        thread: bool = True,
    ) -> None:
        now = workflow.now()
        self._timeline.append(
            TimelineEntry(at=now, kind=kind, text=text, actor=actor, data=data or {})
        )
        if thread and kind in THREADED_KINDS:
            who = f"<@{actor}>" if actor[:1] == "U" and actor[1:].isalnum() else actor
            self._thread_queue.append(f"`{now:%H:%M}` {who}: {text}")

    def _note(self, text: str) -> None:
        self._notes = [*self._notes, text][-MAX_NOTES:]

    def _mention(self) -> str | None:
        if self._owner.slack_user:
            return f"<@{self._owner.slack_user}>"
        owner = self._owner.name or self._facts.get("owner_name") or self._owner.email
        if owner:
            # The owner is not on Slack: the channel is the fallback, so ask it by name.
            return f"<!here> *{owner}* (the owner) is not on Slack —"
        return None

    def _temporal_url(self) -> str:
        return temporal_ui_link(
            self._config.temporal_ui_url, self._config.namespace, self._workflow_id
        )

    def _status(self) -> RemediationStatus:
        diagnosis = self._diagnosis
        subject = self._detection.subject
        return RemediationStatus(
            workflow_id=self._workflow_id,
            error_type=diagnosis.error_type if diagnosis else (self._detection.type or "unknown"),
            state=self._state,
            outcome=self._outcome,
            escalation_level=self._escalation_level,
            severity=diagnosis.severity if diagnosis else "medium",
            subject=subject,
            subject_id=subject.id,
            account=self._account,
            owner=self._owner.email or self._account.owner_email,
            headline=diagnosis.headline if diagnosis else f"{self._detection.source} error",
            occurrences=self._occurrences,
            attempts=self._attempts,
            started_at=self._started_at,
            updated_at=self._timeline[-1].at if self._timeline else self._started_at,
            slack=self._slack,
            diagnosis=diagnosis,
            actions=[a.id for a in diagnosis.actions] if diagnosis and not self._closed else [],
            snoozed_until=self._snoozed_until,
            timeline=list(self._timeline),
        )

    def _details(self) -> str:
        """Markdown for the Temporal UI's 'current details' panel."""
        status = self._status()
        lines = [f"**{status.headline}**", "", f"State: {status.state}"]
        if status.outcome:
            lines.append(f"Outcome: {status.outcome}")
        if self._diagnosis:
            lines += ["", self._diagnosis.summary, "", f"Next: {self._diagnosis.what_to_do}"]
        lines += [
            f"Escalation level: {self._escalation_level}",
            f"Occurrences: {self._occurrences}, attempts: {self._attempts}",
        ]
        return "\n".join(lines)

    def _flush_upserts(self) -> None:
        deferred, self._deferring_upserts = self._upsert_pending, False
        if deferred:
            self._upsert(error_type=self._deferred_type)

    def _upsert(self, error_type: str | None = None) -> None:
        if not self._config.search_attributes:
            return
        if self._deferring_upserts:
            self._upsert_pending = True
            self._deferred_type = error_type or self._deferred_type
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.STATE.value_set(self._state),
            sa.ESCALATION_LEVEL.value_set(self._escalation_level),
            sa.SUBJECT.value_set(f"{self._detection.subject.kind}:{self._detection.subject.id}"),
        ]
        kind = error_type or (self._diagnosis.error_type if self._diagnosis else None)
        if kind:
            updates.append(sa.ERROR_TYPE.value_set(kind))
        if self._diagnosis:
            updates.append(sa.SEVERITY.value_set(self._diagnosis.severity))
            if self._diagnosis.signature:
                updates.append(sa.SIGNATURE.value_set(self._diagnosis.signature))
        if self._account.key():
            updates.append(sa.ACCOUNT.value_set(self._account.key()[:200]))
        owner = self._owner.email or self._account.owner_email
        if owner:
            updates.append(sa.OWNER.value_set(owner))
        if self._lean_history():
            current = workflow.info().typed_search_attributes
            updates = [u for u in updates if current.get(u.key) != u.value]
            if not updates:
                return
        workflow.upsert_search_attributes(updates)

    async def _slack_call(
        self, message: SlackMessageInput, local: bool = False
    ) -> SlackMessageOutput | None:
        execute = workflow.execute_local_activity if local else workflow.execute_activity
        try:
            result: SlackMessageOutput = await execute(
                "canary.post_slack",
                message,
                result_type=SlackMessageOutput,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except FailureError as err:
            # (A local activity's failure arrives as the ApplicationError or timeout itself.)
            # Slack being down must not lose the remediation: it is still in Temporal, the
            # failure is on the timeline, and the next state change tries to post again.
            self._record("slack_failed", f"Could not post to Slack: {_cause(err)}")
            return None
        return result

    def _to_digest(self) -> bool:
        """Non-urgent and not escalated yet: the owner's daily digest instead of an alert."""
        diagnosis = self._diagnosis
        if diagnosis is None or not diagnosis.alerting.digest or self._digest_failed:
            return False
        if self._slack is not None or self._escalation_level > 0:
            return False
        return diagnosis.severity not in diagnosis.alerting.immediate

    async def _add_to_digest(self) -> None:
        workflow.set_current_details(self._details())
        if self._digest_id is not None or self._closed or self._diagnosis is None:
            return
        status = self._status()
        owner = self._owner.email or self._account.owner_email or self._config.alert_channel
        try:
            added: DigestAddOutput = await workflow.execute_activity(
                "canary.digest_add",
                DigestAddInput(
                    digest=DigestInput(
                        owner=owner,
                        slack_user=self._owner.slack_user,
                        channel=self._config.alert_channel,
                        hour_utc=self._config.digest_hour_utc,
                    ),
                    item=DigestItem(
                        workflow_id=self._workflow_id,
                        headline=status.headline,
                        severity=self._diagnosis.severity,
                        error_type=self._diagnosis.error_type,
                        summary=self._diagnosis.summary,
                        actions=[
                            {"id": a.id, "label": a.label, "style": a.style}
                            for a in self._diagnosis.actions
                            if not a.select_from
                        ],
                    ),
                ),
                result_type=DigestAddOutput,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except ActivityError as err:
            # No digest to join: better one alert too many than a finding nobody sees.
            self._digest_failed = True
            self._record("digest_failed", f"Could not add to the digest: {_cause(err)}")
            return
        self._digest_id = added.digest_id
        self._first_notified_at = workflow.now()
        self._record(
            "digested",
            f"Added to {owner}'s daily digest (severity {self._diagnosis.severity} "
            "does not alert at once)",
            data={"digest_id": added.digest_id},
        )

    async def _email_if_urgent(self) -> None:
        diagnosis = self._diagnosis
        if self._emailed or diagnosis is None or diagnosis.severity not in diagnosis.alerting.email:
            return
        self._emailed = True
        recipient = self._owner.email or self._account.owner_email
        if not recipient:
            self._record("email_skipped", "No owner e-mail on record for the urgent e-mail")
            return
        subject, text, html = alert_email(self._status(), self._links, self._temporal_url())
        try:
            sent: EmailOutput = await workflow.execute_activity(
                "canary.send_email",
                EmailInput(
                    to=[recipient],
                    subject=subject,
                    text=text,
                    html=html,
                    message_id_key=f"{self._key_prefix}/email",
                ),
                result_type=EmailOutput,
                start_to_close_timeout=SLACK_TIMEOUT,
                retry_policy=SLACK_RETRY,
            )
        except ActivityError as err:
            self._record("email_failed", f"Could not e-mail {recipient}: {_cause(err)}")
            return
        self._record(
            "emailed",
            f"E-mailed {', '.join(sent.accepted) or recipient} (severity {diagnosis.severity})",
            data={"message_id": sent.message_id},
        )

    async def _publish(self) -> None:
        """Post the alert once, then update that same message in place on every change."""
        self._needs_publish = False
        if self._to_digest():
            await self._add_to_digest()
            if not self._digest_failed:
                await self._email_if_urgent()
                return
        if self._digest_id is not None and self._slack is None and self._closed:
            # Handled from the digest: nobody saw an alert, so none is posted to say it closed.
            workflow.set_current_details(self._details())
            return
        status = self._status()
        blocks = build_blocks(
            status,
            self._links,
            self._mention(),
            self._temporal_url(),
            self._notes if not self._closed else None,
        )
        workflow.set_current_details(self._details())
        message = SlackMessageInput(
            workflow_id=self._workflow_id,
            channel=self._config.alert_channel,
            text=fallback_text(status),
            blocks=blocks,
            ts=self._slack.ts if self._slack else None,
            metadata_key=None if self._slack else f"{self._key_prefix}/alert",
        )
        if self._slack:
            message.channel = self._slack.channel
        threaded = 0
        if not self._slack and self._thread_queue and self._quick_start():
            # The first reply rides with the alert: one activity, one round trip.
            threaded = len(self._thread_queue)
            message.thread_text = "\n".join(self._thread_queue)
            message.thread_metadata_key = self._thread_key(self._thread_posts + 1)
        local = not self._slack and self._local_alert()
        if local:
            # Posted from the workflow task. A first try of the first task has seen three
            # events and the signals delivered with it; a longer history means the task is
            # tried again (a failed or timed-out try adds its own events) or heartbeated, and
            # this may have posted already: then Slack is searched for the alert first.
            first_try = 3 + self._signals
            message.look_first = workflow.info().get_current_history_length() > first_try
        result = await self._slack_call(message, local=local)
        if result and result.thread_ts:
            self._thread_posts += 1
            self._thread_queue = self._thread_queue[threaded:]
        if result and not self._slack:
            self._slack = SlackRef(channel=result.channel, ts=result.ts, permalink=result.permalink)
            self._first_notified_at = self._first_notified_at or workflow.now()
            self._record(
                "notified",
                f"Alert posted to {self._config.alert_channel}",
                data={"channel": result.channel, "ts": result.ts},
            )
            await self._email_if_urgent()
        if self._slack and self._thread_queue:
            # The timeline, threaded under the alert: one reply per batch of changes.
            lines, self._thread_queue = self._thread_queue, []
            await self._thread("\n".join(lines))

    async def _thread(self, text: str) -> None:
        if not self._slack:
            return
        self._thread_posts += 1
        await self._slack_call(
            SlackMessageInput(
                workflow_id=self._workflow_id,
                channel=self._slack.channel,
                text=text,
                blocks=thread_blocks(text),
                thread_ts=self._slack.ts,
                metadata_key=self._thread_key(self._thread_posts),
            )
        )

    def _thread_key(self, post: int) -> str:
        return f"{self._key_prefix}/thread/{post}"

    def _resolution_record(self) -> ResolutionRecord:
        assert self._outcome is not None
        closed_at = next(e.at for e in reversed(self._timeline) if e.kind == "closed")
        return ResolutionRecord(
            workflow_id=self._workflow_id,
            error_type=self._diagnosis.error_type if self._diagnosis else "unknown",
            state=self._state,
            outcome=self._outcome,
            subject=self._detection.subject,
            account=self._account,
            severity=self._diagnosis.severity if self._diagnosis else "medium",
            resolved_by=self._resolved_by,
            started_at=self._started_at,
            first_notified_at=self._first_notified_at,
            first_human_action_at=self._first_human_at,
            closed_at=closed_at,
            time_to_first_notification=(self._first_notified_at - self._started_at)
            if self._first_notified_at
            else None,
            time_to_first_human_action=(self._first_human_at - self._started_at)
            if self._first_human_at
            else None,
            time_to_resolution=closed_at - self._started_at,
            attempts=self._attempts,
            occurrences=self._occurrences,
            highest_escalation_level=self._highest_escalation,
            signature=self._diagnosis.signature if self._diagnosis else None,
            timeline=list(self._timeline),
        )
