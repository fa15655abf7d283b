"""The detector workflows' activities: run a detector's queries, read each account's team,
raise a finding as a detection.

Nothing here decides whether something is a finding: the pure rules in canary.rules do,
inside the workflow.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.calls import call
from activities.services import Services
from canary.models.detectors import (
    AccountShiftDetector,
    AccountTeam,
    AccountTeamInput,
    AccountTeamOutput,
    CardExpiryDetector,
    DetectorQueryInput,
    DetectorQueryOutput,
    IrateCustomerDetector,
    LowAdoptionDetector,
    MetricThresholdDetector,
    OnboardingOverdueDetector,
    PastCloseDetector,
    RaiseInput,
    RaiseOutput,
    RenewalTouchpointDetector,
    UnlinkedAccountsDetector,
    WonUnpaidDetector,
)
from canary.rules.sentiment import anger_score

TEAM_SOQL = (
    "SELECT Id, Name, Owner.Name, Owner.Email, Owner.Manager.Email, "
    "Customer_Success_Manager__c, Customer_Success_Manager__r.Name, "
    "Customer_Success_Manager__r.Email, Customer_Success_Manager__r.Manager.Email "
    "FROM Account WHERE Id IN {ids}"
)


class DetectorActivities:
    def __init__(self, services: Services) -> None:
        self.services = services

    # -- queries ------------------------------------------------------------------------------

    @activity.defn(name="canary.detector_query")
    async def detector_query(self, request: DetectorQueryInput) -> DetectorQueryOutput:
        """Run the detector's catalog queries with bound parameters derived from ``as_of``."""
        spec = request.detector
        today = request.as_of.date()
        if isinstance(spec, OnboardingOverdueDetector):
            deals = await self._soql(
                spec.won_deals_soql, closed_before=today - timedelta(days=spec.after_days)
            )
            ids = sorted({str(d["AccountId"]) for d in deals if d.get("AccountId")})
            tasks = await self._soql(spec.tasks_soql, account_ids=ids) if ids else []
            return DetectorQueryOutput(rows={"deals": deals, "tasks": tasks})
        if isinstance(spec, RenewalTouchpointDetector):
            accounts = await self._soql(
                spec.renewals_soql,
                renewal_from=today,
                renewal_to=today + timedelta(days=spec.within_days),
            )
            ids = sorted({str(a["Id"]) for a in accounts})
            tasks = (
                await self._soql(
                    spec.tasks_soql,
                    account_ids=ids,
                    since=today - timedelta(days=spec.lookback_days),
                )
                if ids
                else []
            )
            return DetectorQueryOutput(rows={"accounts": accounts, "tasks": tasks})
        if isinstance(spec, IrateCustomerDetector):
            since_at = request.as_of - timedelta(hours=spec.lookback_hours)
            cases = await self._soql(spec.cases_soql, since=since_at)
            comments = await self._soql(spec.comments_soql, since=since_at)
            return DetectorQueryOutput(rows={"interactions": _interactions(cases, comments)})
        if isinstance(spec, LowAdoptionDetector):
            rows = await self._sql(
                spec.sql, since=today - timedelta(days=spec.window_days), until=today
            )
            return DetectorQueryOutput(rows={"rows": rows})
        if isinstance(spec, AccountShiftDetector):
            since = today - timedelta(weeks=spec.history_weeks + 1)
            return DetectorQueryOutput(rows={"rows": await self._sql(spec.sql, since=since)})
        if isinstance(spec, MetricThresholdDetector):
            since = today - timedelta(days=spec.lookback_days)
            rows = await self._sql(spec.sql, kpi=spec.kpi, since=since)
            return DetectorQueryOutput(rows={"rows": rows})
        if isinstance(spec, PastCloseDetector):
            closed_before = today - timedelta(days=spec.grace_days + 1)
            deals = await self._soql(spec.opportunities_soql, closed_before=closed_before)
            return DetectorQueryOutput(rows={"opportunities": deals})
        if isinstance(spec, WonUnpaidDetector):
            deals = await self._soql(
                spec.won_soql,
                closed_after=today - timedelta(days=spec.lookback_days),
                closed_before=today - timedelta(days=spec.payment_terms_days + 1),
            )
            customers = sorted(
                {
                    str(c)
                    for d in deals
                    if (c := (d.get("Account") or {}).get("Stripe_Customer_Id__c"))
                }
            )
            invoices: list[dict[str, Any]] = []
            for customer in customers:
                invoices.extend(await call(self.services.stripe.customer_invoices, customer))
            return DetectorQueryOutput(rows={"opportunities": deals, "invoices": invoices})
        if isinstance(spec, UnlinkedAccountsDetector):
            return DetectorQueryOutput(
                rows={
                    "linked": await self._soql(spec.linked_soql),
                    "customers": await self._soql(spec.customers_soql),
                    "app_accounts": await self._sql(spec.app_accounts_sql),
                }
            )
        if isinstance(spec, CardExpiryDetector):
            deals = await self._soql(
                spec.opportunities_soql,
                closes_from=today,
                closes_to=today + timedelta(days=spec.within_days),
            )
            return DetectorQueryOutput(
                rows={"opportunities": deals, "cards": await self._cards(deals)}
            )
        raise ApplicationError(f"no query for detector kind {spec.kind}", non_retryable=True)

    async def _cards(self, deals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The expiry of each deal's Stripe customer's default card, and nothing else of the
        card (its number, brand and holder stay out of the detector's history)."""
        customers = sorted(
            {str(c) for d in deals if (c := (d.get("Account") or {}).get("Stripe_Customer_Id__c"))}
        )
        cards: list[dict[str, Any]] = []
        for customer_id in customers:
            customer = await call(self.services.stripe.customer, customer_id)
            default = (customer.get("invoice_settings") or {}).get("default_payment_method")
            card: dict[str, Any] = {}
            if default:
                method_id = default.get("id") if isinstance(default, dict) else str(default)
                method = await call(self.services.stripe.payment_method, method_id)
                card = method.get("card") or {}
            cards.append(
                {
                    "customer": customer_id,
                    "exp_month": card.get("exp_month"),
                    "exp_year": card.get("exp_year"),
                }
            )
        return cards

    async def _soql(self, soql: str, **params: Any) -> list[dict[str, Any]]:
        # The adapter is built inside the call, so a missing setting fails as one.
        return await call(lambda: self.services.salesforce.query(soql, **params))

    async def _sql(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return await call(lambda: self.services.warehouse.query(sql, params))

    @activity.defn(name="canary.account_team")
    async def account_team(self, request: AccountTeamInput) -> AccountTeamOutput:
        """Each account's owner, CSM and their managers: who a finding goes to."""
        ids = sorted(set(request.crm_ids))
        if not ids:
            return AccountTeamOutput()
        rows = await self._soql(TEAM_SOQL, ids=ids)
        teams: dict[str, AccountTeam] = {}
        for row in rows:
            owner = row.get("Owner") or {}
            csm = row.get("Customer_Success_Manager__r") or {}
            teams[str(row["Id"])] = AccountTeam(
                account_name=row.get("Name"),
                owner_email=owner.get("Email"),
                owner_name=owner.get("Name"),
                owner_manager_email=(owner.get("Manager") or {}).get("Email"),
                csm_id=row.get("Customer_Success_Manager__c"),
                csm_email=csm.get("Email"),
                csm_name=csm.get("Name"),
                csm_manager_email=(csm.get("Manager") or {}).get("Email"),
            )
        return AccountTeamOutput(teams=teams)

    # -- raising ------------------------------------------------------------------------------

    @activity.defn(name="canary.raise_detection")
    async def raise_detection(self, request: RaiseInput) -> RaiseOutput:
        """Start the subject's remediation or fold the finding into the open (or cooling
        down) one: signal-with-start, exactly as a webhook would."""
        from starter.intake import submit_detection

        submitted = await submit_detection(
            self.services.require_temporal(),
            request.detection,
            self.services.settings,
            request.search_attributes,
            # The finding's owner and manager are what the detector read in Salesforce:
            # Canary's own lookup, so trusted, unlike the people a report names.
            owner_email=request.detection.account.owner_email,
            manager_email=str(request.detection.facts.get("manager_email") or "") or None,
            from_detector=True,
        )
        return RaiseOutput(workflow_id=submitted.workflow_id, error_type=submitted.error_type)


def _interactions(
    cases: list[dict[str, Any]], comments: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Cases (their subject and description, the customer's e-mail) and case comments, each
    scored for anger. Scoring reads VADER's lexicon, which is why it happens here."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        text = ". ".join(p for p in (case.get("Subject"), case.get("Description")) if p)
        rows.append(
            {
                "case_id": case["Id"],
                "case_number": case.get("CaseNumber"),
                "case_subject": case.get("Subject"),
                "case_priority": case.get("Priority"),
                "account_id": case.get("AccountId"),
                "account_name": (case.get("Account") or {}).get("Name"),
                "interaction_id": case["Id"],
                "kind": "case e-mail",
                "text": text,
                "score": anger_score(text),
            }
        )
    for comment in comments:
        parent = comment.get("Parent") or {}
        text = str(comment.get("CommentBody") or "")
        rows.append(
            {
                "case_id": comment.get("ParentId"),
                "case_number": parent.get("CaseNumber"),
                "case_subject": parent.get("Subject"),
                "case_priority": parent.get("Priority"),
                "account_id": parent.get("AccountId"),
                "account_name": (parent.get("Account") or {}).get("Name"),
                "interaction_id": comment["Id"],
                "kind": "case comment",
                "text": text,
                "score": anger_score(text),
            }
        )
    return rows
