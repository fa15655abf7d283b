"""The pure half of `canary whatif`: how a diagnosis handles a remediation, and a recorded one
compared with another catalog's diagnosis on the recorded facts alone."""

from __future__ import annotations

from canary.catalog import diagnose, load_catalog, plan
from canary.catalog.whatif import Recorded, compare, handling, summarise
from canary.models import Detection

CATALOG = load_catalog()


def diagnosed(detection: Detection, **facts: object) -> Recorded:
    planned = plan(detection, CATALOG)
    return Recorded(
        workflow_id=f"{planned.error_type}:{detection.subject.kind}:{detection.subject.id}",
        detection=detection,
        facts=dict(facts),
        diagnosis=diagnose(detection, planned, CATALOG, dict(facts)),
        looked_up=list(planned.enrich),
    )


def test_who_is_pinged() -> None:
    small = Detection(
        source="stripe",
        type="payment_failed",
        subject={"kind": "invoice", "id": "in_1"},
        facts={"decline_code": "insufficient_funds"},
    )
    quiet = diagnosed(small, amount_due=4900, deal_checked=True)
    assert handling(quiet.diagnosis).delivery == "automatic"
    assert handling(quiet.diagnosis).pinged.startswith("nobody while the retry plan runs")
    big = handling(diagnosed(small, amount_due=480000, deal_checked=True).diagnosis)
    assert (big.delivery, big.pinged) == ("paged", "the owner, at once")
    assert big.escalation == ["4h: owner", "1d: escalation_channel"]  # 4h, then 20h more

    finding = Detection(
        source="detector:low-adoption", type="low_adoption", subject={"kind": "account", "id": "1"}
    )
    assert handling(diagnosed(finding).diagnosis).delivery == "digest"


def test_a_lookup_the_other_catalog_wants_was_not_recorded() -> None:
    """Recorded under a catalog whose account_unlinked confirmed nothing (the report named its
    type then): this catalog asks for the warehouse's answer, which the history does not
    hold, so the check counts as could not run and the report is the general error."""
    report = Detection(
        source="workato",
        subject={"kind": "app_account", "id": "app_7"},
        message="HTTP 409 conflict on record 7",
    )
    then = diagnosed(report.model_copy(update={"type": "account_unlinked"}), candidate_count=0)
    then = then.model_copy(update={"detection": report})
    compared = compare(then, CATALOG)
    assert compared.missing_lookups == ["warehouse.app_account", "canary.signature_count"]
    assert (compared.before.error_type, compared.after.error_type) == (
        "account_unlinked",
        "unknown",
    )
    assert compared.became_unknown and "error_type" in compared.changed
    assert compared.after.evidence and "could not look product account app_7 up" in (
        compared.after.evidence
    )
    summary = summarise([compared])
    assert summary.became_unknown == [then.workflow_id]
    assert (summary.before.unknown, summary.after.unknown) == (0, 1)


def test_the_same_catalog_changes_nothing() -> None:
    report = Detection(
        source="product",
        subject={"kind": "app_account", "id": "app_8"},
        message="New workspace without a CRM account",
    )
    recorded = diagnosed(report, app_account_found=True, candidate_count=0, candidates=[])
    assert recorded.diagnosis.error_type == "account_unlinked"
    compared = compare(recorded, CATALOG)
    assert compared.changed == [] and compared.missing_lookups == []
