"""RemediationState: everything one remediation knows, and its pure transitions.

The workflow keeps one instance and hands it whole to the next run when it continues as new,
so nothing is copied field by field. Every method here is deterministic: time comes in as
``now`` (the workflow's clock), so the transitions are tested without Temporal.

Times are absolute, so the escalation ladder, scheduled steps, snoozes, expiry and the
cooldown keep their schedule across runs; counters (step runs, thread posts) go on from where
they were, so idempotency keys and Slack metadata keys never repeat.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel, Field

from canary.models.detection import AccountRef, Detection, Link
from canary.models.remediation import (
    PAYMENT_FAILED,
    ActionRequest,
    Diagnosis,
    ExternalEvent,
    Outcome,
    PaymentRecovery,
    RecoveredBy,
    RemediationConfig,
    RemediationStatus,
    ResolutionRecord,
    ResolveOwnerOutput,
    SlackRef,
    State,
    TimelineEntry,
    TimelineKind,
    carries_buttons,
    reported_owner,
    without_reported_owner,
)
from canary.models.sop import HumanAction
from canary.models.windows import WINDOW_ENDED, QuietWindow
from canary.recovery.plans import describe_next, next_retry, planned_attempts

#: The outside fact Stripe's card events become (starter.stripe_events.card_change_from_event).
CARD_UPDATED = "card_updated"

#: The timeline data key of a line Canary wrote for the alert's thread itself (mrkdwn made
#: from the catalog and Canary's lookups, such as an escalation's mention, never a report's
#: text): the entry is threaded as that line, whatever its kind.
THREAD_MRKDWN = "thread_mrkdwn"
#: Timeline entries worth a line in the alert's Slack thread (the rest stay in Temporal).
THREADED_KINDS: frozenset[TimelineKind] = frozenset(
    {
        "step_succeeded",
        "step_failed",
        "human_action",
        "snoozed",
        "occurrence",
        "external",
        "closed",
        "enrich_failed",
        "held",
    }
)
#: Warnings kept under the alert (the latest few).
MAX_NOTES = 3
#: What each outcome leaves the remediation's state as.
CLOSED_STATE: dict[Outcome, State] = {
    "auto_resolved": "resolved",
    "resolved_by_human": "resolved",
    "resolved_externally": "resolved",
    "dismissed": "dismissed",
    "expired": "failed",
}
assert set(CLOSED_STATE) == set(get_args(Outcome))


class RemediationState(PaymentRecovery):
    """What a remediation knows; carried whole across continue-as-new. The PaymentRecovery
    fields hold what the workflow recorded about a failed payment (note_payment_failure,
    record_recovery); ``payment_recovery`` says what its status and record carry."""

    run: int = Field(1, description="Which run of the workflow this is (the first is 1).")
    started_at: datetime
    state: State = "diagnosing"
    outcome: Outcome | None = None
    closed: bool = False
    resolved_by: str | None = None
    close_reason: str | None = Field(
        None, description="Why it was dismissed, or what fixed it, as the person said."
    )
    diagnosis: Diagnosis | None = Field(
        None, description="Pinned when diagnosed: the SOP's steps, buttons and ladder."
    )
    diagnosed_at: datetime | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    account: AccountRef
    reported_owner: str | None = Field(
        None,
        description="The owner the first report named: shown, never trusted (the owner "
        "comes from Salesforce, Stripe or Canary's own detector).",
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)
    seen: list[str] = Field(
        default_factory=list, description="Report ids and event ids already folded in."
    )
    occurrences: int = 1
    signed_by_stripe: bool = Field(
        False, description="Money may move without a person (see RemediationInput)."
    )
    attempts: int = Field(0, description="Payment retries made.")
    retry_times: list[datetime] = Field(
        default_factory=list,
        description="When each payment retry was made (planned or by hand): the plan's cap "
        "counts them.",
    )
    recovery_hint: str | None = Field(
        None,
        description="What the payment's last retry was (scheduled_retry:<n>, person_retry, "
        "card_update_retry): what recovered it, if it closes on it.",
    )
    card_updated_at: datetime | None = Field(
        None, description="A new card was reported and its retry is still to run."
    )
    cards_retried: list[str] = Field(
        default_factory=list,
        description="The payment methods a new-card retry was made (or is due) on: Stripe "
        "reports one card change twice (attached, then made the default), and it is retried once.",
    )
    dunned: list[str] = Field(
        default_factory=list, description="The dunning e-mails the plan has sent (or held)."
    )
    windows_checked: bool = Field(
        False, description="The quiet windows were looked up (once, before the first alert)."
    )
    window: QuietWindow | None = Field(
        None, description="The quiet window that muted this remediation's alert, if any."
    )
    window_over: bool = Field(
        False, description="That window has ended: people have been told (or will be now)."
    )
    plan_slots: list[datetime] = Field(
        default_factory=list,
        description="The recovery plan's retries handled so far (run, or held for a person), "
        "by the time they were due.",
    )
    escalation_level: int = 0
    highest_escalation: int = 0
    owner: ResolveOwnerOutput = Field(default_factory=ResolveOwnerOutput)
    manager: ResolveOwnerOutput = Field(default_factory=ResolveOwnerOutput)
    slack: SlackRef | None = Field(None, description="The alert, once posted.")
    messages: list[SlackRef] = Field(
        default_factory=list,
        description="Escalation and digest posts with its buttons: a click counts only on "
        "one of these or the alert.",
    )
    thread_posts: int = 0
    thread_queue: list[int] = Field(
        default_factory=list, description="Timeline entries (indexes) not threaded yet."
    )
    links: list[Link] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    step_runs: dict[str, int] = Field(default_factory=dict)
    done_scheduled: list[str] = Field(default_factory=list)
    first_notified_at: datetime | None = None
    first_human_at: datetime | None = None
    attention_anchor: datetime | None = Field(
        None, description="Since when people have been waited for (the ladder counts from it)."
    )
    snoozed_until: datetime | None = None
    external: list[ExternalEvent] = Field(
        default_factory=list, description="Outside facts received and not handled yet."
    )
    needs_publish: bool = False
    alert_failures: int = Field(
        0, description="First-alert posts Slack refused or missed, each after its retries."
    )
    alert_retry_at: datetime | None = Field(
        None, description="When the first alert is tried again (a durable timer), if due."
    )
    digest_id: str | None = None
    digest_failed: bool = False
    emailed: bool = False
    cooldown_until: datetime | None = None

    @classmethod
    def begin(
        cls,
        detection: Detection,
        now: datetime,
        owner_email: str | None = None,
        signed_by_stripe: bool = False,
        manager_email: str | None = None,
        from_detector: bool = False,
    ) -> RemediationState:
        """The state of a new remediation. ``owner_email`` and ``manager_email`` are the
        people Canary's own detector looked up; people the report names are trusted for
        nothing (the owner is kept as reported), nor are the lookups' verdicts and targets it
        names unless Canary's own detector made it (``from_detector``)."""
        account, facts = without_reported_owner(detection, from_detector)
        if manager_email:
            facts["manager_email"] = manager_email
        reported = reported_owner(detection)
        state = cls(
            started_at=now,
            facts=facts,
            account=account.model_copy(update={"owner_email": owner_email}),
            reported_owner=reported,
            seen=[detection.dedupe_key()],
            signed_by_stripe=signed_by_stripe,
        )
        state.record(
            now,
            "detected",
            f"{detection.source} reported {detection.type or 'an error'} on "
            f"{detection.subject.kind} {detection.subject.id}",
            actor=detection.source,
            data={
                "detection": detection.model_dump(mode="json"),
                # Named by the report, left for the lookups to establish.
                "not_trusted": sorted(detection.facts.keys() - facts.keys()),
            },
        )
        if reported and reported != owner_email:
            state.record(
                now,
                "owner_reported",
                f"Owner {reported} reported by {detection.source}, not trusted: the owner "
                "comes from Salesforce or Stripe",
                actor=detection.source,
                data={"reported_owner": reported},
            )
        return state

    # -- the record --------------------------------------------------------------------------

    def record(
        self,
        now: datetime,
        kind: TimelineKind,
        text: str,
        actor: str = "canary",
        data: dict[str, Any] | None = None,
        thread: bool = True,
    ) -> None:
        """A timeline entry; the kinds people follow are also queued for the alert's thread."""
        self.timeline.append(
            TimelineEntry(at=now, kind=kind, text=text, actor=actor, data=data or {})
        )
        if thread and (kind in THREADED_KINDS or THREAD_MRKDWN in (data or {})):
            self.thread_queue.append(len(self.timeline) - 1)

    def take_thread_lines(self, count: int | None = None) -> list[TimelineEntry]:
        """The queued thread entries (the first ``count`` of them), off the queue."""
        taken = self.thread_queue if count is None else self.thread_queue[:count]
        self.thread_queue = self.thread_queue[len(taken) :]
        return [self.timeline[i] for i in taken]

    def queued_thread_lines(self) -> list[TimelineEntry]:
        return [self.timeline[i] for i in self.thread_queue]

    def note(self, text: str) -> None:
        self.notes = [*self.notes, text][-MAX_NOTES:]

    def saw(self, key: str) -> bool:
        """Whether ``key`` was folded in already; remembers it if not."""
        if key in self.seen:
            return True
        self.seen.append(key)
        return False

    # -- transitions ---------------------------------------------------------------------------

    def set_state(self, now: datetime, state: State) -> bool:
        """Move to ``state`` unless closed or already there; whether it moved."""
        if self.closed or self.state == state:
            return False
        self.state = state
        self.record(now, "state", f"State is now {state}")
        return True

    def close(
        self,
        now: datetime,
        outcome: Outcome,
        actor: str,
        text: str,
        evidence: dict[str, Any] | None = None,
    ) -> bool:
        """Close with ``outcome`` (once); whether this call closed it."""
        if self.closed:
            return False
        self.closed = True
        self.outcome = outcome
        self.resolved_by = actor
        self.state = CLOSED_STATE[outcome]
        self._attribute_recovery(now, outcome)
        self.record(
            now,
            "closed",
            f"{text} — outcome {outcome}",
            actor=actor,
            data={"outcome": outcome, "evidence": evidence or {}},
        )
        return True

    def _attribute_recovery(self, now: datetime, outcome: Outcome) -> None:
        """A failed payment's close says what recovered it: the retry it closed on (the plan's
        n-th, a person's, the one after a card update), the payer (Stripe's invoice.paid: the
        hosted page or their own card), or nothing: dismissed is written off."""
        if self.diagnosis is None or self.diagnosis.error_type != "payment_failed":
            return
        hint = self.recovery_hint or ""
        if outcome == "dismissed":
            self.record_recovery(now, "written_off")
        elif outcome == "resolved_externally":
            self.record_recovery(now, "hosted_page")
        elif outcome in ("auto_resolved", "resolved_by_human") and hint:
            kind, _, number = hint.partition(":")
            if kind == "scheduled_retry":
                self.record_recovery(now, "scheduled_retry", attempt=int(number or 0) or None)
            elif kind in ("person_retry", "card_update_retry"):
                self.record_recovery(now, kind)  # type: ignore[arg-type]

    def fold_occurrence(self, now: datetime, detection: Detection) -> bool:
        """The same subject reported again: counted once per report id (suppressed while
        cooling down after it closed). Whether the alert has news to show.

        The report's facts are kept in its timeline entry as evidence, never merged into
        ``facts``: the steps read their targets (opportunity, case, retry URL…) from there,
        and people approved a fix about what the first report and Canary's lookups found."""
        if self.saw(detection.dedupe_key()):
            return False  # a redelivered webhook: already counted
        if self.closed:
            self.record(
                now,
                "suppressed",
                f"{detection.source} reported it again; quiet during the cooldown: "
                f"{detection.message[:200]}",
                actor=detection.source,
                data={"detection_id": detection.id},
            )
            return False
        self.occurrences += 1
        not_applied = sorted(
            key for key, value in detection.facts.items() if self.facts.get(key) != value
        )
        self.record(
            now,
            "occurrence",
            f"Reported again by {detection.source} (#{self.occurrences}): "
            f"{detection.message[:200]}",
            actor=detection.source,
            data={
                "detection_id": detection.id,
                "facts": detection.facts,
                "not_applied": not_applied,
            },
        )
        self.needs_publish = True
        return True

    def receive(self, event: ExternalEvent) -> bool:
        """Queue an outside fact for the workflow's loop; False if it was seen before."""
        if event.event_id and self.saw(f"external:{event.event_id}"):
            return False
        self.external.append(event)
        return True

    def apply_external(self, now: datetime) -> None:
        """Handle the queued outside facts: one the SOP lists resolves the remediation with
        its evidence; the others are recorded. Waits until diagnosed (the SOP decides)."""
        if self.diagnosis is None:
            return
        while self.external and not self.closed:
            event = self.external.pop(0)
            if event.kind == CARD_UPDATED and (
                event.occurred_at is not None and event.occurred_at <= self.first_failure()
            ):
                self.record(
                    now,
                    "external",
                    f"{event.source} reported a card from before the failure (no effect)",
                    actor=event.source,
                    data=event.evidence,
                )
            elif event.kind == WINDOW_ENDED:
                self._window_ended_early(now, event)
            elif event.kind == CARD_UPDATED and self._card_retried(event):
                self.record(
                    now,
                    "external",
                    f"{event.source} reported the same new card again (retried once already)",
                    actor=event.source,
                    data=event.evidence,
                )
            elif (
                event.kind == CARD_UPDATED
                and self.diagnosis.retry_plan is not None
                and self.diagnosis.retry_plan.retry_on_new_card
            ):
                # A new card on file: the payment is retried on it once, now.
                self.card_updated_at = now
                card = event.evidence.get("payment_method")
                if isinstance(card, str):
                    self.cards_retried.append(card)
                self.record(
                    now,
                    "external",
                    f"{event.source} reported a new card: retrying the payment on it",
                    actor=event.source,
                    data=event.evidence,
                )
            elif event.kind in self.diagnosis.resolution.external_events:
                self.close(
                    now,
                    "resolved_externally",
                    event.source,
                    f"{event.source} reported {event.kind}",
                    evidence=event.evidence,
                )
            else:
                self.record(
                    now,
                    "external",
                    f"{event.source} reported {event.kind} (no effect)",
                    actor=event.source,
                    data=event.evidence,
                )

    # -- a failed payment's recovery -----------------------------------------------------------

    def note_payment_failure(
        self,
        *,
        amount: int | None = None,
        currency: str | None = None,
        decline_class: str | None = None,
        failed_at: datetime | None = None,
    ) -> None:
        """What failed, for the recovery report. The first value given for each field stays
        (the report counts an invoice by its first failure), and ``failed_at`` keeps the
        earliest; a value never given is read from the facts (see ``payment_recovery``)."""
        if self.failed_amount is None:
            self.failed_amount = _amount(amount)
        if self.currency is None:
            self.currency = _currency(currency)
        if self.decline_class is None:
            self.decline_class = decline_class or None
        if failed_at is not None:
            failed_at = _aware(failed_at)
            if self.first_failed_at is None or failed_at < self.first_failed_at:
                self.first_failed_at = failed_at

    def record_recovery(
        self,
        now: datetime,
        recovered_by: RecoveredBy,
        *,
        attempt: int | None = None,
        amount: int | None = None,
    ) -> bool:
        """What recovered the failed payment, or that it was ``written_off``; whether this
        call recorded it. A recovery is recorded once (invoice.paid arriving after the retry
        that paid it changes nothing); only a write-off gives way, to a payment that came
        after all. ``attempt`` is the scheduled retry that worked (1-based, kept with
        scheduled_retry only); ``amount`` is what was collected in minor units: the failed
        amount when not given, 0 when written off."""
        if self.recovered_by is not None and self.recovered_by != "written_off":
            return False
        if recovered_by == "written_off" and self.recovered_by == "written_off":
            return False
        self.recovered_by = recovered_by
        self.recovered_at = now
        scheduled = recovered_by == "scheduled_retry" and attempt is not None and attempt >= 1
        self.recovery_attempt = attempt if scheduled else None
        if recovered_by == "written_off":
            self.recovered_amount = 0
        else:
            given = _amount(amount)
            self.recovered_amount = given if given is not None else self._failed_amount()
        return True

    def _failed_amount(self) -> int | None:
        if self.failed_amount is not None:
            return self.failed_amount
        return _amount(self.facts.get("amount_due"))

    def payment_recovery(self, detection: Detection) -> PaymentRecovery:
        """The recovery fields its status and record carry: as recorded and, for a payment
        remediation, what was not recorded read from what it knows: the amount and currency
        of the facts (Stripe's amount_due, which a payment leaves as it was), and the first
        failure when its report says it happened (its start, if that is earlier)."""
        recorded = self.recovery_fields()
        error_type = self.diagnosis.error_type if self.diagnosis else detection.type
        if error_type != PAYMENT_FAILED:
            return recorded
        return recorded.model_copy(
            update={
                "failed_amount": self._failed_amount(),
                "currency": self.currency or _currency(self.facts.get("currency")),
                "first_failed_at": self.first_failed_at
                or min(_aware(detection.occurred_at), self.started_at),
            }
        )

    # -- who may act ---------------------------------------------------------------------------

    def action(self, action_id: str) -> HumanAction | None:
        if self.diagnosis is None:
            return None
        return next((a for a in self.diagnosis.actions if a.id == action_id), None)

    def carries_buttons_in(self, channel: str | None, ts: str | None) -> bool:
        """Whether a click's message is one this remediation posted with its buttons."""
        return carries_buttons(self.slack, self.messages, channel, ts)

    def may_act(self, action: HumanAction, request: ActionRequest) -> bool:
        """Who may press which button, from the SOP; admins always may (break-glass).

        The CLI and the API reach Temporal with the operator's own credentials, which
        already allow anything, so only chat clicks are checked against the SOP. Whether the
        clicker is an admin or in a group is what the gateway read when the click arrived
        (never a snapshot from when the remediation started)."""
        allowed = action.allowed
        user = request.user
        if request.source != "slack" or allowed.anyone or request.admin:
            return True
        if allowed.owner and self.owner.slack_user and user == self.owner.slack_user:
            return True
        if user in allowed.users:
            return True
        return any(group in request.member_of for group in allowed.groups)

    # -- what it shows -------------------------------------------------------------------------

    def status(self, workflow_id: str, detection: Detection) -> RemediationStatus:
        diagnosis = self.diagnosis
        subject = detection.subject
        return RemediationStatus(
            workflow_id=workflow_id,
            error_type=diagnosis.error_type if diagnosis else (detection.type or "unknown"),
            state=self.state,
            outcome=self.outcome,
            escalation_level=self.escalation_level,
            severity=diagnosis.severity if diagnosis else "medium",
            subject=subject,
            subject_id=subject.id,
            account=self.account,
            owner=self.owner.email or self.account.owner_email,
            owner_slack_user=self.owner.slack_user,
            headline=diagnosis.headline if diagnosis else f"{detection.source} error",
            occurrences=self.occurrences,
            attempts=self.attempts,
            started_at=self.started_at,
            updated_at=self.timeline[-1].at if self.timeline else self.started_at,
            slack=self.slack,
            messages=list(self.messages),
            diagnosis=diagnosis,
            actions=[a.id for a in diagnosis.actions] if diagnosis and not self.closed else [],
            snoozed_until=self.snoozed_until,
            retrying_quietly=not self.closed and self.quiet_now(),
            timeline=list(self.timeline),
            next_retry=self.next_retry_text(),
            close_reason=self.close_reason,
            **self.payment_recovery(detection).model_dump(),
        )

    # -- the recovery plan ------------------------------------------------------------------

    def payer_timezone(self) -> str | None:
        zone = self.facts.get("customer_timezone")
        return str(zone) if zone else None

    def first_failure(self) -> datetime:
        return self.first_failed_at or self.started_at

    def next_planned_retry(self) -> datetime | None:
        """When the recovery plan retries the payment next, from the state alone (so a
        continued or replayed run keeps the schedule): after the last retry and the last slot
        handled; None when there is no plan, it is over, or the remediation is closed."""
        plan = self.diagnosis.retry_plan if self.diagnosis else None
        if plan is None or not plan.scheduled or self.closed or self.diagnosed_at is None:
            return None
        after = max([self.diagnosed_at, *self.plan_slots, *self.retry_times])
        return next_retry(
            plan, self.first_failure(), list(self.retry_times), self.payer_timezone(), after
        )

    # -- quiet windows ---------------------------------------------------------------------

    def mute_for(self, now: datetime, windows: list[QuietWindow], account: AccountRef) -> None:
        """Take the first open window that matches this remediation (checked once, before
        its first alert): its alert waits for the window's end."""
        self.windows_checked = True
        if self.diagnosis is None or self.slack is not None:
            return
        for window in windows:
            if window.open_at(now) and window.matches(self.diagnosis.error_type, account):
                self.window = window
                self.record(
                    now,
                    "muted",
                    f"Quiet window “{window.reason}” ({window.scope()}, opened by "
                    f"{window.opener}): nobody is pinged until it ends "
                    f"{window.end:%a %d %b %H:%M} UTC",
                    data={"window": window.id, "until": window.end.isoformat()},
                    thread=False,
                )
                return

    def muted(self) -> bool:
        """A quiet window holds the alert: no alert is out yet and the window has not ended."""
        return (
            self.window is not None
            and not self.window_over
            and self.slack is None
            and not self.closed
        )

    def end_window(self, now: datetime) -> None:
        """The window is over: people are told once (the alert says it opened during it)."""
        if self.window is None or self.window_over:
            return
        self.window_over = True
        self.attention_anchor = now
        self.needs_publish = True
        self.note(
            f"Opened during the quiet window “{self.window.reason}” "
            f"(ended {self.window.end:%a %d %b %H:%M} UTC)"
        )
        self.record(
            now,
            "state",
            f"Quiet window “{self.window.reason}” ended: alerting the people now",
            data={"window": self.window.id},
            thread=False,
        )

    def _window_ended_early(self, now: datetime, event: ExternalEvent) -> None:
        window = self.window
        if window is None or event.evidence.get("window") != window.id or self.window_over:
            self.record(now, "external", "A quiet window ended (not this one's)", thread=False)
            return
        self.window = window.model_copy(update={"ended_at": now, "ended_by": event.source})

    def _card_retried(self, event: ExternalEvent) -> bool:
        """This card change is one already being retried or retried: the same payment method,
        or any card while the retry of the last one is still to run."""
        card = event.evidence.get("payment_method")
        return self.card_updated_at is not None or (
            isinstance(card, str) and card in self.cards_retried
        )

    def quiet_now(self) -> bool:
        """Retrying quietly: the diagnosis says so, no alert is out, and the plan has
        retries ahead. People hear of it when the plan is exhausted."""
        return bool(
            self.diagnosis
            and self.diagnosis.quiet_while_retrying
            and self.slack is None
            and self.next_planned_retry() is not None
        )

    def dunning_due(self) -> list[tuple[datetime, str]]:
        """The payer's e-mails still ahead and when: a day's e-mail on its day, an attempt's
        once that retry was made (and did not close it)."""
        if self.diagnosis is None or self.closed or self.diagnosed_at is None:
            return []
        due: list[tuple[datetime, str]] = []
        for cue in self.diagnosis.dunning:
            if cue.email in self.dunned:
                continue
            if cue.day is not None:
                due.append((self.first_failure() + timedelta(days=cue.day), cue.email))
            elif cue.after_attempt is not None and len(self.plan_slots) >= cue.after_attempt:
                due.append((self.plan_slots[cue.after_attempt - 1], cue.email))
        return sorted(due)

    def planned_total(self) -> int:
        plan = self.diagnosis.retry_plan if self.diagnosis else None
        if plan is None:
            return 0
        return len(planned_attempts(plan, self.first_failure(), self.payer_timezone()))

    def next_retry_text(self) -> str | None:
        due = self.next_planned_retry()
        if due is None:
            return None
        total = max(self.planned_total(), len(self.plan_slots) + 1)
        return describe_next(due, len(self.plan_slots) + 1, total, self.payer_timezone())

    def details(self, detection: Detection) -> str:
        """Markdown for the Temporal UI's 'current details' panel."""
        diagnosis = self.diagnosis
        headline = diagnosis.headline if diagnosis else f"{detection.source} error"
        lines = [f"**{headline}**", "", f"State: {self.state}"]
        if self.outcome:
            lines.append(f"Outcome: {self.outcome}")
        if diagnosis:
            lines += ["", diagnosis.summary, "", f"Next: {diagnosis.what_to_do}"]
        lines += [
            f"Escalation level: {self.escalation_level}",
            f"Occurrences: {self.occurrences}, attempts: {self.attempts}",
        ]
        return "\n".join(lines)

    def resolution_record(self, workflow_id: str, detection: Detection) -> ResolutionRecord:
        assert self.outcome is not None
        closed_at = next(e.at for e in reversed(self.timeline) if e.kind == "closed")
        started = self.started_at
        return ResolutionRecord(
            workflow_id=workflow_id,
            error_type=self.diagnosis.error_type if self.diagnosis else "unknown",
            state=self.state,
            outcome=self.outcome,
            subject=detection.subject,
            account=self.account,
            severity=self.diagnosis.severity if self.diagnosis else "medium",
            resolved_by=self.resolved_by,
            close_reason=self.close_reason,
            started_at=started,
            first_notified_at=self.first_notified_at,
            first_human_action_at=self.first_human_at,
            closed_at=closed_at,
            time_to_first_notification=(self.first_notified_at - started)
            if self.first_notified_at
            else None,
            time_to_first_human_action=(self.first_human_at - started)
            if self.first_human_at
            else None,
            time_to_resolution=closed_at - started,
            attempts=self.attempts,
            occurrences=self.occurrences,
            highest_escalation_level=self.highest_escalation,
            signature=self.diagnosis.signature if self.diagnosis else None,
            timeline=list(self.timeline),
            **self.payment_recovery(detection).model_dump(),
        )


def _amount(value: object) -> int | None:
    """An amount in minor units: a whole number, not negative; else None."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _currency(value: object) -> str | None:
    """An ISO currency code, lowercase as Stripe writes it; else None."""
    if isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha():
        return value.lower()
    return None


def _aware(moment: datetime) -> datetime:
    """A naive time is read as UTC (reports may send one)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class RemediationInput(BaseModel):
    """The remediation workflow's input: the report that started it, the deployment's
    settings, and (when it continued as new) everything the previous run knew."""

    detection: Detection
    config: RemediationConfig = Field(default_factory=RemediationConfig)
    state: RemediationState | None = Field(None, description="None on a remediation's first run.")
    owner_email: str | None = Field(
        None,
        description="The owner Canary's own detector looked up in Salesforce (set only by "
        "canary.raise_detection); a report's owner_email is never trusted.",
    )
    manager_email: str | None = Field(
        None,
        description="The owner's manager, as Canary's own detector looked it up (set only by "
        "canary.raise_detection); a report's manager_email is never trusted.",
    )
    from_canary_detector: bool = Field(
        False,
        description="Made by Canary's own detector (set only by canary.raise_detection): its "
        "lookups' verdicts and targets (LOOKUP_FACTS) are trusted; a report's are not.",
    )
    signed_by_stripe: bool = Field(
        False,
        description="Started by a webhook whose Stripe signature the gateway verified (set "
        "only by its Stripe route): only then do steps that move money run by themselves.",
    )
