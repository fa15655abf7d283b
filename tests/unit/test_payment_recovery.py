"""What a payment remediation records about its recovery (RemediationState.note_payment_failure
and record_recovery), and what its status and resolution record carry: pure, no Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from canary.models import RemediationState, ResolutionRecord, Subject
from tests.unit.test_state import T0, open_state, payment

LATER = T0 + timedelta(days=3)


def test_a_scheduled_retry_that_recovers_is_recorded_once() -> None:
    state = open_state()
    state.note_payment_failure(
        amount=480000, currency="USD", decline_class="soft", failed_at=T0 - timedelta(hours=2)
    )
    assert state.record_recovery(LATER, "scheduled_retry", attempt=3)
    # invoice.paid arriving after the retry that paid it changes nothing.
    assert not state.record_recovery(LATER + timedelta(minutes=1), "hosted_page")
    state.close(LATER, "auto_resolved", "canary", "Retry 3 paid the invoice")
    record = state.resolution_record("payment_failed:invoice:in_1", payment())
    assert (record.recovered_by, record.recovery_attempt) == ("scheduled_retry", 3)
    assert (record.failed_amount, record.recovered_amount, record.currency) == (
        480000,
        480000,
        "usd",
    )
    assert record.decline_class == "soft"
    assert record.first_failed_at == T0 - timedelta(hours=2)
    assert record.recovered_at == LATER
    # The record survives the trip through JSON (the workflow's result).
    assert ResolutionRecord.model_validate_json(record.model_dump_json()) == record


def test_the_first_failure_stays_and_only_a_write_off_gives_way() -> None:
    state = open_state()
    state.note_payment_failure(amount=1000, currency="eur", decline_class="soft", failed_at=T0)
    # A later decline (another class, another amount) does not rewrite the first failure;
    # an earlier failure time does move it back.
    state.note_payment_failure(
        amount=2000, currency="usd", decline_class="hard", failed_at=T0 - timedelta(days=1)
    )
    assert (state.failed_amount, state.currency, state.decline_class) == (1000, "eur", "soft")
    assert state.first_failed_at == T0 - timedelta(days=1)
    assert state.record_recovery(T0, "written_off")
    assert state.recovered_amount == 0 and state.recovery_attempt is None
    assert not state.record_recovery(T0, "written_off")
    # Paid on the hosted page after all: a recovery after all, for what was paid.
    assert state.record_recovery(LATER, "hosted_page", amount=600, attempt=2)
    assert (state.recovered_by, state.recovered_amount, state.recovered_at) == (
        "hosted_page",
        600,
        LATER,
    )
    assert state.recovery_attempt is None  # only a scheduled retry has an attempt number


def test_nothing_recorded_reads_the_amount_and_first_failure_from_what_it_knows() -> None:
    detection = payment().model_copy(
        update={
            "occurred_at": T0 - timedelta(minutes=5),
            "facts": {"decline_code": "expired_card", "amount_due": 9900, "currency": "GBP"},
        }
    )
    state = open_state(detection)
    status = state.status("wf", detection)
    assert (status.failed_amount, status.currency, status.first_failed_at) == (
        9900,
        "gbp",
        T0 - timedelta(minutes=5),
    )
    assert status.recovered_by is None and status.decline_class is None
    # A naive time is read as UTC; a report time after the start is not the first failure.
    naive = detection.model_copy(update={"occurred_at": datetime(2026, 12, 2, 9, 0)})
    assert state.status("wf", naive).first_failed_at == T0
    # A recovery without an amount collects the failed amount.
    state.record_recovery(LATER, "person_retry")
    assert state.status("wf", detection).recovered_amount == 9900


def test_amounts_that_are_not_amounts_are_left_out() -> None:
    detection = payment().model_copy(
        update={"facts": {"decline_code": "generic_decline", "amount_due": -5, "currency": "$$"}}
    )
    state = open_state(detection)
    state.note_payment_failure(amount=-1, currency="dollars")
    status = state.status("wf", detection)
    assert (status.failed_amount, status.currency) == (None, None)
    state.record_recovery(LATER, "scheduled_retry", attempt=0, amount=-3)
    assert (state.recovery_attempt, state.recovered_amount) == (None, None)


def test_other_remediations_carry_no_payment_figures() -> None:
    detection = payment().model_copy(
        update={
            "type": "account_shift",
            "subject": Subject(kind="account", id="acc_1"),
            "facts": {"amount_due": 500, "currency": "usd"},
        }
    )
    state = RemediationState.begin(detection, T0)
    status = state.status("wf", detection)
    assert set(status.recovery_fields().model_dump().values()) == {None}


def test_a_state_from_before_recovery_fields_loads() -> None:
    old = open_state().model_dump(mode="json")
    for name in ("recovered_by", "failed_amount", "first_failed_at", "recovered_at"):
        del old[name]
    state = RemediationState.model_validate(old)
    assert state.recovered_by is None and state.failed_amount is None
    assert state.started_at == T0.astimezone(UTC)
