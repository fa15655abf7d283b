"""The Home tab's content, computed from statuses: the owner, a RevOps member and an outsider,
after a new alert, a snooze and a dismissal; the order; the alert's buttons; Slack's limits."""

from __future__ import annotations

import json
from datetime import timedelta

from canary.blocks.home import (
    MAX_HOME_BLOCKS,
    Person,
    home_content,
    home_owner,
    home_view,
)
from canary.models import QuietWindow, RemediationState, RemediationStatus, ResolveOwnerOutput
from canary.recovery.plans import RetryPlan
from sandbox.slack.blockkit import view_errors
from tests.unit.test_state import ALICE, T0, open_state, payment

OWNER = Person(ALICE, "alice@acme-gtm.example")
REVOPS = Person("U0DAN", "dan@acme-gtm.example", frozenset({"revops"}))
OUTSIDER = Person("U0CAROL", "carol@acme-gtm.example", frozenset({"customer-success"}))
NOW = T0 + timedelta(hours=1)


def owned_state(invoice: str = "in_1", severity: str | None = None) -> RemediationState:
    detection = payment()
    detection.subject.id = invoice
    state = open_state(detection)
    state.owner = ResolveOwnerOutput(slack_user=ALICE, email="alice@acme-gtm.example")
    if severity and state.diagnosis:
        state.diagnosis.severity = severity  # type: ignore[assignment]
    return state


def status_of(state: RemediationState, invoice: str = "in_1") -> RemediationStatus:
    detection = payment()
    detection.subject.id = invoice
    return state.status(f"payment_failed:invoice:{invoice}", detection)


def ids(items: list[RemediationStatus]) -> list[str]:
    return [s.workflow_id for s in items]


def test_a_new_alert_waits_for_its_owner_and_revops_and_not_for_an_outsider() -> None:
    status = status_of(owned_state())
    for person in (OWNER, REVOPS):
        content = home_content(person, [status], [], NOW)
        assert ids(content.waiting) == [status.workflow_id]
        assert content.other_open == [] and content.closed == []
    outsider = home_content(OUTSIDER, [status], [], NOW)
    assert outsider.waiting == outsider.other_open == outsider.closed == []
    text = json.dumps(home_view(OUTSIDER, [status], [], NOW))
    assert "in_1" not in text and "Globex" not in text and "canary:" not in text


def test_the_owner_is_found_by_email_when_slack_did_not_name_them() -> None:
    state = owned_state()
    state.owner = ResolveOwnerOutput(email="Alice@Acme-GTM.example")
    content = home_content(Person(ALICE, "alice@acme-gtm.example"), [status_of(state)], [], NOW)
    assert len(content.waiting) == 1


def test_a_snoozed_remediation_moves_to_the_other_open_ones() -> None:
    state = owned_state()
    state.snoozed_until = NOW + timedelta(hours=4)
    status = status_of(state)
    for person in (OWNER, REVOPS):
        content = home_content(person, [status], [], NOW)
        assert content.waiting == [] and ids(content.other_open) == [status.workflow_id]
    text = json.dumps(home_view(OWNER, [status], [], NOW))
    assert "snoozed until" in text
    # Once the snooze is over it waits again.
    later = home_content(OWNER, [status], [], NOW + timedelta(hours=5))
    assert ids(later.waiting) == [status.workflow_id]


def test_a_payment_retrying_quietly_waits_for_nobody_until_its_plan_is_exhausted() -> None:
    state = owned_state()
    assert state.diagnosis is not None
    state.diagnosis.quiet_while_retrying = True
    state.diagnosis.retry_plan = RetryPlan(after=(timedelta(days=2),))
    status = status_of(state)
    assert status.retrying_quietly
    for person in (OWNER, REVOPS):
        content = home_content(person, [status], [], NOW)
        assert content.waiting == [] and ids(content.other_open) == [status.workflow_id]
    assert "retrying quietly (next retry" in json.dumps(home_view(OWNER, [status], [], NOW))
    # Its last retry made, the plan is over: people hear of it, and it waits for them.
    state.retry_times = [T0 + timedelta(days=2)]
    exhausted = status_of(state)
    assert not exhausted.retrying_quietly
    assert ids(home_content(OWNER, [exhausted], [], NOW).waiting) == [exhausted.workflow_id]


def test_a_dismissal_closes_it_this_week_without_buttons_then_it_leaves() -> None:
    state = owned_state()
    state.close(NOW, "dismissed", "U0DAN", "Dismiss by Dan Reyes")
    state.close_reason = "Written off"
    status = status_of(state)
    for person in (OWNER, REVOPS):
        content = home_content(person, [status], [], NOW)
        assert content.waiting == content.other_open == []
        assert ids(content.closed) == [status.workflow_id]
    view = json.dumps(home_view(OWNER, [status], [], NOW))
    assert "Dismissed" in view and "Written off" in view and "canary:" not in view
    assert home_content(OUTSIDER, [status], [], NOW).closed == []
    assert home_content(OWNER, [status], [], NOW + timedelta(days=8)).closed == []


def test_waiting_is_by_severity_then_oldest_first() -> None:
    old_high = owned_state("in_a", "high")
    new_critical = owned_state("in_b", "critical")
    new_critical.started_at = T0 + timedelta(minutes=30)
    old_medium = owned_state("in_c", "medium")
    old_medium.started_at = T0 - timedelta(days=1)
    new_high = owned_state("in_d", "high")
    new_high.started_at = T0 + timedelta(minutes=10)
    statuses = [
        status_of(old_high, "in_a"),
        status_of(new_critical, "in_b"),
        status_of(old_medium, "in_c"),
        status_of(new_high, "in_d"),
    ]
    waiting = home_content(OWNER, statuses, [], NOW).waiting
    assert [s.subject_id for s in waiting] == ["in_b", "in_a", "in_d", "in_c"]


def test_the_buttons_are_the_alerts_and_the_view_names_its_person() -> None:
    state = owned_state()
    state.slack = None
    status = status_of(state)
    view = home_view(OWNER, [status], [], NOW)
    assert view_errors(view) == []
    assert home_owner(view) == ALICE
    buttons = [
        element
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    offered = [a.id for a in status.diagnosis.actions] if status.diagnosis else []
    assert [b["action_id"] for b in buttons] == [f"canary:{a}" for a in offered]
    assert {b["value"] for b in buttons} == {status.workflow_id}
    assert [b["type"] for b in view["blocks"][:1]] == ["header"]
    assert view["blocks"][0]["text"]["text"] == "Waiting for you"


def test_many_remediations_stay_within_slacks_100_blocks_and_say_how_many_more() -> None:
    statuses = [status_of(owned_state(f"in_{n}"), f"in_{n}") for n in range(80)]
    window = QuietWindow(
        id="hooli",
        account="Hooli",
        starts_at=T0,
        ends_at=T0 + timedelta(days=2),
        reason="Hooli billing migration",
        opened_by="Dan",
    )
    view = home_view(OWNER, statuses, [window], NOW, more_url="http://localhost:8080/report")
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS and view_errors(view) == []
    text = json.dumps(view, ensure_ascii=False)
    shown = text.count('"section", "text"')
    assert "…and " in text and "canary list --open" in text and "/report" in text
    assert "Hooli billing migration" in text, "the quiet windows stay on the Home"
    more = int(text.split("…and ")[1].split(" ")[0])
    assert more + shown - 1 == 80  # one section is the windows'


def test_an_ended_window_is_not_listed() -> None:
    window = QuietWindow(
        id="w1",
        error_type="payment_failed",
        starts_at=T0 - timedelta(days=2),
        ends_at=T0,
        reason="done",
        opened_by="Dan",
    )
    assert home_content(OWNER, [], [window], NOW).windows == []
