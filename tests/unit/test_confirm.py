"""Confirm before naming (issue 19): a report an SOP recognises only by its shape or its text
is named that SOP once the catalog's confirming checks pass; otherwise it falls through to
the next SOP its shape matches and finally to ``unknown``, which echoes what the source said.
Pure: the lookups' answers are given as facts, as the workflow passes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from canary.catalog import CatalogError, diagnose, load_catalog, plan
from canary.catalog.loader import DEFAULT_CATALOG
from canary.models import Detection

CATALOG = load_catalog()
CONFLICT = "Recipe 'Sync usage' failed: HTTP 409 conflict on record 1000"
#: The lookups' answers for a product account that exists and that no CRM account carries.
UNLINKED = {
    "app_account_found": True,
    "candidate_count": 1,
    "candidate_name": "Stark",
    "candidate_id": "001A",
    "candidates": [{"value": "001A", "label": "Stark"}],
}


def tool_report(message: str = CONFLICT, kind: str = "app_account", **facts: Any) -> Detection:
    """A workflow tool's failure with no type, as Workato sends it."""
    return Detection(
        source="workato", subject={"kind": kind, "id": "app_stark"}, message=message, facts=facts
    )


def test_a_conflict_on_a_product_account_that_does_not_exist_is_a_general_error() -> None:
    report = tool_report()
    chosen = plan(report, CATALOG)
    # Its shape suggests an unlinked account: a candidate, with the lookups that confirm it
    # and those of the general error it may turn out to be.
    assert chosen.candidates == ["account_unlinked"]
    assert chosen.enrich == [
        "salesforce.account_candidates",
        "warehouse.app_account",
        "canary.signature_count",
    ]
    result = diagnose(report, chosen, CATALOG, {"app_account_found": False, "candidate_count": 0})
    assert result.error_type == "unknown" and result.branch == "general_error"
    assert result.headline == "Workato reported an error Canary has no SOP for"
    assert f"Workato reported: {CONFLICT}" in result.summary
    assert result.evidence == (
        "Checked: the product has no account app_stark, so this is not “Product account not "
        "linked to a CRM account”."
    )
    assert result.summary.endswith(result.evidence)
    assert "has no CRM account" not in result.summary
    assert [a.id for a in result.actions] == ["retry", "resolve", "dismiss", "note"]
    checks = [s for s in result.steps if s.verdict]
    assert [(s.id, s.verdict) for s in checks] == [
        ("confirm:account_unlinked:app_account_exists", "failed")
    ]


def test_a_conflict_on_a_linked_product_account_is_a_general_error() -> None:
    facts = {**UNLINKED, "linked_account_id": "001G", "linked_account_name": "Globex"}
    result = diagnose(tool_report(), plan(tool_report(), CATALOG), CATALOG, facts)
    assert result.error_type == "unknown"
    assert CONFLICT in result.summary
    assert result.evidence == (
        "Checked: product account exists; Salesforce account Globex already carries it, so "
        "this is not “Product account not linked to a CRM account”."
    )


def test_a_real_unlinked_product_account_is_still_account_unlinked() -> None:
    report = Detection(
        source="product",
        subject={"kind": "app_account", "id": "app_stark"},
        message="New workspace without a CRM account",
    )
    result = diagnose(report, plan(report, CATALOG), CATALOG, UNLINKED)
    assert result.error_type == "account_unlinked" and result.branch == "one_candidate"
    assert result.evidence == "Checked: product account exists; no Salesforce account carries it."
    assert result.summary.splitlines()[-1] == result.evidence
    assert [(s.id, s.verdict) for s in result.steps if s.verdict] == [
        ("confirm:account_unlinked:app_account_exists", "passed"),
        ("confirm:account_unlinked:not_linked", "passed"),
    ]


@pytest.mark.parametrize(
    ("facts", "could_not"),
    [
        # The warehouse lookup failed: nothing says whether the product account exists.
        ({"candidate_count": 1}, "Canary could not look product account app_stark up"),
        # It exists, but the Salesforce search failed: nobody knows whether it is linked.
        ({"app_account_found": True}, "Canary could not search Salesforce"),
    ],
)
def test_a_lookup_that_failed_is_said_not_guessed(facts: dict[str, Any], could_not: str) -> None:
    result = diagnose(tool_report(), plan(tool_report(), CATALOG), CATALOG, facts)
    assert result.error_type == "unknown"
    assert CONFLICT in result.summary
    assert result.evidence is not None
    assert result.evidence.startswith("Not confirmed as “Product account not linked to a CRM")
    assert could_not in result.evidence and "(a lookup failed; the thread says why)" in (
        result.evidence
    )
    assert [s.verdict for s in result.steps if s.verdict][-1] == "unanswered"


def test_a_report_that_names_its_type_is_not_asked() -> None:
    typed = tool_report().model_copy(update={"type": "account_unlinked"})
    chosen = plan(typed, CATALOG)
    assert chosen.candidates == [] and chosen.enrich == ["salesforce.account_candidates"]
    result = diagnose(typed, chosen, CATALOG, {"candidate_count": 0, "candidates": []})
    assert result.error_type == "account_unlinked" and result.branch == "no_candidate"
    assert result.evidence is None and not any(s.verdict for s in result.steps)


def deal_report(message: str, kind: str = "opportunity") -> Detection:
    return Detection(
        source="zapier",
        subject={"kind": kind, "id": "006000000000001AAA"},
        message=message,
    )


def test_a_message_pattern_recognises_a_workflow_tools_text() -> None:
    """No type, no signal fact: only the text says what happened. On an opportunity it is a
    stage_mismatch candidate; confirmed by Salesforce's signed contract, it is named."""
    report = deal_report("DocuSign: envelope 'Hooli expansion' completed by all parties")
    chosen = plan(report, CATALOG)
    assert chosen.candidates == ["stage_mismatch"]
    matched = next(s for s in chosen.steps if s.id == "match:stage_mismatch")
    assert matched.matched and "its message matches" in matched.detail
    assert chosen.enrich == [
        "salesforce.opportunity",
        "stripe.deal_payment",
        "salesforce.contract",
        "canary.signature_count",
    ]
    looked_up = {
        "payment_confirmed": False,
        "payment_text": "the report names no invoice",
        "contract_signed": True,
        "opportunity_found": True,
        "opportunity_is_won": False,
        "opportunity_name": "Hooli — Expansion",
        "opportunity_stage": "Negotiation/Review",
    }
    result = diagnose(report, chosen, CATALOG, looked_up)
    assert result.error_type == "stage_mismatch" and result.branch == "ready_to_close"
    assert result.evidence == (
        "Checked: the contract is signed in Salesforce; opportunity Hooli — Expansion is at "
        "stage Negotiation/Review."
    )
    # Already Closed Won: not a stage mismatch, the source's words are echoed.
    won = diagnose(report, chosen, CATALOG, {**looked_up, "opportunity_is_won": True})
    assert won.error_type == "unknown" and "envelope 'Hooli expansion' completed" in won.summary
    assert won.evidence is not None and "is already Closed Won, so this is not" in won.evidence
    # Neither the payment nor the signature confirmed.
    unsigned = diagnose(report, chosen, CATALOG, {**looked_up, "contract_signed": False})
    assert unsigned.error_type == "unknown"
    assert unsigned.evidence is not None and unsigned.evidence.startswith(
        "Checked: the report names no invoice and the contract is not signed in Salesforce"
    )


def test_a_message_pattern_applies_to_the_sops_subject_kinds_only() -> None:
    on_a_run = deal_report("Contract signed in PandaDoc", kind="zap_run")
    chosen = plan(on_a_run, CATALOG)
    assert chosen.error_type == "unknown" and not chosen.candidates


def test_a_report_falls_through_to_the_next_sop_its_shape_matches(tmp_path: Path) -> None:
    """A team's own SOP after the default ones: a 409 on a product account that no check
    confirms as unlinked is that SOP's, named without checks of its own."""
    folder = tmp_path / "catalog"
    folder.mkdir()
    (folder / "a-default.yaml").write_text(DEFAULT_CATALOG.read_text())
    (folder / "b-sync.yaml").write_text(
        """
version: "sync-1"
sops:
  - type: usage_sync_conflict
    title: Usage sync hit a conflict
    subject_kinds: [app_account]
    messages: ['\\b409\\b.*\\bconflict\\b']
    message:
      headline: "Usage sync conflict on {subject.id}"
      what_happened: "{source_name} reported: {message}"
      what_to_do: Re-run the sync once the record is free.
"""
    )
    catalog = load_catalog(folder)
    report = tool_report()
    chosen = plan(report, catalog)
    assert chosen.candidates == ["account_unlinked", "usage_sync_conflict"]
    assert "canary.signature_count" not in chosen.enrich  # the last candidate needs no check
    result = diagnose(report, chosen, catalog, {"app_account_found": False})
    assert result.error_type == "usage_sync_conflict"
    assert result.evidence is not None and "the product has no account" in result.evidence


@pytest.mark.parametrize(
    ("sop", "problem"),
    [
        ("messages: ['(unclosed']", "messages pattern"),
        (
            "confirm: [{id: c, title: T, lookups: [no.such], holds: {field: x, exists: true}, "
            "passed: p, failed: f}]",
            "unknown enricher 'no.such'",
        ),
    ],
)
def test_a_bad_pattern_or_lookup_is_refused_with_the_reason(
    tmp_path: Path, sop: str, problem: str
) -> None:
    extra = tmp_path / "bad.yaml"
    extra.write_text(
        DEFAULT_CATALOG.read_text().replace(
            "  - type: unknown\n",
            f"  - type: broken\n    title: B\n    {sop}\n    message: "
            "{headline: h, what_happened: w, what_to_do: d}\n\n  - type: unknown\n",
            1,
        )
    )
    with pytest.raises(CatalogError, match=problem):
        load_catalog(extra)
