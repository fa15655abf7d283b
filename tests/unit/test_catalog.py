"""The catalog loads and validates, and diagnosis is a pure function of its inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from canary.catalog import (
    CatalogError,
    diagnose,
    evaluate,
    load_catalog,
    normalise_message,
    plan,
    render,
    unknown_signature,
)
from canary.models import Detection, Rule

CATALOG = load_catalog()
ENV = {"stripe_dashboard": "https://dashboard.stripe.com/test", "salesforce_url": ""}


def payment(decline: str | None, **facts: object) -> Detection:
    base = {"event_type": "invoice.payment_failed", "amount_display": "$4,800.00"}
    if decline:
        base["decline_code"] = decline
    return Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": "in_123"},
        account={"name": "Globex", "stripe_customer_id": "cus_9"},
        facts={**base, **facts},
    )


@pytest.mark.parametrize(
    ("decline", "branch", "actions", "retries"),
    [
        (
            "insufficient_funds",
            "insufficient_funds",
            ["stripe.hosted_invoice_link", "stripe.billing_portal_link"],
            True,
        ),
        ("expired_card", "card_needs_update", ["stripe.billing_portal_link"], False),
        ("incorrect_cvc", "card_needs_update", ["stripe.billing_portal_link"], False),
        (
            "authentication_required",
            "authentication_required",
            ["stripe.hosted_invoice_link"],
            False,
        ),
        ("fraudulent", "fraud_suspected", ["slack.notify_finance"], False),
        ("stolen_card", "fraud_suspected", ["slack.notify_finance"], False),
        ("do_not_honor", "generic_decline", ["stripe.hosted_invoice_link"], False),
    ],
)
def test_decline_code_branches(
    decline: str, branch: str, actions: list[str], retries: bool
) -> None:
    detection = payment(decline)
    result = diagnose(detection, plan(detection, CATALOG), CATALOG, {}, ENV)
    assert result.error_type == "payment_failed"
    assert result.branch == branch
    assert [s.action for s in result.automated] == actions
    # Retries come from the recovery plan of the decline's class, pinned in the diagnosis.
    assert result.retry_plan is not None
    assert result.retry_plan.scheduled == retries
    # Diagnosis records every step it checked, in order, and exactly one match decides.
    checked = [s for s in result.steps if s.id not in ("type_given",)]
    assert checked[-1].matched and checked[-1].id == branch
    assert not any(s.matched for s in checked[:-1])
    offered = [a.id for a in result.actions]
    assert ("retry" in offered) == (branch != "fraud_suspected")


def test_message_says_what_where_and_what_to_do() -> None:
    detection = payment(
        "insufficient_funds",
        invoice_number="INV-0042",
        attempt_count=1,
        decline_message="Your card has insufficient funds.",
    )
    result = diagnose(detection, plan(detection, CATALOG), CATALOG, {}, ENV)
    assert result.headline == "Payment failed: Globex — $4,800.00"
    assert "INV-0042" in result.summary and "insufficient funds" in result.summary
    assert "Retry payment" in result.what_to_do
    urls = {link.label: link.url for link in result.investigate}
    assert urls["Stripe invoice"] == "https://dashboard.stripe.com/test/invoices/in_123"
    assert urls["Stripe customer"].endswith("/customers/cus_9")
    assert "Salesforce account" not in urls  # no CRM id: no dead link


def test_classification_without_a_type() -> None:
    detection = Detection(
        source="stripe",
        subject={"kind": "invoice", "id": "in_1"},
        facts={"event_type": "charge.failed"},
    )
    chosen = plan(detection, CATALOG)
    assert chosen.error_type == "payment_failed"
    assert chosen.enrich == ["stripe.invoice", "salesforce.deal"]

    unknown_type = Detection(
        source="n8n", type="no_such_type", subject={"kind": "job", "id": "1"}, message="boom"
    )
    chosen = plan(unknown_type, CATALOG)
    assert chosen.error_type == "unknown"
    assert chosen.steps[0].id == "type_given" and not chosen.steps[0].matched


def test_unknown_error_echoes_raw_message_bounded() -> None:
    detection = Detection(
        source="workato",
        subject={"kind": "job", "id": "j1"},
        message="Recipe failed: " + "x" * 5000,
    )
    result = diagnose(detection, plan(detection, CATALOG), CATALOG)
    assert result.error_type == "unknown"
    assert "Recipe failed: xxx" in result.summary
    assert len(result.summary) < 2000 and "more characters in the timeline" in result.summary
    assert result.signature and result.signature.startswith("workato:")


def test_unknown_signature_is_stable_across_ids_and_numbers() -> None:
    a = unknown_signature(
        "zapier", "Task 8812 failed at 2026-11-01 12:00: HubSpot 502 req_AbC123xyz"
    )
    b = unknown_signature(
        "Zapier", "Task 9001 failed at 2026-11-02 09:30: HubSpot 502 req_ZZZ999qqq"
    )
    c = unknown_signature("zapier", "Task 9001 failed: Salesforce login refused")
    assert a == b and a != c
    assert "<n>" in normalise_message("order 42 failed")


def test_rules_and_templates() -> None:
    context = {"facts": {"n": 5, "s": "Hello World"}, "account": {"name": "A"}}
    assert evaluate(Rule(field="facts.n", gte=5), context)
    assert not evaluate(Rule(field="facts.n", lte=4), context)
    assert evaluate(Rule(field="facts.s", contains="world"), context)
    assert evaluate(
        Rule.model_validate({"not": {"field": "facts.missing", "exists": True}}), context
    )
    assert evaluate(
        Rule.model_validate({"any": [{"field": "facts.s", "matches": "^Hel"}]}), context
    )
    assert render("{account.name} owes {facts.n} ({facts.nope})", context) == "A owes 5 ((unknown))"
    # Templates are lookups only: no attribute access into Python objects.
    assert render("{facts.s.__class__}", context) == "(unknown)"


def test_invalid_catalogs_are_refused_with_the_reason(tmp_path: Path) -> None:
    bad_action = tmp_path / "bad.yaml"
    bad_action.write_text(
        "version: '1'\nsops:\n  - type: unknown\n    title: U\n    message: {headline: h, "
        "what_happened: w, what_to_do: d}\n    actions:\n      - id: retry\n        label: R\n"
        "        steps: [{id: s, action: stripe.refund_everything, title: t}]\n"
    )
    with pytest.raises(CatalogError, match="unknown action 'stripe.refund_everything'"):
        load_catalog(bad_action)
    no_unknown = tmp_path / "no_unknown.yaml"
    no_unknown.write_text("version: '1'\nsops: []\n")
    with pytest.raises(CatalogError, match="'unknown' SOP"):
        load_catalog(no_unknown)
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "missing.yaml")
    with pytest.raises(Exception, match="exactly one operator"):
        Rule.model_validate({"field": "facts.x", "equals": 1, "gte": 2})


def stage(typed: bool = True, **facts: object) -> Detection:
    return Detection(
        source="stripe",
        type="stage_mismatch" if typed else None,
        subject={"kind": "opportunity", "id": "006AAA"},
        account={"name": "Hooli"},
        message="invoice paid",
        facts={
            "signal": "payment_succeeded",
            "opportunity_found": True,
            "opportunity_name": "Hooli — Expansion",
            "opportunity_stage": "Negotiation/Review",
            **facts,
        },
    )


def test_stage_mismatch_branches() -> None:
    ready = stage(amount_matches=True, opportunity_is_won=False)
    result = diagnose(ready, plan(ready, CATALOG), CATALOG, {}, ENV)
    assert result.branch == "ready_to_close"
    # Recognised without a type, and named once Stripe confirms the payment.
    untyped = stage(typed=False, amount_matches=True, opportunity_is_won=False)
    chosen = plan(untyped, CATALOG)
    assert chosen.error_type == "stage_mismatch" and chosen.candidates == ["stage_mismatch"]
    paid = {"payment_confirmed": True, "payment_text": "Stripe shows invoice INV-1 paid"}
    assert diagnose(untyped, chosen, CATALOG, paid, ENV).branch == "ready_to_close"
    approve = next(a for a in result.actions if a.id == "approve")
    assert approve.label == "Mark Closed Won"
    assert [s.action for s in approve.steps] == ["salesforce.mark_closed_won"]
    assert approve.allowed.owner and approve.allowed.groups == ["revops"]

    won = stage(opportunity_is_won=True)
    assert diagnose(won, plan(won, CATALOG), CATALOG).nothing_to_fix

    differ = stage(amount_matches=False, opportunity_is_won=False)
    result = diagnose(differ, plan(differ, CATALOG), CATALOG)
    assert result.branch == "amount_mismatch"
    confirm = next(a for a in result.actions if a.id == "approve").confirm
    assert confirm and "Hooli — Expansion" in confirm


def test_a_failed_opportunity_lookup_says_so_and_proposes_nothing() -> None:
    """Without the lookup's answer the stage, amount and owner are unknown: the alert says
    Canary could not check, and no "Mark Closed Won" is built on unknown values."""
    paid = Detection(
        source="stripe",
        type="stage_mismatch",
        subject={"kind": "opportunity", "id": "006AAA"},
        message="invoice paid",
        # A report's own words are not the lookup's: they do not make it a known deal.
        facts={"signal": "payment_succeeded", "opportunity_stage": "Negotiation/Review"},
    )
    result = diagnose(paid, plan(paid, CATALOG), CATALOG, {}, ENV)
    assert result.branch == "lookup_failed"
    assert result.headline == "Could not check opportunity 006AAA in Salesforce"
    assert "could not check it in Salesforce" in result.summary
    assert "(unknown)" not in result.summary + result.headline
    assert [a.id for a in result.actions] == ["resolve", "snooze", "dismiss", "note"]
    assert not any(step for a in result.actions for step in a.steps)
    assert not result.automated and not result.nothing_to_fix
    # Salesforce answered that there is no such opportunity: that is known, not a failure.
    missing = stage(opportunity_found=False)
    assert diagnose(missing, plan(missing, CATALOG), CATALOG).branch == "opportunity_missing"


def unlinked(**facts: object) -> Detection:
    return Detection(
        source="product",
        type="account_unlinked",
        subject={"kind": "app_account", "id": "app_42"},
        account={"name": "Hooli", "domain": "hooli.example"},
        facts=facts,
    )


def test_account_unlinked_branches() -> None:
    one = unlinked(candidate_count=1, candidate_name="Hooli", candidate_id="001A")
    result = diagnose(one, plan(one, CATALOG), CATALOG)
    assert result.error_type == "account_unlinked" and result.branch == "one_candidate"
    assert result.actions[0].label == "Link to Hooli"

    options = [{"value": "001A", "label": "Hooli"}, {"value": "001B", "label": "Hooli Europe"}]
    several = unlinked(candidate_count=2, candidates=options)
    result = diagnose(several, plan(several, CATALOG), CATALOG)
    assert result.branch == "several_candidates"
    assert result.actions[0].select_from == "candidates"

    none = unlinked(candidate_count=0, candidates=[])
    result = diagnose(none, plan(none, CATALOG), CATALOG)
    assert result.branch == "no_candidate" and result.severity == "high"
    assert [s.action for s in result.automated] == ["slack.notify_channel"]
    assert result.actions[0].id == "create_account"

    linked = unlinked(candidate_count=1, linked_account_id="001A", linked_account_name="Hooli")
    assert diagnose(linked, plan(linked, CATALOG), CATALOG).nothing_to_fix

    # The search failed: no "no match" verdict, no account created, no RevOps ping.
    unknown = unlinked()
    result = diagnose(unknown, plan(unknown, CATALOG), CATALOG)
    assert result.branch == "lookup_failed" and "could not search Salesforce" in result.summary
    assert not result.automated
    assert [a.id for a in result.actions] == ["resolve", "dismiss", "note"]


def test_recurring_unknown_error_asks_for_an_sop() -> None:
    detection = Detection(
        source="zapier", subject={"kind": "zap_run", "id": "r1"}, message="HubSpot returned 502"
    )
    first = diagnose(detection, plan(detection, CATALOG), CATALOG, {"signature_seen": 1})
    assert first.branch == "general_error" and "SOP" not in first.summary
    third = diagnose(
        detection,
        plan(detection, CATALOG),
        CATALOG,
        {"signature_seen": 3, "signature": "zapier:abc"},
    )
    assert third.branch == "recurring_unknown"
    assert "Seen 3 times this week — time to write an SOP" in third.summary
