"""The card-expiry detector's rule: a card valid through the end of its expiry month, the
deal's close date as its next invoice, one finding per account about its soonest deal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from canary.catalog import load_catalog
from canary.models.detectors import CardExpiryDetector
from canary.rules import evaluate, to_detection
from canary.rules.cards import card_valid_through
from canary.rules.catalog import load_detectors

TODAY = date(2026, 11, 18)
SPEC = load_detectors(sops=load_catalog()).get("card-expiry")
assert isinstance(SPEC, CardExpiryDetector)
UMBRELLA, GLOBEX = "001000000000005AAA", "001000000000001AAA"


def deal(
    opp_id: str,
    account: str,
    closes: str,
    customer: str | None = "cus_Umbrella",
    type_: str = "Renewal",
    forecast: str | None = None,
) -> dict[str, Any]:
    return {
        "Id": opp_id,
        "Name": f"{account} — {type_}",
        "Type": type_,
        "ForecastCategoryName": forecast,
        "Amount": 36000.0,
        "CloseDate": closes,
        "AccountId": account,
        "Account": {"Name": "Umbrella Corp", "Stripe_Customer_Id__c": customer},
        "OwnerId": "005000000000002AAA",
        "Owner": {"Name": "Gina", "Email": "gina@acme-gtm.example", "Manager": {"Email": "m@x"}},
    }


def card(customer: str, month: int | None, year: int | None) -> dict[str, Any]:
    return {"customer": customer, "exp_month": month, "exp_year": year}


def test_a_card_is_valid_through_the_last_day_of_its_month() -> None:
    assert card_valid_through(2, 2028) == date(2028, 2, 29)
    assert card_valid_through(12, 2026) == date(2026, 12, 31)
    assert card_valid_through(None, 2026) is None
    assert card_valid_through(13, 2026) is None


def test_a_card_that_ends_before_the_renewal_raises_a_task_for_the_ae() -> None:
    assert SPEC is not None
    result = evaluate(
        SPEC,
        {
            "opportunities": [deal("006A", UMBRELLA, "2027-01-10")],
            "cards": [card("cus_Umbrella", 12, 2026)],
        },
        TODAY,
    )
    [finding] = result.findings
    assert finding.subject.kind == "account" and finding.subject.id == UMBRELLA
    assert finding.account.owner_email == "gina@acme-gtm.example"
    assert finding.facts["card_expires_display"] == "12/2026"
    assert finding.facts["next_invoice_on"] == "2027-01-10"
    assert finding.facts["owner_user_id"] == "005000000000002AAA"
    assert finding.facts["opportunity_id"] == "006A"
    assert "valid to 12/2026" in finding.message
    detection = to_detection(SPEC, finding, datetime(2026, 11, 18, 7, tzinfo=UTC))
    assert detection.type == "card_expiring"
    # The SOP it raises creates a Salesforce task and e-mails nobody.
    sop = load_catalog().get("card_expiring")
    assert sop is not None
    actions = [s.action for b in sop.branches for s in b.steps]
    assert actions == ["salesforce.create_task"]
    assert not sop.alerting.email


def test_the_boundaries() -> None:
    assert SPEC is not None

    def findings(closes: str, month: int, year: int) -> int:
        rows = {
            "opportunities": [deal("006A", UMBRELLA, closes)],
            "cards": [card("cus_Umbrella", month, year)],
        }
        return len(evaluate(SPEC, rows, TODAY).findings)

    # Valid through 31 Dec: a renewal on 31 Dec is paid; one on 1 Jan is not.
    assert findings("2026-12-31", 12, 2026) == 0
    assert findings("2027-01-01", 12, 2026) == 1
    # A card already expired is short of any deal ahead.
    assert findings("2026-11-20", 10, 2026) == 1
    # Deals outside the window (before today, beyond within_days) are not judged.
    assert findings("2026-11-17", 1, 2026) == 0
    assert findings("2027-04-30", 1, 2026) == 0


def test_one_finding_per_account_about_its_soonest_deal_and_what_is_skipped() -> None:
    assert SPEC is not None
    rows = {
        "opportunities": [
            deal("006Later", UMBRELLA, "2027-02-20"),
            deal("006Soon", UMBRELLA, "2027-01-05"),
            deal(
                "006Globex",
                GLOBEX,
                "2027-01-05",
                customer="cus_Globex",
                forecast="Commit",
                type_="New Business",
            ),
            deal("006NoStripe", "001000000000009AAA", "2027-01-05", customer=None),
        ],
        "cards": [card("cus_Umbrella", 12, 2026), card("cus_Globex", None, None)],
    }
    result = evaluate(SPEC, rows, TODAY)
    [finding] = result.findings
    assert finding.facts["opportunity_id"] == "006Soon"
    assert result.checked == 3
    assert {s.subject_id: s.reason for s in result.skipped} == {
        GLOBEX: "no card on file",
        "001000000000009AAA": "no Stripe customer",
    }
