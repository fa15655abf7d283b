"""The forms an action asks in, built from the SOP and read back from Slack's submission,
checked against the sandbox's Block Kit rules for views: Dismiss needs a reason (picked or
written), Mark resolved asks what fixed it, a snooze offers the SOP's lengths and a date."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from canary.blocks.forms import (
    NOTE,
    REASON,
    REASON_TEXT,
    SNOOZE,
    SNOOZE_DATE,
    FormContext,
    FormError,
    form_view,
    read_form,
)
from canary.catalog import load_catalog
from canary.models import ActionRequest
from canary.models.sop import HumanAction
from sandbox.slack.blockkit import view_errors

TODAY = date(2026, 12, 5)


def action(action_id: str) -> HumanAction:
    sop = load_catalog().get("payment_failed")
    assert sop is not None
    return next(a for a in sop.actions if a.id == action_id)


def entered(**fields: object) -> dict[str, object]:
    """Slack's view.state.values for what a person entered."""
    kinds = {REASON: "static_select", SNOOZE: "static_select", SNOOZE_DATE: "datepicker"}
    values: dict[str, object] = {}
    for block_id, value in fields.items():
        kind = kinds.get(block_id, "plain_text_input")
        if kind == "static_select":
            values[block_id] = {"value": {"type": kind, "selected_option": {"value": value}}}
        elif kind == "datepicker":
            values[block_id] = {"value": {"type": kind, "selected_date": value}}
        else:
            values[block_id] = {"value": {"type": kind, "value": value}}
    return values


def request(action_id: str) -> ActionRequest:
    return ActionRequest(action=action_id, user="U0ALICE")


@pytest.mark.parametrize("action_id", ["dismiss", "resolve", "snooze", "note"])
def test_every_form_is_a_view_slack_accepts(action_id: str) -> None:
    view = form_view(action(action_id), "Payment failed: Globex", FormContext("w", "a", "C", "1"))
    assert view_errors(view) == []
    assert FormContext.loads(view["private_metadata"]) == FormContext("w", "a", "C", "1")


def test_dismiss_needs_a_reason_picked_or_written() -> None:
    dismiss = action("dismiss")
    with pytest.raises(FormError) as refused:
        read_form(dismiss, entered(), request("dismiss"), TODAY)
    assert refused.value.errors == {REASON: "Pick a reason or write one."}
    picked = read_form(dismiss, entered(reason="r1"), request("dismiss"), TODAY)
    assert picked.reason == dismiss.reasons[1] == "Written off"
    both = read_form(
        dismiss, entered(reason="r0", reason_text="wire on 3 Dec"), request("dismiss"), TODAY
    )
    assert both.reason == "Paid another way (wire, check): wire on 3 Dec"
    # An option value the form never offered is not a reason.
    with pytest.raises(FormError):
        read_form(dismiss, entered(reason="r99"), request("dismiss"), TODAY)


def test_mark_resolved_asks_what_fixed_it_without_insisting() -> None:
    resolve = action("resolve")
    assert resolve.reason_asked == "optional" and action("retry").reason_asked == "no"
    said = read_form(
        resolve, entered(reason_text="Card updated by the payer"), request("resolve"), TODAY
    )
    assert said.reason == "Card updated by the payer"
    assert read_form(resolve, entered(), request("resolve"), TODAY).reason is None


def test_a_snooze_is_one_of_the_sops_lengths_or_a_later_day() -> None:
    snooze = action("snooze")
    assert snooze.snooze_options == [
        timedelta(hours=4),
        timedelta(days=1),
        timedelta(days=3),
        timedelta(days=7),
    ]
    three_days = read_form(snooze, entered(snooze=str(3 * 86400)), request("snooze"), TODAY)
    assert three_days.snooze_for == timedelta(days=3)
    with pytest.raises(FormError, match="lengths offered"):
        read_form(snooze, entered(snooze="60"), request("snooze"), TODAY)
    dated = read_form(snooze, entered(snooze_date="2026-12-09"), request("snooze"), TODAY)
    assert dated.snooze_until == datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
    with pytest.raises(FormError, match="after today"):
        read_form(snooze, entered(snooze_date="2026-12-05"), request("snooze"), TODAY)


def test_a_note_needs_text() -> None:
    note = action("note")
    with pytest.raises(FormError) as refused:
        read_form(note, entered(), request("note"), TODAY)
    assert NOTE in refused.value.errors
    assert read_form(note, entered(note="Called AP"), request("note"), TODAY).note == "Called AP"
    assert REASON_TEXT not in str(form_view(note, "h", FormContext("w", "note", None, None)))
