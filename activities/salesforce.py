"""Salesforce: the CRM lookups of a diagnosis (opportunity, account, the accounts an app
account may belong to) and the CRM steps (stage, link, account, task, case).

Every write is confirmed by reading the record back: a remediation only says "fixed" when
Salesforce shows the fix.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.exceptions import ApplicationError

from activities.calls import call
from activities.services import Services
from canary.adapters import format_amount, format_units
from canary.catalog import build_context, render
from canary.models import AccountRef, Detection, EnrichOutput, StepInput, StepOutput
from canary.settings import MissingSettingError

CLOSED_WON = "Closed Won"
#: Task.Description's length in every org (a long text area of 32,000 characters).
TASK_DESCRIPTION_LENGTH = 32000


def _owner_facts(record: dict[str, Any]) -> dict[str, Any]:
    owner = record.get("Owner") or {}
    manager = owner.get("Manager") or {}
    facts = {
        "owner_email": owner.get("Email"),
        "owner_name": owner.get("Name"),
        "manager_email": manager.get("Email"),
        "manager_name": manager.get("Name"),
    }
    return {k: v for k, v in facts.items() if v}


class SalesforceHandlers:
    """The SOP's ``salesforce.*`` enrichers and step actions."""

    def __init__(self, services: Services) -> None:
        self.services = services

    # -- enrichers ------------------------------------------------------------------------

    async def opportunity(self, detection: Detection) -> EnrichOutput:
        opportunity_id = (
            detection.subject.id
            if detection.subject.kind == "opportunity"
            else detection.facts.get("opportunity_id")
        )
        if not opportunity_id:
            return EnrichOutput(facts={"opportunity_found": False})
        record = await call(self.services.salesforce.opportunity, str(opportunity_id))
        if record is None:
            return EnrichOutput(facts={"opportunity_found": False})
        paid = detection.facts.get("amount_paid")
        currency = detection.facts.get("currency") or "usd"
        amount = record.get("Amount")
        facts: dict[str, Any] = {
            "opportunity_found": True,
            "opportunity_id": record.get("Id"),
            "opportunity_name": record.get("Name"),
            "opportunity_stage": record.get("StageName"),
            "opportunity_amount": amount,
            "opportunity_amount_display": format_units(amount, currency),
            "opportunity_close_date": record.get("CloseDate"),
            "opportunity_is_won": bool(record.get("IsWon"))
            or record.get("StageName") == CLOSED_WON,
            **_owner_facts(record),
        }
        if paid is not None and amount is not None:
            # Stripe amounts are cents; a difference under one unit is rounding, not a gap.
            facts["amount_matches"] = abs(float(paid) / 100 - float(amount)) < 1
            facts["amount_paid_display"] = format_amount(int(paid), currency)
        facts.setdefault(
            "evidence_text",
            detection.facts.get("evidence_text")
            or f"{detection.source} reported {detection.message}",
        )
        account = (record.get("Account") or {}).get("Name")
        return EnrichOutput(
            facts=facts,
            account=AccountRef(
                crm_id=record.get("AccountId"), name=account, owner_email=facts.get("owner_email")
            ),
        )

    async def contract(self, detection: Detection) -> EnrichOutput:
        """Whether the opportunity's contract is signed: ``contract_signed`` whenever
        Salesforce answered (false for an opportunity it does not have)."""
        opportunity_id = (
            detection.subject.id
            if detection.subject.kind == "opportunity"
            else detection.facts.get("opportunity_id")
        )
        if not opportunity_id:
            return EnrichOutput(facts={"contract_signed": False})
        field = self.services.settings.salesforce_contract_field
        record = await call(
            self.services.salesforce.opportunity_contract, str(opportunity_id), field
        )
        return EnrichOutput(facts={"contract_signed": bool(record and record.get(field) is True)})

    async def account(self, detection: Detection) -> EnrichOutput:
        if not detection.account.crm_id:
            return EnrichOutput(facts={"crm_lookup": "no CRM account id on this detection"})
        record = await call(self.services.salesforce.account, detection.account.crm_id)
        if record is None:
            return EnrichOutput(facts={"crm_account_found": False})
        facts = {
            "crm_account_found": True,
            "crm_account_name": record.get("Name"),
            **_owner_facts(record),
        }
        return EnrichOutput(
            facts=facts,
            account=AccountRef(name=record.get("Name"), owner_email=facts.get("owner_email")),
        )

    async def deal(self, detection: Detection) -> EnrichOutput:
        """The deal behind a payment: the customer's CRM account (by its id, else by the Stripe
        customer id it carries), its segment and its open opportunity — the one in Commit, else
        the soonest to close. ``deal_checked`` says Salesforce answered (or is not used at all);
        without it the payment SOP alerts people at once rather than guess the deal is small."""
        account = detection.account
        try:
            salesforce = self.services.salesforce
        except MissingSettingError:
            return EnrichOutput(
                facts={"deal_checked": True, "deal_lookup": "Salesforce is not configured"}
            )
        record, opportunities = await call(
            salesforce.deal_context,
            account.crm_id,
            account.stripe_customer_id,
            self.services.settings.salesforce_segment_field,
        )
        if record is None:
            return EnrichOutput(facts={"deal_checked": True, "deal_account_found": False})
        segment = record.get(self.services.settings.salesforce_segment_field)
        facts: dict[str, Any] = {"deal_checked": True, "deal_account_found": True}
        if isinstance(segment, str) and segment.strip():
            facts["customer_segment"] = segment.strip().lower()
        committed = [o for o in opportunities if o.get("ForecastCategoryName") == "Commit"]
        if committed or opportunities:
            deal = (committed or opportunities)[0]
            facts.update(
                {
                    "opportunity_forecast_category": deal.get("ForecastCategoryName"),
                    "deal_opportunity_id": deal.get("Id"),
                    "deal_opportunity_name": deal.get("Name"),
                    "deal_stage": deal.get("StageName"),
                    "deal_close_date": deal.get("CloseDate"),
                }
            )
        return EnrichOutput(
            facts={k: v for k, v in facts.items() if v is not None},
            account=AccountRef(crm_id=record.get("Id"), name=record.get("Name")),
        )

    async def account_candidates(self, detection: Detection) -> EnrichOutput:
        account = detection.account
        domain = account.domain or (account.model_extra or {}).get("website")
        rows = await call(
            self.services.salesforce.accounts_matching, domain, account.stripe_customer_id
        )
        # Whichever account carries this product account's id, matching or not: then it is
        # linked already (and a report that says otherwise is not about an unlinked account).
        app_id = (
            detection.subject.id
            if detection.subject.kind == "app_account"
            else detection.account.app_account_id
        )
        linked = await call(self.services.salesforce.accounts_carrying, app_id) if app_id else []
        candidates = [
            {
                "value": r["Id"],
                "label": f"{r.get('Name')} ({r.get('Website') or 'no website'})"
                + (f" — {r['Owner']['Name']}" if (r.get("Owner") or {}).get("Name") else ""),
            }
            for r in rows
        ]
        facts: dict[str, Any] = {"candidates": candidates, "candidate_count": len(candidates)}
        if linked:
            facts["linked_account_id"] = linked[0]["Id"]
            facts["linked_account_name"] = linked[0].get("Name")
        if len(rows) == 1:
            facts.update(
                {
                    "candidate_id": rows[0]["Id"],
                    "candidate_name": rows[0].get("Name"),
                    **_owner_facts(rows[0]),
                }
            )
        return EnrichOutput(facts=facts)

    # -- steps ----------------------------------------------------------------------------

    async def mark_closed_won(self, request: StepInput) -> StepOutput:
        opportunity_id = request.facts.get("opportunity_id") or request.detection.subject.id
        try:
            await call(
                self.services.salesforce.update,
                "Opportunity",
                str(opportunity_id),
                {"StageName": CLOSED_WON},
            )
        except ApplicationError as err:
            # A validation rule said no: show Salesforce's own words and wait for a person.
            if err.non_retryable:
                return StepOutput(
                    ok=False, text=f"Salesforce refused: {_detail(err)}", error_code=_code(err)
                )
            raise
        record = await call(self.services.salesforce.get, "Opportunity", str(opportunity_id))
        stage = record.get("StageName")
        if stage != CLOSED_WON:
            return StepOutput(ok=False, text=f"Salesforce still shows stage {stage}.")
        return StepOutput(
            ok=True,
            resolved=True,
            text="Opportunity is Closed Won (confirmed in Salesforce).",
            facts={"opportunity_stage": stage},
        )

    async def check_opportunity(self, request: StepInput) -> StepOutput:
        """Re-read a deal that was past its close date: fixed once it is closed (won or lost)
        or its close date is today or later."""
        opportunity_id = request.facts.get("opportunity_id") or request.detection.subject.id
        record = await call(self.services.salesforce.opportunity, str(opportunity_id))
        if record is None:
            return StepOutput(ok=False, text="Salesforce has no such opportunity any more.")
        stage, closes = record.get("StageName"), record.get("CloseDate")
        facts = {"opportunity_stage": stage, "opportunity_close_date": closes}
        if record.get("IsClosed"):
            return StepOutput(
                ok=True, resolved=True, text=f"The deal is {stage} in Salesforce.", facts=facts
            )
        if closes and str(closes) >= datetime.now(UTC).date().isoformat():
            return StepOutput(
                ok=True,
                resolved=True,
                text=f"The close date is now {closes} (stage {stage}), confirmed in Salesforce.",
                facts=facts,
            )
        return StepOutput(
            ok=False,
            text=f"Salesforce still shows close date {closes} in stage {stage}: close the deal "
            "or move its close date, then press the button again.",
            facts=facts,
        )

    async def link_account(self, request: StepInput) -> StepOutput:
        account_id = request.value or request.facts.get("candidate_id")
        if not account_id:
            return StepOutput(ok=False, text="No Salesforce account was chosen to link.")
        fields: dict[str, Any] = {"App_Account_Id__c": request.detection.subject.id}
        if request.detection.account.stripe_customer_id:
            fields["Stripe_Customer_Id__c"] = request.detection.account.stripe_customer_id
        try:
            await call(self.services.salesforce.update, "Account", str(account_id), fields)
        except ApplicationError as err:
            if err.non_retryable:
                return StepOutput(
                    ok=False, text=f"Salesforce refused: {_detail(err)}", error_code=_code(err)
                )
            raise
        record = await call(self.services.salesforce.get, "Account", str(account_id))
        if record.get("App_Account_Id__c") != request.detection.subject.id:
            return StepOutput(ok=False, text="Salesforce does not show the link after writing it.")
        return StepOutput(
            ok=True,
            resolved=True,
            text=f"Linked to {record.get('Name')} (confirmed in Salesforce).",
            facts={"linked_account_id": account_id, "linked_account_name": record.get("Name")},
        )

    async def create_account(self, request: StepInput) -> StepOutput:
        account = request.detection.account
        fields: dict[str, Any] = {
            "Name": account.name or request.detection.subject.id,
            "App_Account_Id__c": request.detection.subject.id,
        }
        if account.domain:
            fields["Website"] = account.domain
        if account.stripe_customer_id:
            fields["Stripe_Customer_Id__c"] = account.stripe_customer_id
        # Idempotent by external id: a retried create finds the account it already made.
        existing = await call(
            self.services.salesforce.query,
            "SELECT Id, Name FROM Account WHERE App_Account_Id__c = {app}",
            app=request.detection.subject.id,
        )
        new_id = (
            existing[0]["Id"]
            if existing
            else await call(self.services.salesforce.create, "Account", fields)
        )
        record = await call(self.services.salesforce.get, "Account", str(new_id))
        return StepOutput(
            ok=True,
            resolved=True,
            text=f"Created Salesforce account {record.get('Name')} and linked it.",
            facts={"linked_account_id": new_id},
        )

    async def create_task(self, request: StepInput) -> StepOutput:
        what = request.facts.get("opportunity_id") or request.detection.account.crm_id
        params = request.step.params
        # Templates ({account.name}, {facts.csm_id}…) are filled from the remediation, so a
        # detector's task names the customer, the figures and the CSM who owns it.
        context = build_context(request.detection, request.facts)
        subject = render(str(params.get("subject") or request.step.title), context)[:255]
        # Idempotent: the task carries the attempt key on a line of its own, and a retry finds
        # it first. Salesforce cannot filter on Description (a long text area), so the query
        # filters on what it can (the subject and the record it is about) and the marker is
        # looked for in the few descriptions that come back.
        marker = f"canary:{request.attempt_key}"[:255]
        earlier = await call(
            self.services.salesforce.query,
            "SELECT Id, Description FROM Task WHERE Subject = {subject}"
            + (" AND WhatId = {what}" if what else ""),
            subject=subject,
            what=what,
        )
        existing = [t for t in earlier if marker in str(t.get("Description") or "").splitlines()]
        if existing:
            return StepOutput(ok=True, text=f"CRM task already created ({existing[0]['Id']}).")
        fields: dict[str, Any] = {
            "Subject": subject,
            "Status": "Not Started",
            "Priority": "High",
            "Description": marker,
        }
        if params.get("description"):
            # The marker always fits: the text is cut to the field's length before it.
            room = TASK_DESCRIPTION_LENGTH - len(marker) - 2
            text = render(str(params["description"]), context)[:room]
            fields["Description"] = f"{text}\n\n{marker}"
        owner = render(str(params.get("owner") or ""), context, missing="")
        if owner:
            fields["OwnerId"] = owner
        if params.get("due_in_days") is not None:
            due = datetime.now(UTC).date() + timedelta(days=int(params["due_in_days"]))
            fields["ActivityDate"] = due.isoformat()
        if params.get("type"):
            fields["Type"] = str(params["type"])
        if what:
            fields["WhatId"] = what
        task_id = await call(self.services.salesforce.create, "Task", fields)
        return StepOutput(
            ok=True,
            text=f"CRM task created: {subject} ({task_id}).",
            facts={"crm_task_id": task_id},
        )

    async def fast_track_case(self, request: StepInput) -> StepOutput:
        """Flag the case for the fast track (escalated, high priority) and read it back."""
        case_id = request.facts.get("case_id") or (
            request.detection.subject.id if request.detection.subject.kind == "case" else None
        )
        if not case_id:
            return StepOutput(ok=False, text="No Salesforce case on this remediation.")
        fields = {"IsEscalated": True, "Priority": "High"}
        try:
            await call(self.services.salesforce.update, "Case", str(case_id), fields)
        except ApplicationError as err:
            if err.non_retryable:
                return StepOutput(
                    ok=False, text=f"Salesforce refused: {_detail(err)}", error_code=_code(err)
                )
            raise
        record = await call(self.services.salesforce.get, "Case", str(case_id))
        if record.get("IsEscalated") is not True:
            return StepOutput(ok=False, text="Salesforce does not show the case escalated.")
        return StepOutput(
            ok=True,
            text=f"Case {record.get('CaseNumber') or case_id} fast-tracked: escalated, "
            f"priority {record.get('Priority')} (confirmed in Salesforce).",
            facts={"case_escalated": True},
        )


def _detail(err: ApplicationError) -> str:
    return err.message.split(": ", 1)[-1]


def _code(err: ApplicationError) -> str | None:
    details = err.details
    if details and isinstance(details[0], dict):
        return details[0].get("code")
    return None
