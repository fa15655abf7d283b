"""Detector rules as pure functions: thresholds, boundaries (exactly at the threshold is not
a finding), no baseline, a single data point, shifts in both directions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from canary.blocks import digest_blocks
from canary.catalog import load_catalog
from canary.catalog.loader import CatalogError
from canary.models.detectors import (
    AccountShiftDetector,
    AccountTeam,
    DigestInput,
    DigestItem,
    IrateCustomerDetector,
    LowAdoptionDetector,
    MetricThresholdDetector,
    OnboardingOverdueDetector,
    RenewalTouchpointDetector,
)
from canary.rules import evaluate, route, to_detection
from canary.rules.catalog import load_detectors
from canary.rules.digest import next_flush
from canary.rules.report import format_value, html_report, sparkline, text_table
from canary.rules.rules import baseline_shift

TODAY = date(2026, 11, 18)
DETECTORS = load_detectors(sops=load_catalog())


def spec(detector_id: str, **changes: Any) -> Any:
    found = DETECTORS.get(detector_id)
    assert found is not None
    return found.model_copy(update=changes)


# -- baseline shift -----------------------------------------------------------------------------


def test_exactly_k_standard_deviations_is_not_a_shift() -> None:
    # Baseline 9, 9, 9, 13: mean 10, sample standard deviation exactly 2.
    at = baseline_shift([9, 9, 9, 13, 14], stddevs=2.0, min_baseline_points=4)
    assert at.mean == 10 and at.stddev == 2 and at.zscore == 2.0
    assert at.status == "steady"
    above = baseline_shift([9, 9, 9, 13, 14.01], stddevs=2.0, min_baseline_points=4)
    assert above.status == "shift" and above.direction == "up" and above.by_stddev


def test_exactly_the_percentage_is_not_a_shift() -> None:
    at = baseline_shift([10, 10, 10, 10, 15], stddevs=None, percent=0.5)
    assert at.change == 0.5 and at.status == "steady"
    below = baseline_shift([10, 10, 10, 10, 4.99], stddevs=None, percent=0.5)
    assert below.status == "shift" and below.direction == "down" and below.by_percent


def test_shift_down_and_up_by_standard_deviations() -> None:
    down = baseline_shift([100, 104, 98, 101, 99, 103, 100, 102, 60])
    assert down.status == "shift" and down.direction == "down"
    assert down.zscore is not None and down.zscore < -2
    up = baseline_shift([100, 104, 98, 101, 99, 103, 100, 102, 140])
    assert up.status == "shift" and up.direction == "up"


def test_baseline_uses_only_the_trailing_window() -> None:
    # Old history at 1000 is outside the 8-point window and must not dilute the baseline.
    values = [1000.0] * 5 + [100, 101, 99, 100, 102, 98, 100, 101] + [100.5]
    shift = baseline_shift(values, baseline_points=8)
    assert shift.baseline_points == 8 and shift.mean == pytest.approx(100.125)
    assert shift.status == "steady"


def test_no_baseline_and_one_data_point() -> None:
    one = baseline_shift([500.0])
    assert one.status == "no_baseline" and one.baseline_points == 0
    few = baseline_shift([100, 110, 90, 400], min_baseline_points=4)
    assert few.status == "no_baseline" and few.baseline_points == 3
    assert baseline_shift([]).status == "no_data"


def test_flat_baseline_uses_the_percentage_only() -> None:
    flat = baseline_shift([50, 50, 50, 50, 51], stddevs=2.0, percent=None)
    assert flat.stddev == 0 and flat.zscore is None and flat.status == "steady"
    flat_pct = baseline_shift([50, 50, 50, 50, 80], stddevs=2.0, percent=0.5)
    assert flat_pct.status == "shift" and flat_pct.by_percent
    from_zero = baseline_shift([0, 0, 0, 0, 5], stddevs=2.0, percent=0.5)
    assert from_zero.status == "shift" and from_zero.direction == "up"


def test_account_shift_rule_groups_by_account_and_skips_without_baseline() -> None:
    detector: AccountShiftDetector = spec("spend-shift")

    def rows(app: str, crm: str | None, values: list[float]) -> list[dict[str, Any]]:
        return [
            {
                "app_account_id": app,
                "crm_id": crm,
                "account_name": app.title(),
                "period": (TODAY - timedelta(weeks=len(values) - i)).isoformat(),
                "value": v,
            }
            for i, v in enumerate(values)
        ]

    steady = [1000, 1010, 990, 1005, 995, 1000, 1008, 992]
    result = evaluate(
        detector,
        {
            "rows": rows("drop", "001A", [*steady, 300])
            + rows("rise", "001B", [*steady, 2500])
            + rows("flat", "001C", [*steady, 1001])
            + rows("new", None, [100, 120, 130])
            + rows("single", "001E", [50])
        },
        TODAY,
    )
    assert result.checked == 5
    by_id = {f.subject.id: f for f in result.findings}
    assert set(by_id) == {"001A.weekly_spend", "001B.weekly_spend"}
    assert by_id["001A.weekly_spend"].facts["direction"] == "down"
    assert by_id["001B.weekly_spend"].facts["direction"] == "up"
    assert "churn risk" in by_id["001A.weekly_spend"].facts["meaning"]
    assert "thank" in by_id["001B.weekly_spend"].facts["meaning"]
    assert by_id["001A.weekly_spend"].facts["current_display"] == "$3"
    assert len(by_id["001A.weekly_spend"].facts["sparkline"]) == 9
    assert {s.subject_id for s in result.skipped} == {"new", "001E"}
    assert all("no baseline" in s.reason for s in result.skipped)


# -- onboarding overdue -------------------------------------------------------------------------


def deal(account: str, days_ago: int, onboarded: bool = False) -> dict[str, Any]:
    return {
        "Id": f"006{account}",
        "Name": f"{account} deal",
        "CloseDate": (TODAY - timedelta(days=days_ago)).isoformat(),
        "AccountId": account,
        "Account": {"Name": account.title(), "Onboarding_Complete__c": onboarded},
    }


def task(account: str, subject: str, status: str = "Completed", type_: str = "Meeting") -> dict:
    return {"AccountId": account, "Subject": subject, "Status": status, "Type": type_}


def test_onboarding_overdue_boundaries_and_milestones() -> None:
    detector: OnboardingOverdueDetector = spec("onboarding-overdue", after_days=30)
    deals = [
        deal("at", 30),  # exactly at the window: not overdue
        deal("over", 31),
        deal("done", 60),
        deal("flagged", 90, onboarded=True),
        deal("twice", 45),
        deal("twice", 10),  # a later upsell does not restart onboarding
    ]
    tasks = [
        task("over", "Kickoff call"),
        task("over", "Admin training", status="In Progress"),
        task("done", "Kickoff"),
        task("done", "Admin training session"),
        task("done", "Go-live review"),
        task("twice", "Kickoff", type_="Call"),  # wrong type: not a milestone
    ]
    result = evaluate(detector, {"deals": deals, "tasks": tasks}, TODAY)
    assert result.checked == 5
    by_id = {f.subject.id: f for f in result.findings}
    assert set(by_id) == {"over", "twice"}
    over = by_id["over"].facts
    assert over["days_since_close"] == 31 and over["days_overdue"] == 1
    assert over["milestones_done"] == ["Kickoff call"]
    assert over["milestones_missing"] == ["Admin training", "Go-live review"]
    assert by_id["twice"].facts["days_since_close"] == 45
    assert by_id["twice"].facts["milestones_missing"] == [
        "Kickoff call",
        "Admin training",
        "Go-live review",
    ]


def test_onboarding_default_window_is_30_days() -> None:
    assert OnboardingOverdueDetector.model_fields["after_days"].default == 30


# -- renewal touchpoint ------------------------------------------------------------------------


def test_renewal_touchpoint_window_held_and_scheduled_reviews() -> None:
    detector: RenewalTouchpointDetector = spec("renewal-touchpoint", within_days=90)

    def account(account_id: str, days: int) -> dict[str, Any]:
        return {
            "Id": account_id,
            "Name": account_id.title(),
            "Renewal_Date__c": (TODAY + timedelta(days=days)).isoformat(),
            "Owner": {"Email": "owner@x.example"},
        }

    def review(account_id: str, days: int, status: str) -> dict[str, Any]:
        return {
            "AccountId": account_id,
            "Subject": "Quarterly Business Review",
            "Status": status,
            "Type": "Meeting",
            "ActivityDate": (TODAY + timedelta(days=days)).isoformat(),
        }

    accounts = [
        account("edge", 90),  # exactly at the window: checked
        account("outside", 91),  # beyond it: not checked
        account("held", 20),
        account("stale", 20),
        account("booked", 20),
        account("missing", 5),
    ]
    tasks = [
        review("held", -30, "Completed"),
        review("stale", -91, "Completed"),  # held too long ago
        review("booked", 10, "Not Started"),  # scheduled before the renewal
    ]
    result = evaluate(detector, {"accounts": accounts, "tasks": tasks}, TODAY)
    assert result.checked == 5
    found = {f.subject.id: f.facts["days_to_renewal"] for f in result.findings}
    assert found == {"edge": 90, "stale": 20, "missing": 5}


# -- low adoption ------------------------------------------------------------------------------


def test_low_adoption_strictly_under_threshold() -> None:
    detector: LowAdoptionDetector = spec("low-adoption", below=0.25)
    rows = [
        {"app_account_id": "a", "crm_id": "001a", "account_name": "A", "adoption_rate": 0.25},
        {"app_account_id": "b", "crm_id": "001b", "account_name": "B", "adoption_rate": 0.2499},
        {"app_account_id": "c", "crm_id": None, "account_name": "C", "adoption_rate": None},
    ]
    result = evaluate(detector, {"rows": rows}, TODAY)
    assert [f.subject.id for f in result.findings] == ["001b"]
    assert result.findings[0].facts["value_display"] == "25.0%"
    assert [s.subject_id for s in result.skipped] == ["c"]


# -- irate customer ----------------------------------------------------------------------------


def test_irate_threshold_and_worst_quote_per_case() -> None:
    detector: IrateCustomerDetector = spec("irate-customer", threshold=-0.6)
    rows = [
        {"case_id": "500A", "text": "fine", "score": 0.2, "kind": "case e-mail"},
        {"case_id": "500A", "text": "This is unacceptable", "score": -0.7, "kind": "case comment"},
        {"case_id": "500A", "text": "Terrible", "score": -0.5, "kind": "case comment"},
        {"case_id": "500B", "text": "exactly at", "score": -0.6, "kind": "case comment"},
    ]
    result = evaluate(detector, {"interactions": rows}, TODAY)
    assert result.checked == 2
    assert [f.subject.id for f in result.findings] == ["500A"]
    assert result.findings[0].facts["quote"] == "This is unacceptable"
    assert result.findings[0].facts["interactions_scored"] == 3


# -- metric threshold --------------------------------------------------------------------------


def kpi_rows(values: list[float]) -> list[dict[str, Any]]:
    return [
        {"period": (TODAY - timedelta(days=len(values) - i)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]


def test_metric_threshold_above_and_below_and_exactly_at() -> None:
    above: MetricThresholdDetector = spec("payment-failure-rate", above=0.05, periods=3)
    assert evaluate(above, {"rows": kpi_rows([0.02, 0.03, 0.05])}, TODAY).findings == []
    crossed = evaluate(above, {"rows": kpi_rows([0.02, 0.021, 0.03, 0.079])}, TODAY)
    finding = crossed.findings[0]
    assert finding.subject.id == "payment_failure_rate"
    assert finding.facts["value_display"] == "7.9%" and finding.facts["direction"] == "above"
    assert len(finding.facts["series"]) == 3  # only the last `periods` in the report
    assert "7.9%" in finding.facts["table_text"]
    below: MetricThresholdDetector = spec("calls-resolved-per-minute", below=1.5)
    assert evaluate(below, {"rows": kpi_rows([2.0, 1.5])}, TODAY).findings == []
    assert evaluate(below, {"rows": kpi_rows([2.0, 1.49])}, TODAY).findings[0].facts[
        "direction"
    ] == ("below")
    empty = evaluate(below, {"rows": []}, TODAY)
    assert empty.checked == 0 and empty.skipped[0].reason == "no data for this KPI"


# -- routing, detections, reports, digest --------------------------------------------------------


def test_route_prefers_the_role_and_falls_back() -> None:
    detector = spec("onboarding-overdue")
    finding = evaluate(detector, {"deals": [deal("acc", 40)], "tasks": []}, TODAY).findings[0]
    team = AccountTeam(
        owner_email="ae@x.example",
        owner_manager_email="sales-mgr@x.example",
        csm_email="csm@x.example",
        csm_manager_email="cs-dir@x.example",
        csm_id="005CSM",
    )
    to_csm = route(finding, team, "csm")
    assert to_csm.account.owner_email == "csm@x.example"
    assert to_csm.facts["manager_email"] == "cs-dir@x.example"
    assert to_csm.facts["csm_id"] == "005CSM"
    to_owner = route(finding, team, "account_owner")
    assert to_owner.account.owner_email == "ae@x.example"
    assert to_owner.facts["manager_email"] == "sales-mgr@x.example"
    no_csm = route(finding, AccountTeam(owner_email="ae@x.example"), "csm")
    assert no_csm.account.owner_email == "ae@x.example"

    as_of = datetime(2026, 11, 18, 6, 0, tzinfo=UTC)
    detection = to_detection(detector, to_csm, as_of)
    assert detection.type == "onboarding_overdue"
    assert detection.id == "onboarding-overdue:account:acc:2026-11-18"
    assert detection.source == "detector:onboarding-overdue"
    assert detection.facts["detector"] == "onboarding-overdue"


def test_report_helpers() -> None:
    assert format_value(310000, "money_cents") == "$3,100"
    assert format_value(0.0791, "percent") == "7.9%"
    assert sparkline([1, 2, 3]) == "▁▅█" and sparkline([2, 2]) == "▄▄"
    table = text_table([["Period", "Value"], ["2026-11-17", "7.9%"]])
    assert table.splitlines()[1].startswith("------")
    html = html_report("KPI <x>", "intro", [("a", 1.0), ("b", 2.0)], "number", threshold=1.5)
    assert "<svg" in html and "polyline" in html and "KPI &lt;x&gt;" in html
    assert "stroke-dasharray" in html  # the threshold line


def test_next_flush_and_digest_blocks() -> None:
    morning = datetime(2026, 11, 18, 7, 59, tzinfo=UTC)
    assert next_flush(morning, 8) == datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    assert next_flush(morning.replace(hour=8, minute=0), 8) == datetime(
        2026, 11, 19, 8, 0, tzinfo=UTC
    )
    items = [
        DigestItem(
            workflow_id=f"low_adoption:account:{n}",
            headline=f"Item {n}",
            severity="low" if n else "high",
            error_type="low_adoption",
            actions=[{"id": "acknowledge", "label": "Acknowledge", "style": "primary"}],
        )
        for n in range(20)
    ]
    blocks = digest_blocks(DigestInput(owner="a@x.example", slack_user="U1"), items, "2026-11-18")
    assert len(blocks) <= 50
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 15
    first = actions[0]["elements"][0]
    assert first["action_id"] == "canary:acknowledge"
    assert first["value"] == "low_adoption:account:0"  # the high one sorts first
    assert "5 more" in blocks[-1]["elements"][0]["text"]


def test_default_detector_catalog_is_valid_and_raises_known_types(tmp_path: Any) -> None:
    kinds = {d.kind for d in DETECTORS.detectors}
    assert kinds == {
        "onboarding_overdue",
        "renewal_touchpoint_missed",
        "low_adoption",
        "account_shift",
        "irate_customer",
        "metric_threshold",
        "pipeline_past_close",
        "pipeline_won_unpaid",
        "pipeline_unlinked_accounts",
        "card_expiring",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: x\ndetectors:\n  - id: k\n    kind: metric_threshold\n    title: t\n"
        "    error_type: not_an_sop\n    schedule: {every: PT1H}\n    kpi: k\n"
        "    kpi_title: K\n    sql: SELECT 1\n    above: 1\n"
    )
    with pytest.raises(CatalogError, match="not_an_sop"):
        load_detectors(bad, sops=load_catalog())
    no_threshold = tmp_path / "none.yaml"
    no_threshold.write_text(bad.read_text().replace("    above: 1\n", ""))
    with pytest.raises(CatalogError, match="above"):
        load_detectors(no_threshold)
