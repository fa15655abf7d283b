"""Pipeline sweeps: the CRM checked against itself, against Stripe and against the product.

Three pure rules over rows the detector activity fetched (Salesforce through SOQL, Stripe
invoices, the warehouse's product accounts):

* :func:`past_close` — committed opportunities whose close date has passed and that are not
  Closed Won: the forecast is wrong until someone closes or re-dates them.
* :func:`won_unpaid` — Closed Won opportunities with no successful payment in Stripe once the
  payment terms have run: revenue booked but not collected.
* :func:`unlinked_accounts` — product accounts no Salesforce account carries, and customer
  accounts in Salesforce with no product account at all.

Like every rule, thresholds are strict: a deal exactly ``grace_days`` past its close date, or
exactly ``payment_terms_days`` after closing, is not (yet) a finding.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from canary.adapters import format_amount, format_units
from canary.models.detection import AccountRef, Subject
from canary.models.detectors import (
    Finding,
    PastCloseDetector,
    RuleResult,
    Skipped,
    UnlinkedAccountsDetector,
    WonUnpaidDetector,
    as_date,
)


def _deal_finding(
    opp: dict[str, Any], closed: date, facts: dict[str, Any], message: str
) -> Finding:
    """A finding about one opportunity: what every deal finding says about the deal, its
    account and its owner (and their manager, when the query read it), plus ``facts``."""
    owner = opp.get("Owner") or {}
    account = opp.get("Account") or {}
    deal: dict[str, Any] = {
        "opportunity_id": opp["Id"],
        "opportunity_name": str(opp.get("Name") or opp["Id"]),
        "opportunity_amount": opp.get("Amount"),
        "opportunity_amount_display": format_units(opp.get("Amount")),
        "opportunity_close_date": closed.isoformat(),
        "owner_name": owner.get("Name"),
        "manager_email": (owner.get("Manager") or {}).get("Email"),
    }
    return Finding(
        subject=Subject(kind="opportunity", id=str(opp["Id"])),
        account=AccountRef(
            crm_id=opp.get("AccountId"),
            name=account.get("Name"),
            stripe_customer_id=account.get("Stripe_Customer_Id__c"),
            owner_email=owner.get("Email"),
        ),
        message=f"{deal['opportunity_name']} ({deal['opportunity_amount_display']}) {message}",
        facts={**{k: v for k, v in deal.items() if v is not None}, **facts},
    )


# -- committed deals past their close date ---------------------------------------------------


def past_close(
    opportunities: list[dict[str, Any]], today: date, spec: PastCloseDetector
) -> RuleResult:
    result = RuleResult(checked=len(opportunities))
    for opp in opportunities:
        closes = as_date(opp.get("CloseDate"))
        if closes is None:
            result.skipped.append(Skipped(subject_id=str(opp.get("Id")), reason="no close date"))
            continue
        if opp.get("IsWon") or opp.get("StageName") == "Closed Won":
            continue
        days = (today - closes).days
        if days <= spec.grace_days:
            continue
        stage = opp.get("StageName") or "unknown"
        facts: dict[str, Any] = {
            "opportunity_stage": stage,
            "forecast_category": opp.get("ForecastCategoryName") or "Commit",
            "days_past_close": days,
            "grace_days": spec.grace_days,
        }
        message = (
            f"was committed to close on {closes.isoformat()}, {days} days ago, and is still in "
            f"stage {stage}."
        )
        result.findings.append(_deal_finding(opp, closes, facts, message))
    return result


# -- Closed Won without a payment --------------------------------------------------------------


def _paid_on(invoice: dict[str, Any]) -> date | None:
    paid_at = invoice.get("paid_at")
    if paid_at in (None, ""):
        return None
    if isinstance(paid_at, int | float):
        return datetime.fromtimestamp(paid_at, UTC).date()
    return as_date(paid_at)


def payment_for_deal(
    opportunity_id: str,
    closed_on: date,
    named_invoice: str | None,
    invoices: list[dict[str, Any]],
    paid_before_close_days: int,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The paid invoice that pays for a deal (or None) and the customer's unpaid invoices.

    An invoice pays for the deal when it names the opportunity (its metadata
    ``salesforce_opportunity_id``, or the deal's ``Stripe_Invoice_Id__c``), or, when none names
    it, when it was paid no more than ``paid_before_close_days`` before the close date. Shared
    by the sweep and by the remediation's "Check Stripe again" step, so both judge alike."""
    paid = [i for i in invoices if i.get("status") == "paid"]
    named = [
        i for i in paid if i.get("opportunity_id") == opportunity_id or i.get("id") == named_invoice
    ]
    earliest = closed_on - timedelta(days=paid_before_close_days)
    by_date = [i for i in paid if (_paid_on(i) or date.min) >= earliest]
    unpaid = [i for i in invoices if i.get("status") in ("open", "uncollectible")]
    found = named or by_date
    return (found[0] if found else None), unpaid


def won_unpaid(
    opportunities: list[dict[str, Any]],
    invoices: list[dict[str, Any]],
    today: date,
    spec: WonUnpaidDetector,
) -> RuleResult:
    result = RuleResult()
    for opp in opportunities:
        closed = as_date(opp.get("CloseDate"))
        if closed is None:
            result.skipped.append(Skipped(subject_id=str(opp.get("Id")), reason="no close date"))
            continue
        days = (today - closed).days
        if days > spec.lookback_days:
            continue
        result.checked += 1
        if days <= spec.payment_terms_days:
            continue
        account = opp.get("Account") or {}
        customer = account.get("Stripe_Customer_Id__c")
        theirs = [i for i in invoices if customer and i.get("customer") == customer]
        paid, unpaid = payment_for_deal(
            str(opp["Id"]),
            closed,
            opp.get("Stripe_Invoice_Id__c"),
            theirs,
            spec.paid_before_close_days,
        )
        if paid is not None:
            continue
        if not customer:
            reason = "The account has no Stripe customer, so nobody was ever billed."
        elif unpaid:
            reason = (
                "Stripe shows "
                + "; ".join(
                    f"invoice {i['id']} {i.get('status')} with "
                    f"{format_amount(i.get('amount_due'), i.get('currency'))} due"
                    for i in unpaid[:3]
                )
                + "."
            )
        else:
            reason = f"Stripe has no paid invoice for {customer} since the deal closed."
        facts: dict[str, Any] = {
            "days_since_close": days,
            "payment_terms_days": spec.payment_terms_days,
            "paid_before_close_days": spec.paid_before_close_days,
            "stripe_customer": customer,
            "stripe_invoice_id": opp.get("Stripe_Invoice_Id__c"),
            "has_stripe_customer": bool(customer),
            "unpaid_invoice_count": len(unpaid),
            "payment_gap_text": reason,
        }
        if unpaid:
            facts["invoice_id"] = unpaid[0]["id"]
            facts["hosted_invoice_url"] = unpaid[0].get("hosted_invoice_url")
        message = f"closed won {days} days ago with no payment in Stripe. {reason}"
        facts = {k: v for k, v in facts.items() if v is not None}
        result.findings.append(_deal_finding(opp, closed, facts, message))
    return result


# -- accounts with no linked product account ---------------------------------------------------


def domain_of(value: Any) -> str | None:
    """``https://www.stark.example/`` → ``stark.example``; a bare domain stays itself."""
    text = str(value or "").strip().lower()
    if not text:
        return None
    host = urlparse(text if "//" in text else f"//{text}").hostname or ""
    return host.removeprefix("www.") or None


def unlinked_accounts(
    linked: list[dict[str, Any]],
    customers: list[dict[str, Any]],
    app_accounts: list[dict[str, Any]],
    spec: UnlinkedAccountsDetector,
) -> RuleResult:
    carried = {str(r["App_Account_Id__c"]) for r in linked if r.get("App_Account_Id__c")}
    result = RuleResult(checked=len(app_accounts) + len(customers))
    unlinked_domains: dict[str, str] = {}
    for app in app_accounts:
        app_id = str(app["app_account_id"])
        if app_id in carried:
            continue
        name = app.get("name") or app_id
        domain = domain_of(app.get("domain"))
        if domain:
            unlinked_domains.setdefault(domain, app_id)
        facts: dict[str, Any] = {"plan": app.get("plan"), "sweep": spec.id}
        if app.get("crm_account_id"):
            # The product thinks it is linked; Salesforce does not carry the id.
            facts["product_side_crm_id"] = app["crm_account_id"]
        result.findings.append(
            Finding(
                subject=Subject(kind="app_account", id=app_id),
                account=AccountRef(name=name, domain=domain),
                message=f"Product account {app_id} ({name}) is not linked to any Salesforce "
                "account.",
                facts={k: v for k, v in facts.items() if v is not None},
            )
        )
    for account in customers:
        if account.get("App_Account_Id__c"):
            continue
        account_id = str(account["Id"])
        name = account.get("Name") or account_id
        domain = domain_of(account.get("Domain__c") or account.get("Website"))
        if domain and domain in unlinked_domains:
            result.skipped.append(
                Skipped(
                    subject_id=account_id,
                    reason=f"product account {unlinked_domains[domain]} shares {domain}; "
                    "raised as an unlinked product account",
                )
            )
            continue
        result.findings.append(
            Finding(
                error_type=spec.customer_error_type,
                subject=Subject(kind="account", id=account_id),
                account=AccountRef(
                    crm_id=account_id,
                    name=name,
                    domain=domain,
                    stripe_customer_id=account.get("Stripe_Customer_Id__c"),
                    owner_email=(account.get("Owner") or {}).get("Email"),
                ),
                message=f"{name} is a customer ({account.get('Type')}) in Salesforce but no "
                "product account is linked to it.",
                facts={
                    "account_type": account.get("Type"),
                    "domain_text": domain or "no domain",
                    "sweep": spec.id,
                },
            )
        )
    return result
