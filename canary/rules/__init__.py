"""Detectors: pure rules over query rows, and the glue that turns findings into detections.

Everything here is deterministic (no I/O, no clocks), so the detector workflow runs it
directly between its query and raise activities.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from canary.models.detection import Detection
from canary.models.detectors import (
    AccountShiftDetector,
    AccountTeam,
    CardExpiryDetector,
    DetectorSpec,
    Finding,
    IrateCustomerDetector,
    LowAdoptionDetector,
    MetricThresholdDetector,
    OnboardingOverdueDetector,
    PastCloseDetector,
    RenewalTouchpointDetector,
    RuleResult,
    UnlinkedAccountsDetector,
    WonUnpaidDetector,
)
from canary.rules.cards import cards_expiring
from canary.rules.pipeline import past_close, unlinked_accounts, won_unpaid
from canary.rules.rules import (
    account_shifts,
    baseline_shift,
    irate_customers,
    low_adoption,
    metric_threshold,
    onboarding_overdue,
    renewal_touchpoints,
)


def evaluate(spec: DetectorSpec, rows: dict[str, list[dict[str, Any]]], today: date) -> RuleResult:
    """Apply the detector's rule to the rows its query activity returned."""
    if isinstance(spec, OnboardingOverdueDetector):
        return onboarding_overdue(rows.get("deals", []), rows.get("tasks", []), today, spec)
    if isinstance(spec, RenewalTouchpointDetector):
        return renewal_touchpoints(rows.get("accounts", []), rows.get("tasks", []), today, spec)
    if isinstance(spec, LowAdoptionDetector):
        return low_adoption(rows.get("rows", []), spec)
    if isinstance(spec, AccountShiftDetector):
        return account_shifts(rows.get("rows", []), spec)
    if isinstance(spec, IrateCustomerDetector):
        return irate_customers(rows.get("interactions", []), spec)
    if isinstance(spec, MetricThresholdDetector):
        return metric_threshold(rows.get("rows", []), spec)
    if isinstance(spec, PastCloseDetector):
        return past_close(rows.get("opportunities", []), today, spec)
    if isinstance(spec, WonUnpaidDetector):
        return won_unpaid(rows.get("opportunities", []), rows.get("invoices", []), today, spec)
    if isinstance(spec, UnlinkedAccountsDetector):
        return unlinked_accounts(
            rows.get("linked", []), rows.get("customers", []), rows.get("app_accounts", []), spec
        )
    if isinstance(spec, CardExpiryDetector):
        return cards_expiring(rows.get("opportunities", []), rows.get("cards", []), today, spec)
    raise TypeError(f"no rule for detector kind {type(spec).__name__}")


def route(finding: Finding, team: AccountTeam | None, route_to: str) -> Finding:
    """Give the finding an owner (CSM or account owner, the other standing in) and the
    owner's manager as ``facts.manager_email``, which the remediation escalates to."""
    if route_to == "deal_owner" and finding.account.owner_email:
        # The deal's own owner (and their manager, when the query read it) keeps the finding;
        # the account team only fills in what the deal did not say.
        facts = dict(finding.facts)
        for key, value in (team.model_dump(exclude_none=True) if team else {}).items():
            facts.setdefault(key, value)
        if "manager_email" not in finding.facts and team and team.owner_manager_email:
            if team.owner_email == finding.account.owner_email:
                facts["manager_email"] = team.owner_manager_email
        account = finding.account
        if team and not account.name:
            account = account.model_copy(update={"name": team.account_name})
        return finding.model_copy(update={"facts": facts, "account": account})
    if team is None:
        return finding
    if route_to == "csm":
        order = [
            (team.csm_email, team.csm_manager_email),
            (team.owner_email, team.owner_manager_email),
        ]
    else:
        order = [
            (team.owner_email, team.owner_manager_email),
            (team.csm_email, team.csm_manager_email),
        ]
    owner, manager = next(((o, m) for o, m in order if o), (None, None))
    facts = dict(finding.facts)
    for key, value in team.model_dump(exclude_none=True).items():
        facts.setdefault(key, value)
    if manager:
        facts["manager_email"] = manager
    account = finding.account.model_copy(
        update={
            "owner_email": owner or finding.account.owner_email,
            "name": finding.account.name or team.account_name,
        }
    )
    return finding.model_copy(update={"facts": facts, "account": account})


def to_detection(spec: DetectorSpec, finding: Finding, as_of: datetime) -> Detection:
    """The detection a finding raises. Its id is per detector, subject and day, so a rerun on
    the same day folds in as the same report instead of counting a new occurrence."""
    source = spec.source or f"detector:{spec.id}"
    return Detection(
        id=f"{spec.id}:{finding.subject.kind}:{finding.subject.id}:{as_of.date().isoformat()}",
        type=finding.error_type or spec.error_type,
        source=source,
        subject=finding.subject,
        account=finding.account,
        occurred_at=as_of,
        message=finding.message,
        facts={**finding.facts, "detector": spec.id, "detector_title": spec.title},
        links=finding.links,
    )


__all__ = [
    "baseline_shift",
    "evaluate",
    "route",
    "to_detection",
]
