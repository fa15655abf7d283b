"""Heads-up before renewals: cards that expire before an account's next invoice.

A pure rule over the open renewal or Commit opportunities Salesforce returned and the expiry
of each Stripe customer's default card (the detector activity reads it; nothing else of the
card). A card is valid through the last day of its expiry month; the next invoice of a deal
is due on its close date. One finding per account, about its soonest deal the card does not
reach: a task for the account executive, never an e-mail to the customer.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from canary.adapters import format_units
from canary.models.detection import AccountRef, Subject
from canary.models.detectors import CardExpiryDetector, Finding, RuleResult, Skipped, as_date


def card_valid_through(exp_month: Any, exp_year: Any) -> date | None:
    """The last day a card with this expiry works; None when the expiry is not a month."""
    try:
        month, year = int(exp_month), int(exp_year)
        return date(year, month, calendar.monthrange(year, month)[1])
    except (TypeError, ValueError):
        return None


def cards_expiring(
    opportunities: list[dict[str, Any]],
    cards: list[dict[str, Any]],
    today: date,
    spec: CardExpiryDetector,
) -> RuleResult:
    """``cards`` are rows ``{customer, exp_month, exp_year}`` (no card: the expiry is None)."""
    valid_through = {
        str(c["customer"]): card_valid_through(c.get("exp_month"), c.get("exp_year")) for c in cards
    }
    result = RuleResult()
    seen: set[str] = set()
    deals = sorted(opportunities, key=lambda o: str(o.get("CloseDate") or ""))
    for opp in deals:
        account_id = str(opp.get("AccountId") or "")
        closes = as_date(opp.get("CloseDate"))
        if not account_id or account_id in seen or closes is None:
            continue
        if not today <= closes <= date.fromordinal(today.toordinal() + spec.within_days):
            continue
        seen.add(account_id)
        result.checked += 1
        account = opp.get("Account") or {}
        customer = account.get("Stripe_Customer_Id__c")
        if not customer:
            result.skipped.append(Skipped(subject_id=account_id, reason="no Stripe customer"))
            continue
        expires = valid_through.get(str(customer))
        if expires is None:
            result.skipped.append(Skipped(subject_id=account_id, reason="no card on file"))
            continue
        if expires >= closes:
            continue
        result.findings.append(_finding(opp, account_id, str(customer), closes, expires))
    return result


def _finding(
    opp: dict[str, Any], account_id: str, customer: str, closes: date, expires: date
) -> Finding:
    owner = opp.get("Owner") or {}
    account = opp.get("Account") or {}
    name = str(opp.get("Name") or opp["Id"])
    kind = "renewal" if opp.get("Type") == "Renewal" else "deal"
    category = opp.get("ForecastCategoryName") or ("Renewal" if kind == "renewal" else "Commit")
    amount = format_units(opp.get("Amount"))
    facts: dict[str, Any] = {
        "opportunity_id": opp["Id"],
        "opportunity_name": name,
        "opportunity_type": opp.get("Type"),
        "opportunity_amount": opp.get("Amount"),
        "opportunity_amount_display": amount,
        "forecast_category": category,
        "next_invoice_on": closes.isoformat(),
        "card_expires_on": expires.isoformat(),
        "card_expires_display": f"{expires.month:02d}/{expires.year}",
        "days_card_short": (closes - expires).days,
        "stripe_customer": customer,
        "owner_user_id": opp.get("OwnerId"),
        "owner_name": owner.get("Name"),
        "manager_email": (owner.get("Manager") or {}).get("Email"),
    }
    return Finding(
        subject=Subject(kind="account", id=account_id),
        account=AccountRef(
            crm_id=account_id,
            name=account.get("Name"),
            stripe_customer_id=customer,
            owner_email=owner.get("Email"),
        ),
        message=f"The card on file for {account.get('Name') or account_id} is valid to "
        f"{facts['card_expires_display']}, before the next invoice of {name} ({amount}) on "
        f"{closes.isoformat()}.",
        facts={k: v for k, v in facts.items() if v is not None},
    )
