"""Pipeline sweep rules with their boundaries: the day of the close date, the last day of the
payment terms, an invoice paid the day the lookback allows, accounts linked on one side only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from canary.catalog import load_catalog
from canary.models.detectors import (
    PastCloseDetector,
    UnlinkedAccountsDetector,
    WonUnpaidDetector,
)
from canary.rules import evaluate, to_detection
from canary.rules.catalog import load_detectors
from canary.rules.pipeline import domain_of, payment_for_deal

TODAY = date(2026, 11, 23)
DETECTORS = load_detectors(sops=load_catalog())


def spec(detector_id: str) -> Any:
    found = DETECTORS.get(detector_id)
    assert found is not None
    return found


def opp(opp_id: str, close: str, **extra: Any) -> dict[str, Any]:
    return {
        "Id": opp_id,
        "Name": f"Deal {opp_id}",
        "StageName": "Negotiation/Review",
        "Amount": 48000.0,
        "CloseDate": close,
        "ForecastCategoryName": "Commit",
        "AccountId": "001A",
        "Account": {"Name": "Globex", "Stripe_Customer_Id__c": "cus_A"},
        "Owner": {"Name": "Alice", "Email": "alice@acme-gtm.example"},
        **extra,
    }


def invoice(invoice_id: str, status: str, paid_on: str | None = None, **extra: Any) -> dict:
    paid_at = (
        int(datetime.fromisoformat(paid_on).replace(tzinfo=UTC).timestamp()) if paid_on else None
    )
    return {
        "id": invoice_id,
        "customer": "cus_A",
        "status": status,
        "amount_due": 4_800_000,
        "amount_paid": 4_800_000 if status == "paid" else 0,
        "currency": "usd",
        "paid_at": paid_at,
        "opportunity_id": None,
        **extra,
    }


# -- committed deals past their close date -----------------------------------------------------


def test_past_close_is_strictly_after_the_close_date() -> None:
    detector = spec("deals-past-close")
    assert isinstance(detector, PastCloseDetector) and detector.grace_days == 0
    rows = {
        "opportunities": [
            opp("006TODAY", "2026-11-23"),  # closes today: not past
            opp("006YEST", "2026-11-22"),  # one day past
            opp("006OLD", "2026-10-01", StageName="Proposal/Price Quote"),
            opp("006WON", "2026-11-01", StageName="Closed Won", IsWon=True),
            opp("006NODATE", None),
        ]
    }
    result = evaluate(detector, rows, TODAY)
    assert result.checked == 5
    found = {f.subject.id: f for f in result.findings}
    assert sorted(found) == ["006OLD", "006YEST"]
    assert [s.subject_id for s in result.skipped] == ["006NODATE"]
    yesterday = found["006YEST"]
    assert yesterday.subject.kind == "opportunity"
    assert yesterday.facts["days_past_close"] == 1
    assert yesterday.facts["opportunity_amount_display"] == "$48,000.00"
    assert found["006OLD"].facts["days_past_close"] == 53
    assert found["006OLD"].facts["opportunity_stage"] == "Proposal/Price Quote"
    assert yesterday.account.crm_id == "001A"
    detection = to_detection(detector, yesterday, datetime(2026, 11, 23, 6, tzinfo=UTC))
    assert detection.type == "close_date_passed"
    assert detection.id == "deals-past-close:opportunity:006YEST:2026-11-23"


def test_past_close_grace_days() -> None:
    detector = spec("deals-past-close").model_copy(update={"grace_days": 3})
    rows = {"opportunities": [opp("006A", "2026-11-20"), opp("006B", "2026-11-19")]}
    assert [f.subject.id for f in evaluate(detector, rows, TODAY).findings] == ["006B"]


# -- Closed Won without a payment ----------------------------------------------------------------


def test_won_unpaid_payment_terms_and_lookback() -> None:
    detector = spec("won-unpaid")
    assert isinstance(detector, WonUnpaidDetector)
    terms, lookback = detector.payment_terms_days, detector.lookback_days  # 14, 60
    rows = {
        "opportunities": [
            opp("006EDGE", "2026-11-09", StageName="Closed Won"),  # exactly 14 days: not due
            opp("006DUE", "2026-11-08", StageName="Closed Won"),  # 15 days: due, unpaid
            opp("006OLD", "2026-09-23", StageName="Closed Won"),  # 61 days: outside lookback
        ],
        "invoices": [],
    }
    assert (terms, lookback) == (14, 60)
    result = evaluate(detector, rows, TODAY)
    assert result.checked == 2
    assert [f.subject.id for f in result.findings] == ["006DUE"]
    finding = result.findings[0]
    assert finding.facts["days_since_close"] == 15
    assert finding.facts["unpaid_invoice_count"] == 0
    assert "no paid invoice for cus_A" in finding.facts["payment_gap_text"]
    assert finding.account.stripe_customer_id == "cus_A"


def test_won_unpaid_matching_payments() -> None:
    detector = spec("won-unpaid")
    deal = opp("006DEAL", "2026-11-01", StageName="Closed Won")
    # Paid 30 days before the close date counts; 31 days before does not.
    assert not evaluate(
        detector,
        {"opportunities": [deal], "invoices": [invoice("in_1", "paid", "2026-10-02")]},
        TODAY,
    ).findings
    late = evaluate(
        detector,
        {"opportunities": [deal], "invoices": [invoice("in_1", "paid", "2026-10-01")]},
        TODAY,
    )
    assert [f.subject.id for f in late.findings] == ["006DEAL"]
    # An invoice that names the opportunity counts whenever it was paid.
    named = invoice("in_2", "paid", "2026-01-01", opportunity_id="006DEAL")
    assert not evaluate(detector, {"opportunities": [deal], "invoices": [named]}, TODAY).findings
    by_field = dict(deal, Stripe_Invoice_Id__c="in_3")
    old = invoice("in_3", "paid", "2025-06-01")
    assert not evaluate(detector, {"opportunities": [by_field], "invoices": [old]}, TODAY).findings
    # Another customer's payment does not count; an open invoice is named in the finding.
    other = invoice("in_4", "paid", "2026-11-02", customer="cus_B")
    opened = invoice("in_5", "open", hosted_invoice_url="https://pay.example/in_5")
    result = evaluate(detector, {"opportunities": [deal], "invoices": [other, opened]}, TODAY)
    facts = result.findings[0].facts
    assert facts["invoice_id"] == "in_5" and facts["unpaid_invoice_count"] == 1
    assert facts["hosted_invoice_url"] == "https://pay.example/in_5"
    assert "invoice in_5 open with $48,000.00 due" in facts["payment_gap_text"]


def test_won_unpaid_without_a_stripe_customer() -> None:
    deal = opp("006NOCUS", "2026-11-01", StageName="Closed Won", Account={"Name": "Stark"})
    result = evaluate(spec("won-unpaid"), {"opportunities": [deal], "invoices": []}, TODAY)
    facts = result.findings[0].facts
    assert facts["has_stripe_customer"] is False
    assert "no Stripe customer" in facts["payment_gap_text"]


def test_payment_for_deal_prefers_the_named_invoice() -> None:
    named = invoice("in_named", "paid", "2026-11-05", opportunity_id="006X")
    recent = invoice("in_recent", "paid", "2026-11-20")
    paid, unpaid = payment_for_deal("006X", date(2026, 11, 1), None, [recent, named], 30)
    assert paid is not None and paid["id"] == "in_named" and unpaid == []


# -- accounts with no linked product account ------------------------------------------------------


def test_unlinked_accounts_from_both_sides() -> None:
    detector = spec("unlinked-accounts")
    assert isinstance(detector, UnlinkedAccountsDetector)
    rows = {
        "linked": [{"Id": "001G", "App_Account_Id__c": "app_globex"}],
        "customers": [
            # Shares its domain with the unlinked product account: raised once, on that side.
            {
                "Id": "001S",
                "Name": "Stark",
                "Website": "https://www.stark.example/",
                "Type": "Customer - Direct",
            },
            # No product account anywhere.
            {
                "Id": "001T",
                "Name": "Tyrell",
                "Domain__c": "tyrell.example",
                "Type": "Customer - Channel",
                "Owner": {"Email": "gina@acme-gtm.example"},
            },
        ],
        "app_accounts": [
            {"app_account_id": "app_globex", "name": "Globex", "domain": "globex.example"},
            {
                "app_account_id": "app_stark",
                "name": "Stark",
                "domain": "stark.example",
                "plan": "Trial",
            },
            # The product believes it is linked; Salesforce does not carry the id.
            {
                "app_account_id": "app_wonka",
                "name": "Wonka",
                "domain": "wonka.example",
                "crm_account_id": "001W",
            },
        ],
    }
    result = evaluate(detector, rows, TODAY)
    assert result.checked == 5
    kinds = {(f.error_type, f.subject.kind, f.subject.id) for f in result.findings}
    assert kinds == {
        (None, "app_account", "app_stark"),
        (None, "app_account", "app_wonka"),
        ("app_account_missing", "account", "001T"),
    }
    stark = next(f for f in result.findings if f.subject.id == "app_stark")
    assert stark.account.domain == "stark.example"
    wonka = next(f for f in result.findings if f.subject.id == "app_wonka")
    assert wonka.facts["product_side_crm_id"] == "001W"
    assert [s.subject_id for s in result.skipped] == ["001S"]
    tyrell = next(f for f in result.findings if f.subject.id == "001T")
    detection = to_detection(detector, tyrell, datetime(2026, 11, 23, tzinfo=UTC))
    assert detection.type == "app_account_missing"
    assert detection.account.owner_email == "gina@acme-gtm.example"
    stark_detection = to_detection(detector, stark, datetime(2026, 11, 23, tzinfo=UTC))
    assert stark_detection.type == "account_unlinked"


def test_domain_of() -> None:
    assert domain_of("https://www.Stark.example/about") == "stark.example"
    assert domain_of("eu.hooli.example") == "eu.hooli.example"
    assert domain_of("") is None and domain_of(None) is None


def test_deal_findings_stay_with_the_deals_owner() -> None:
    from canary.models.detectors import AccountTeam
    from canary.rules import route

    detector = spec("deals-past-close")
    assert detector.route_to == "deal_owner"
    gina = opp(
        "006G",
        "2026-11-20",
        Owner={
            "Name": "Gina",
            "Email": "gina@acme-gtm.example",
            "Manager": {"Email": "bob@acme-gtm.example"},
        },
    )
    finding = evaluate(detector, {"opportunities": [gina]}, TODAY).findings[0]
    team = AccountTeam(
        owner_email="alice@acme-gtm.example",
        owner_manager_email="carol@acme-gtm.example",
        account_name="Globex",
    )
    routed = route(finding, team, "deal_owner")
    assert routed.account.owner_email == "gina@acme-gtm.example"
    assert routed.facts["manager_email"] == "bob@acme-gtm.example"
    # A deal with no owner e-mail falls back to the account's owner and their manager.
    nobody = finding.model_copy(
        update={"account": finding.account.model_copy(update={"owner_email": None})}
    )
    nobody.facts.pop("manager_email")
    fallback = route(nobody, team, "deal_owner")
    assert fallback.account.owner_email == "alice@acme-gtm.example"
    assert fallback.facts["manager_email"] == "carol@acme-gtm.example"


def test_won_unpaid_carries_the_named_invoice_for_the_recheck() -> None:
    """ "Check Stripe again" judges with the finding's facts: the deal's own invoice id must be
    among them, or an old payment of that invoice would not count on the recheck."""
    deal = opp("006NAMED", "2026-11-01", StageName="Closed Won", Stripe_Invoice_Id__c="in_9")
    result = evaluate(spec("won-unpaid"), {"opportunities": [deal], "invoices": []}, TODAY)
    facts = result.findings[0].facts
    assert facts["stripe_invoice_id"] == "in_9"
    paid, _ = payment_for_deal(
        facts["opportunity_id"],
        date.fromisoformat(facts["opportunity_close_date"]),
        facts["stripe_invoice_id"],
        [invoice("in_9", "paid", "2025-01-01")],
        facts["paid_before_close_days"],
    )
    assert paid is not None and paid["id"] == "in_9"
