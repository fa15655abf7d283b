"""RemediationState's transitions and the escalation ladder's deadlines, without Temporal:
they are pure functions of the state and the time given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canary.blocks import closed_phrase
from canary.catalog import load_catalog
from canary.catalog.diagnosis import diagnose, plan
from canary.models import (
    ActionRequest,
    Detection,
    Diagnosis,
    ExternalEvent,
    RemediationInput,
    RemediationState,
)
from workflows.remediation.ladder import (
    Escalation,
    Expiry,
    PlannedRetry,
    ScheduledStep,
    deadlines,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ALICE = "U0ALICE"


def payment(report: str = "evt_1", decline: str = "insufficient_funds") -> Detection:
    return Detection(
        id=report,
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": "in_1"},
        account={"name": "Globex"},  # the owner comes from Stripe, not the report
        message="Your card was declined.",
        facts={"decline_code": decline},
    )


def diagnosed(detection: Detection) -> Diagnosis:
    catalog = load_catalog()
    return diagnose(detection, plan(detection, catalog), catalog, detection.facts)


def open_state(detection: Detection | None = None) -> RemediationState:
    detection = detection or payment()
    state = RemediationState.begin(detection, T0)
    state.diagnosis = diagnosed(detection)
    state.diagnosed_at = T0
    state.state = "awaiting_human"
    return state


def test_a_new_state_records_the_report_and_remembers_its_id() -> None:
    state = RemediationState.begin(payment(), T0)
    assert [e.kind for e in state.timeline] == ["detected"]
    assert state.timeline[0].text == "stripe reported payment_failed on invoice in_1"
    assert state.seen == [payment().dedupe_key()]
    assert state.run == 1 and state.state == "diagnosing" and not state.closed


def test_closing_is_once_and_says_how_it_ended() -> None:
    state = open_state()
    assert state.close(T0, "dismissed", ALICE, "Dismiss by Alice")
    assert not state.close(T0, "expired", "canary", "too late")
    assert (state.state, state.outcome, state.resolved_by) == ("dismissed", "dismissed", ALICE)
    assert closed_phrase(state.outcome, state.resolved_by) == f"dismissed by <@{ALICE}>"
    assert [e.kind for e in state.timeline].count("closed") == 1
    expired = open_state()
    expired.close(T0, "expired", "canary", "Nobody acted")
    assert expired.state == "failed"
    assert closed_phrase(expired.outcome, expired.resolved_by) == "expired with nobody acting"


def test_the_closing_phrase_shows_ids_as_mentions_and_names_as_text() -> None:
    assert closed_phrase("resolved_by_human", ALICE) == f"resolved by a person (<@{ALICE}>)"
    # A CLI or API user's name is never a mention, nor markup.
    assert closed_phrase("dismissed", "Ursula") == "dismissed by Ursula"
    assert closed_phrase("dismissed", "<!channel>") == "dismissed by &lt;!channel&gt;"
    assert closed_phrase("auto_resolved", "canary") == "fixed automatically by Canary"


def test_a_closed_state_does_not_move() -> None:
    state = open_state()
    state.close(T0, "auto_resolved", "canary", "paid")
    assert not state.set_state(T0, "escalated")
    assert state.state == "resolved"


def test_a_repeated_report_counts_once_and_is_quiet_after_close() -> None:
    state = open_state()
    assert state.fold_occurrence(T0, payment("evt_2"))
    assert not state.fold_occurrence(T0, payment("evt_2"))  # redelivered
    assert state.occurrences == 2 and state.needs_publish
    state.close(T0, "dismissed", ALICE, "Dismiss")
    assert not state.fold_occurrence(T0, payment("evt_3"))
    assert state.occurrences == 2
    assert state.timeline[-1].kind == "suppressed"


def test_an_outside_fact_the_sop_lists_resolves_with_its_evidence() -> None:
    state = open_state()
    paid = ExternalEvent(kind="invoice.paid", source="stripe", event_id="evt_paid")
    assert state.receive(paid) and not state.receive(paid)
    state.apply_external(T0)
    assert state.outcome == "resolved_externally" and state.resolved_by == "stripe"
    assert state.external == []


def test_an_outside_fact_waits_for_the_diagnosis() -> None:
    state = RemediationState.begin(payment(), T0)
    state.receive(ExternalEvent(kind="invoice.paid", source="stripe"))
    state.apply_external(T0)
    assert not state.closed and len(state.external) == 1


def test_who_may_act_fails_closed_for_chat_clicks() -> None:
    state = open_state()
    assert state.diagnosis is not None
    retry = state.action("retry")
    assert retry is not None and not retry.allowed.anyone
    click = ActionRequest(action="retry", user="U0MALLORY", source="slack")
    assert not state.may_act(retry, click)
    # The gateway found the clicker in CANARY_ADMINS when the click arrived.
    assert state.may_act(retry, click.model_copy(update={"admin": True}))
    state.owner.slack_user = ALICE
    if retry.allowed.owner:
        assert state.may_act(retry, click.model_copy(update={"user": ALICE}))
    # The CLI and the API come with the operator's own Temporal credentials.
    assert state.may_act(retry, click.model_copy(update={"source": "cli"}))


def test_the_thread_queue_hands_out_each_entry_once() -> None:
    state = open_state()
    state.record(T0, "step_succeeded", "Card-update link sent")
    state.record(T0, "state", "not threaded")
    state.record(T0, "human_action", "Alice pressed Retry", actor=ALICE)
    assert [e.text for e in state.take_thread_lines(1)] == ["Card-update link sent"]
    assert [e.text for e in state.take_thread_lines()] == ["Alice pressed Retry"]
    assert state.take_thread_lines() == []


def test_the_state_travels_whole_through_the_workflow_input() -> None:
    state = open_state()
    state.fold_occurrence(T0, payment("evt_2"))
    carried = RemediationInput(detection=payment(), state=state.model_copy(update={"run": 2}))
    back = RemediationInput.model_validate_json(carried.model_dump_json())
    assert back.state is not None and back.state.run == 2
    assert back.state.model_dump(exclude={"run"}) == state.model_dump(exclude={"run"})


def test_the_resolution_record_measures_from_the_start() -> None:
    state = open_state()
    state.first_notified_at = T0 + timedelta(seconds=2)
    state.close(T0 + timedelta(hours=3), "resolved_by_human", ALICE, "Resolve")
    record = state.resolution_record("wf", payment())
    assert record.time_to_first_notification == timedelta(seconds=2)
    assert record.time_to_resolution == timedelta(hours=3)
    assert record.outcome == "resolved_by_human"


def test_deadlines_come_soonest_first_and_a_snooze_pushes_them() -> None:
    state = open_state()
    assert state.diagnosis is not None
    found = deadlines(state)
    assert [d.due for d in found] == sorted(d.due for d in found)
    assert isinstance(found[-1], Expiry)
    scheduled = [d for d in found if isinstance(d, ScheduledStep)]
    assert all(d.due == T0 + (d.step.after or timedelta(0)) for d in scheduled)
    escalation = next(d for d in found if isinstance(d, Escalation))
    assert escalation.rung == state.diagnosis.escalation[0]

    state.snoozed_until = T0 + timedelta(days=400)
    snoozed = deadlines(state)
    # A snooze quiets people, not the payment's retries; nothing expires before it ends.
    escalations = [d for d in snoozed if isinstance(d, Escalation)]
    assert escalations and all(d.due == state.snoozed_until for d in escalations)
    assert all(d.due >= state.snoozed_until for d in snoozed if isinstance(d, Expiry))


def test_a_planned_retry_already_handled_is_not_due_again() -> None:
    state = open_state()
    planned = [d for d in deadlines(state) if isinstance(d, PlannedRetry)]
    assert planned, "the insufficient-funds plan schedules a retry"
    state.plan_slots.append(planned[0].due)
    [later] = [d for d in deadlines(state) if isinstance(d, PlannedRetry)]
    assert later.due > planned[0].due


def card_event(event_id: str, card: str | None) -> ExternalEvent:
    evidence = {"customer": "cus_1"} | ({"payment_method": card} if card else {})
    return ExternalEvent(
        kind="card_updated",
        source="stripe",
        event_id=event_id,
        occurred_at=T0 + timedelta(hours=1),
        evidence=evidence,
    )


def test_one_new_card_is_retried_once_however_often_stripe_reports_it() -> None:
    """Stripe reports a card made the default twice (attached, default changed): one retry.
    After that retry declined, the same card reported again is not retried; another card is."""
    state = open_state()
    later = T0 + timedelta(hours=2)
    for event_id in ("evt_attached", "evt_default"):
        state.receive(card_event(event_id, "pm_new"))
    state.apply_external(later)
    assert state.card_updated_at == later and state.cards_retried == ["pm_new"]
    assert "reported the same new card again" in state.timeline[-1].text

    state.card_updated_at = None  # the ladder ran its retry, which declined
    state.receive(card_event("evt_again", "pm_new"))
    state.apply_external(later)
    assert state.card_updated_at is None

    state.receive(card_event("evt_other", "pm_other"))
    state.apply_external(later)
    assert state.card_updated_at == later and state.cards_retried == ["pm_new", "pm_other"]
