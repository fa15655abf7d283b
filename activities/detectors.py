"""Activities of the detector and digest workflows: queries, people, raising, e-mail.

Thin and idempotent like the remediation activities: every outside call goes through an
adapter in a thread, adapter errors become retry decisions, and nothing here decides whether
something is a finding (the pure rules in canary.rules do, inside the workflow).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from canary.adapters import PermanentError, TransientError
from canary.adapters.email_adapter import EmailAdapter, message_id
from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.adapters.stripe_adapter import StripeAdapter
from canary.adapters.warehouse import Warehouse
from canary.models import OPEN_STATES, RemediationStatus
from canary.models.detectors import (
    AccountShiftDetector,
    AccountTeam,
    AccountTeamInput,
    AccountTeamOutput,
    DetectorQueryInput,
    DetectorQueryOutput,
    DigestAddInput,
    DigestAddOutput,
    DigestStatesInput,
    DigestStatesOutput,
    EmailInput,
    EmailOutput,
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
from canary.settings import MissingSettingError, Settings, get_settings
from canary.telemetry import span

T = TypeVar("T")

TEAM_SOQL = (
    "SELECT Id, Name, Owner.Name, Owner.Email, Owner.Manager.Email, "
    "Customer_Success_Manager__c, Customer_Success_Manager__r.Name, "
    "Customer_Success_Manager__r.Email, Customer_Success_Manager__r.Manager.Email "
    "FROM Account WHERE Id IN {ids}"
)


def digest_id(owner: str) -> str:
    """One digest workflow per owner: ``digest:alice@acme-gtm.example``."""
    return f"digest:{owner.strip().lower()}"[:200]


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "call"))
    with span(f"canary.{name}"):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except TransientError as exc:
            raise ApplicationError(str(exc), type=f"{exc.service}.transient") from exc
        except PermanentError as exc:
            raise ApplicationError(
                str(exc), {"code": exc.code}, type=f"{exc.service}.permanent", non_retryable=True
            ) from exc
        except MissingSettingError as exc:
            raise ApplicationError(
                str(exc), type="canary.missing_setting", non_retryable=True
            ) from exc


class DetectorActivities:
    def __init__(
        self,
        settings: Settings | None = None,
        salesforce: SalesforceAdapter | None = None,
        warehouse: Warehouse | None = None,
        email: EmailAdapter | None = None,
        temporal: Client | None = None,
        stripe: StripeAdapter | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._stripe = stripe
        self._salesforce = salesforce
        self._warehouse = warehouse
        self._email = email
        self.temporal = temporal

    @cached_property
    def salesforce(self) -> SalesforceAdapter:
        return self._salesforce or SalesforceAdapter.from_settings(self.settings)

    @cached_property
    def stripe(self) -> StripeAdapter:
        if self._stripe is not None:
            return self._stripe
        key = self.settings.require("stripe_api_key", "to check Closed Won deals were paid")
        return StripeAdapter(key, self.settings.stripe_api_base)

    @cached_property
    def warehouse(self) -> Warehouse:
        return self._warehouse or Warehouse.from_settings(self.settings)

    @cached_property
    def email(self) -> EmailAdapter:
        return self._email or EmailAdapter.from_settings(self.settings)

    def _client(self) -> Client:
        if self.temporal is None:
            raise ApplicationError("no Temporal client on this worker", non_retryable=True)
        return self.temporal

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
                invoices.extend(await _run(self.stripe.customer_invoices, customer))
            return DetectorQueryOutput(rows={"opportunities": deals, "invoices": invoices})
        if isinstance(spec, UnlinkedAccountsDetector):
            return DetectorQueryOutput(
                rows={
                    "linked": await self._soql(spec.linked_soql),
                    "customers": await self._soql(spec.customers_soql),
                    "app_accounts": await self._sql(spec.app_accounts_sql),
                }
            )
        raise ApplicationError(f"no query for detector kind {spec.kind}", non_retryable=True)

    async def _soql(self, soql: str, **params: Any) -> list[dict[str, Any]]:
        return await _run(lambda: self.salesforce.query(soql, **params))

    async def _sql(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        return await _run(lambda: self.warehouse.query(sql, params))

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
            self._client(), request.detection, self.settings, request.search_attributes
        )
        return RaiseOutput(workflow_id=submitted.workflow_id, error_type=submitted.error_type)

    # -- the digest ---------------------------------------------------------------------------

    @activity.defn(name="canary.digest_add")
    async def digest_add(self, request: DigestAddInput) -> DigestAddOutput:
        """Add an item to its owner's digest, starting the digest if none is running."""
        from workflows.detectors import DigestWorkflow

        workflow_id = digest_id(request.digest.owner)
        await self._client().start_workflow(
            DigestWorkflow.run,
            request.digest,
            id=workflow_id,
            task_queue=activity.info().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="add",
            start_signal_args=[request.item],
            static_summary=f"Daily digest for {request.digest.owner}"[:200],
        )
        return DigestAddOutput(digest_id=workflow_id)

    @activity.defn(name="canary.digest_states")
    async def digest_states(self, request: DigestStatesInput) -> DigestStatesOutput:
        """Which remediations are still open (a cooling-down one runs but is closed)."""
        from workflows import RemediationWorkflow

        client = self._client()
        found: dict[str, str] = {}
        for workflow_id in request.workflow_ids:
            handle = client.get_workflow_handle(workflow_id)
            try:
                description = await handle.describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    continue
                status: RemediationStatus = await handle.query(RemediationWorkflow.status)
            except RPCError as err:
                if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                    continue
                raise
            if status.state in OPEN_STATES:
                found[workflow_id] = status.headline
        return DigestStatesOutput(open=found)

    # -- e-mail -------------------------------------------------------------------------------

    @activity.defn(name="canary.send_email")
    async def send_email(self, request: EmailInput) -> EmailOutput:
        msg_id = message_id(request.message_id_key)
        accepted = await _run(
            self.email.send, request.to, request.subject, request.text, request.html, msg_id
        )
        return EmailOutput(message_id=msg_id, accepted=accepted)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.detector_query,
            self.account_team,
            self.raise_detection,
            self.digest_add,
            self.digest_states,
            self.send_email,
        ]


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
