"""What the clock brings: the SOP's scheduled steps, the escalation ladder (owner → manager →
escalation channel → CRM case) and expiry, as typed deadlines.

The deadlines are computed from the state alone (absolute times: the diagnosis, the time
people have been waited on since, a snooze), so a continued run keeps the same schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from canary.blocks import (
        THREAD_MRKDWN,
        escalation_thread_line,
        human_duration,
        posts_to_escalation_channel,
    )
    from canary.catalog.diagnosis import render
    from canary.models import EscalationStep, RemediationState, Step

from workflows.remediation.alerting import Alerter
from workflows.remediation.context import Remediation
from workflows.remediation.steps import StepRunner


@dataclass(frozen=True)
class ScheduledStep:
    """An automated step the SOP runs some time after the diagnosis (a payment retry)."""

    due: datetime
    step: Step


@dataclass(frozen=True)
class Escalation:
    """The next rung of the ladder, due once people were waited on for its ``after``."""

    due: datetime
    rung: EscalationStep


@dataclass(frozen=True)
class Expiry:
    """Nobody resolved it in the SOP's time: it closes as expired."""

    due: datetime


@dataclass(frozen=True)
class PlannedRetry:
    """The recovery plan's next retry of a failed payment."""

    due: datetime


@dataclass(frozen=True)
class CardRetry:
    """A new card is on file: the payment is retried on it once, now."""

    due: datetime


@dataclass(frozen=True)
class DunningDue:
    """An e-mail of the dunning sequence to the payer."""

    due: datetime
    email: str


@dataclass(frozen=True)
class WindowEnd:
    """The quiet window that holds the alert ends: people are told now."""

    due: datetime


@dataclass(frozen=True)
class AlertRetry:
    """The first alert could not be posted: it is tried again."""

    due: datetime


Deadline = (
    ScheduledStep
    | CardRetry
    | PlannedRetry
    | DunningDue
    | WindowEnd
    | Escalation
    | Expiry
    | AlertRetry
)


def deadlines(state: RemediationState) -> list[Deadline]:
    """Every deadline still ahead of a diagnosed remediation, soonest first (ties keep this
    order: scheduled steps, the plan's retry, the escalation, expiry, an alert's retry)."""
    diagnosis, diagnosed_at = state.diagnosis, state.diagnosed_at
    assert diagnosis is not None and diagnosed_at is not None
    found: list[Deadline] = [
        ScheduledStep(diagnosed_at + step.after, step)
        for step in diagnosis.automated
        if step.after is not None and step.id not in state.done_scheduled
    ]
    if state.card_updated_at is not None:
        found.append(CardRetry(state.card_updated_at))
    if (planned := state.next_planned_retry()) is not None:
        found.append(PlannedRetry(planned))
    dunning = state.dunning_due()
    found += [DunningDue(due, email) for due, email in dunning]
    muted = state.muted()
    if muted:
        assert state.window is not None
        found.append(WindowEnd(state.window.end))
    ladder = diagnosis.escalation
    # The ladder starts when people are told: not while a plan retries quietly, nor while a
    # quiet window holds the alert.
    if state.escalation_level < len(ladder) and not state.quiet_now() and not muted:
        rung = ladder[state.escalation_level]
        due = (state.attention_anchor or state.started_at) + rung.after
        if state.snoozed_until and state.snoozed_until > due:
            due = state.snoozed_until
        found.append(Escalation(due, rung))
    expire = state.started_at + diagnosis.resolution.expire_after
    if state.snoozed_until and state.snoozed_until > expire:
        expire = state.snoozed_until
    if planned is not None:
        # Not closed as expired while its recovery plan still has retries to make …
        expire = max(expire, planned + timedelta(days=1))
    elif state.plan_slots:
        # … and, once it is exhausted, people have the SOP's time from then on.
        expire = max(expire, state.plan_slots[-1] + diagnosis.resolution.expire_after)
    if dunning:
        # Nor while the payer still has e-mails coming.
        expire = max(expire, dunning[-1][0] + timedelta(days=1))
    if state.window is not None:
        # Nor while a quiet window holds it: people get the SOP's time once they are told.
        expire = max(expire, state.window.end + diagnosis.resolution.expire_after)
    found.append(Expiry(expire))
    if state.alert_retry_at is not None and state.slack is None:
        found.append(AlertRetry(state.alert_retry_at))
    return sorted(found, key=lambda d: d.due)


class Ladder:
    def __init__(self, remediation: Remediation, steps: StepRunner, alerter: Alerter) -> None:
        self.r = remediation
        self.steps = steps
        self.alerter = alerter

    def next_due(self) -> datetime:
        return deadlines(self.r.state)[0].due

    async def handle_due(self) -> None:
        """Act on every deadline that has come, in order."""
        now = workflow.now()
        for deadline in deadlines(self.r.state):
            if deadline.due > now or self.r.state.closed:
                continue
            match deadline:
                case ScheduledStep(step=step):
                    await self._run_scheduled(step)
                case CardRetry():
                    await self._retry_on_new_card()
                case PlannedRetry(due=due):
                    await self._run_planned(due)
                case DunningDue(email=email):
                    await self._dun(email)
                case Escalation(rung=rung, due=due):
                    await self._escalate(rung, due)
                case Expiry():
                    self.r.close("expired", "canary", "Nobody resolved this before it expired.")
                case WindowEnd():
                    self.r.state.end_window(now)
                case AlertRetry():
                    self.r.state.alert_retry_at = None
                    self.r.state.needs_publish = True

    async def _run_scheduled(self, step: Step) -> None:
        state = self.r.state
        state.done_scheduled.append(step.id)
        async with self.r.lock:
            if state.closed:
                return
            await self.steps.run_automatically(step)
        state.needs_publish = True

    async def _run_planned(self, due: datetime) -> None:
        """The recovery plan's retry: an idempotent Stripe call (its key from the step's run),
        held for a person like any money step when Stripe did not sign the report."""
        state = self.r.state
        number, total = len(state.plan_slots) + 1, state.planned_total()
        state.plan_slots.append(due)
        step = Step(
            id="planned-retry",
            action="stripe.retry_payment",
            title=f"Scheduled retry {number} of {max(total, number)}",
            resolves=True,
        )
        async with self.r.lock:
            if state.closed:
                return
            state.recovery_hint = f"scheduled_retry:{number}"
            await self.steps.run_automatically(step)
        state.needs_publish = True

    async def _retry_on_new_card(self) -> None:
        state = self.r.state
        state.card_updated_at = None
        step = Step(
            id="card-update-retry",
            action="stripe.retry_payment",
            title="Retry the payment on the new card",
            resolves=True,
        )
        async with self.r.lock:
            if state.closed:
                return
            state.recovery_hint = "card_update_retry"
            await self.steps.run_automatically(step)
        if state.closed and state.recovered_by == "card_update_retry":
            self.r.record("recovered", "Recovered after a card update")
        state.needs_publish = True

    async def _dun(self, email: str) -> None:
        """One e-mail of the sequence to the payer (an idempotent step: a retried activity
        sends once; Stripe's record keeps it to once a day)."""
        state = self.r.state
        state.dunned.append(email)
        step = Step(
            id=f"dunning-{email}".replace("_", "-"),
            action="stripe.dunning_email",
            title=f"E-mail the payer ({email.replace('_', ' ')})",
            params={"email": email},
        )
        async with self.r.lock:
            if not state.closed:
                await self.steps.run_automatically(step)

    async def _escalate(self, rung: EscalationStep, due: datetime) -> None:
        r, state = self.r, self.r.state
        now = workflow.now()
        waited = human_duration(now - (state.attention_anchor or state.started_at))
        text = render(rung.message, {"waited": waited})
        state.escalation_level += 1
        state.highest_escalation = max(state.highest_escalation, state.escalation_level)
        state.attention_anchor = now
        r.set_state("escalated")
        target = rung.target
        if target == "manager" and state.manager.slack_user:
            text = f"<@{state.manager.slack_user}> {text}"
        owner = f"<@{state.owner.slack_user}>" if state.owner.slack_user else None
        line = escalation_thread_line(
            target, text, owner, bool(state.manager.slack_user), r.config.escalation_channel
        )
        # On the record before the Slack calls, so a status read while they run already
        # shows the escalation its level counts. In the thread it is the escalation's line
        # (who is called), posted with the alert's update.
        r.record(
            "escalated",
            f"Escalation level {state.escalation_level} ({target}): {text}",
            data={"target": target, "level": state.escalation_level}
            | ({THREAD_MRKDWN: line} if line is not None else {}),
        )
        r.sync_search_attributes()
        await self.alerter.escalate(text if posts_to_escalation_channel(target) else None, due)
