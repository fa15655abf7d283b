"""The words people read in Canary's messages, asserted on what is rendered: the alert after a
decision is the record of it, sources are spelled as their makers spell them, a refusal says
who may press, and the state badge does not speak to everyone as if they were the owner."""

from __future__ import annotations

from datetime import timedelta

from canary.blocks.alert import build_blocks
from canary.catalog import load_catalog
from canary.catalog.diagnosis import diagnose, plan, source_name
from canary.models import Detection, RemediationState
from tests.unit.test_state import ALICE, T0, open_state, payment


def rendered(state: RemediationState, detection: Detection) -> str:
    status = state.status("payment_failed:invoice:in_1", detection)
    return str(build_blocks(status, [], "<@U0ALICE>", "http://ui"))


def test_an_open_alert_says_what_to_do_and_waits_for_a_person() -> None:
    detection = payment()
    text = rendered(open_state(detection), detection)
    assert "*What to do*" in text and "Waiting for a person" in text
    assert "Waiting for you" not in text and "*Outcome*" not in text


def test_a_decided_alert_says_what_was_decided_by_whom_and_when_not_what_to_do() -> None:
    detection = payment()
    state = open_state(detection)
    state.close(T0 + timedelta(minutes=32), "dismissed", ALICE, "Dismiss by Alice Nguyen")
    text = rendered(state, detection)
    assert f"*Outcome*\\ndismissed by <@{ALICE}> on Tue 1 Dec 09:32 UTC" in text
    assert "What to do" not in text and "press Retry payment" not in text
    assert "canary:retry" not in text, "no buttons that can no longer act"


def test_sources_are_spelled_as_their_makers_spell_them() -> None:
    assert source_name("zapier") == "Zapier"
    assert source_name("hubspot") == "HubSpot"
    assert source_name("pandadoc") == "PandaDoc"
    assert source_name("detector:onboarding-overdue") == "Canary's onboarding-overdue check"
    assert source_name("acme-etl") == "Acme-etl"
    catalog = load_catalog()
    unknown = Detection(source="zapier", subject={"kind": "zap_run", "id": "z1"}, message="502")
    diagnosis = diagnose(unknown, plan(unknown, catalog), catalog, unknown.facts)
    assert diagnosis.headline.startswith("Zapier reported an error")
    assert "zapier reported" not in diagnosis.summary


def test_the_card_update_link_is_where_the_words_say() -> None:
    """The customer's links render above "What to do", so the words say "above"."""
    detection = payment(decline="expired_card")
    state = open_state(detection)
    assert state.diagnosis is not None
    assert "card-update link above" in state.diagnosis.what_to_do
