"""The investigation of a detection: its plan, the lookups it asks for (enrichers), its
diagnosis, and, for a new remediation, all of that and the people to alert in one local
activity.

Each lookup of a diagnosis (every enricher, the diagnosis, the owner, the manager) is its own
local activity when the workflow needs it again; for a new remediation they run in
``canary.investigate``, in one, so the first alert waits on one activation instead of five.
Every enricher is tried once, together; an enricher or a people lookup that fails is left out,
with its error, for the workflow to retry on its own. Asked to (``prepare_key``), it also runs
the diagnosis's leading link-preparing steps while the people are looked up; a step that fails
is left out and the workflow runs it. It also reads the quiet windows open now, for the
first alert the same workflow task makes. The plan or the diagnosis failing fails the whole
investigation.

The enricher table names exactly the enrichers of ``canary.models.capabilities``, the table
the SOP schema accepts; building the activities fails when the two disagree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.calls import configuration_error
from activities.salesforce import SalesforceHandlers
from activities.services import Services
from activities.slack import SlackActivities
from activities.steps import StepActivities
from activities.stripe import StripeHandlers
from activities.warehouse import WarehouseHandlers
from activities.windows import WindowActivities
from canary import catalog
from canary import search_attributes as sa
from canary.models import (
    DiagnoseInput,
    Diagnosis,
    DiagnosisPlan,
    EnrichInput,
    EnrichOutput,
    InvestigateInput,
    Investigation,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    StepInput,
    StepOutput,
)
from canary.models.capabilities import ENRICHERS, LOOKUP_FACTS, require_handlers
from canary.models.detection import Detection
from canary.models.remediation import (
    REPORTED_PEOPLE_FIELDS,
    owner_emails,
    step_attempt_key,
    without_reported_owner,
)
from canary.models.sop import Step
from canary.models.windows import QuietWindows
from canary.settings import MissingSettingError, Settings

R = TypeVar("R")

Enricher = Callable[[Detection], Awaitable[EnrichOutput]]


class InvestigationActivities:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.slack = SlackActivities(services)
        self.steps = StepActivities(services)
        self.windows = WindowActivities(services)
        stripe, salesforce = StripeHandlers(services), SalesforceHandlers(services)
        self.enrichers: Mapping[str, Enricher] = {
            "stripe.invoice": stripe.invoice,
            "stripe.customer": stripe.customer,
            "salesforce.opportunity": salesforce.opportunity,
            "salesforce.account": salesforce.account,
            "salesforce.account_candidates": salesforce.account_candidates,
            "salesforce.deal": salesforce.deal,
            "stripe.deal_payment": stripe.deal_payment,
            "salesforce.contract": salesforce.contract,
            "warehouse.app_account": WarehouseHandlers(services).app_account,
            "canary.signature_count": self.signature_count,
        }
        require_handlers("enricher", self.enrichers, ENRICHERS)

    @activity.defn(name="canary.investigate")
    async def investigate(self, request: InvestigateInput) -> Investigation:
        """Plan, enrich, diagnose and look up the people to alert in one local activity."""
        return await run_investigation(
            request,
            plan=self.plan,
            enrich=self.enrich,
            diagnose=self.diagnose,
            resolve_owner=self.slack.resolve_owner,
            prepare=self.steps.run_step,
            quiet_windows=self.windows.quiet_windows,
        )

    @activity.defn(name="canary.enrich")
    async def enrich(self, request: EnrichInput) -> EnrichOutput:
        enricher = self.enrichers.get(request.enricher)
        if enricher is None:
            raise ApplicationError(f"unknown enricher {request.enricher}", non_retryable=True)
        try:
            return await enricher(request.detection)
        except MissingSettingError as exc:
            raise configuration_error(exc) from exc

    @activity.defn(name="canary.diagnose")
    async def diagnose(self, request: DiagnoseInput) -> Diagnosis:
        settings = self.services.settings
        return catalog.diagnose(
            request.detection,
            request.plan,
            catalog.cached_catalog(settings.catalog_path),
            request.facts,
            diagnosis_env(settings),
        )

    async def plan(self, detection: Detection) -> DiagnosisPlan:
        """The SOP and the lookups a detection needs, from the catalog (pure)."""
        return catalog.plan(detection, catalog.cached_catalog(self.services.settings.catalog_path))

    async def signature_count(self, detection: Detection) -> EnrichOutput:
        """How often this unknown error's signature was seen in the last 7 days, this one
        included, counted in Temporal's visibility store (no extra database)."""
        signature = catalog.unknown_signature(detection.source, detection.message)
        facts: dict[str, Any] = {"signature": signature, "signature_seen": 1}
        temporal = self.services.temporal
        if temporal is None:
            return EnrichOutput(facts=facts)
        since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = f"{sa.SIGNATURE.name} = '{signature}' AND StartTime > '{since}'"
        try:
            counted = await temporal.count_workflows(query)
        except RPCError as exc:
            facts["signature_count_error"] = str(exc)
            return EnrichOutput(facts=facts)
        own = activity.info().workflow_id
        facts["signature_seen"] = counted.count + (0 if own is None else 1)
        return EnrichOutput(facts=facts)


def diagnosis_env(settings: Settings) -> dict[str, Any]:
    """The ``env`` a diagnosis's templates and links see: the link bases of the settings."""
    return {
        "stripe_dashboard": settings.stripe_dashboard_url.rstrip("/"),
        "salesforce_url": (settings.salesforce_instance_url or "").rstrip("/"),
        "temporal_ui": settings.temporal_ui_url.rstrip("/"),
        "link_hosts": list(settings.link_hosts),
    }


async def run_investigation(
    request: InvestigateInput,
    *,
    plan: Callable[[Detection], Awaitable[DiagnosisPlan]],
    enrich: Callable[[EnrichInput], Awaitable[EnrichOutput]],
    diagnose: Callable[[DiagnoseInput], Awaitable[Diagnosis]],
    resolve_owner: Callable[[ResolveOwnerInput], Awaitable[ResolveOwnerOutput]],
    prepare: Callable[[StepInput], Awaitable[StepOutput]] | None = None,
    quiet_windows: Callable[[], Awaitable[QuietWindows]] | None = None,
) -> Investigation:
    """The investigation, composed of the callables given: the real activities pass their
    methods, the tests' fakes theirs."""
    detection = request.detection
    planned = await plan(detection)
    tried = await asyncio.gather(
        *(enrich(EnrichInput(enricher=e, detection=detection)) for e in planned.enrich),
        return_exceptions=True,
    )
    for outcome in tried:
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
    found = Investigation(
        plan=planned,
        enriched=[None if isinstance(t, BaseException) else t for t in tried],
        enrich_errors=[_failure_text(t) if isinstance(t, BaseException) else None for t in tried],
        enrich_final=[isinstance(t, ApplicationError) and t.non_retryable for t in tried],
    )
    if any(e is None for e in found.enriched):
        waits = [
            t.next_retry_delay
            for t in tried
            if isinstance(t, ApplicationError) and t.next_retry_delay is not None
        ]
        found.retry_after = max(waits, default=None)
        return found
    # As the workflow applies them: the source's account wins, lookups fill the gaps. The
    # workflow sends the account and facts it trusts; without them, the report's are used
    # with the people they name taken out (owner_emails takes lookups only, as the workflow's).
    account, facts = request.account, dict(request.facts)
    if account is None:
        account, reported = without_reported_owner(detection)
        detection = detection.model_copy(update={"facts": reported})
        for field in REPORTED_PEOPLE_FIELDS | LOOKUP_FACTS:
            facts.pop(field, None)
    for enriched in found.enriched:
        assert enriched is not None
        facts.update(enriched.facts)
        if enriched.account:
            account = account.filled_from(enriched.account)
    diagnosis = await diagnose(
        DiagnoseInput(
            detection=detection.model_copy(update={"account": account}), plan=planned, facts=facts
        )
    )
    facts.update(diagnosis.facts)
    found.diagnosis = diagnosis
    found.owner_emails = owner_emails(account, facts)
    manager = facts.get("manager_email")
    found.manager_email = str(manager) if manager else None
    # The links the alert will carry, asked for as the workflow would (same input, same
    # idempotency key), while the people are looked up.
    steps: list[Step] = []
    preparing: list[Awaitable[StepOutput | None]] = []
    if prepare is not None and request.prepare_key is not None and not diagnosis.nothing_to_fix:
        subject = detection.model_copy(update={"account": account})
        steps = diagnosis.leading_preparations()
        # A step slower than its own timeout is left to the workflow, which runs it again
        # under the same key (the slow call becomes a replay) instead of holding the alert.
        preparing = [
            _once(
                asyncio.wait_for(
                    prepare(
                        StepInput(
                            workflow_id=request.workflow_id or "",
                            step=step,
                            detection=subject,
                            attempt_key=step_attempt_key(request.prepare_key, step.id, 1),
                            facts=facts,
                        )
                    ),
                    request.step_timeout_seconds,
                )
            )
            for step in steps
        ]
    people = asyncio.gather(
        _once(resolve_owner(ResolveOwnerInput(emails=found.owner_emails)))
        if found.owner_emails
        else _nothing(),
        _once(resolve_owner(ResolveOwnerInput(emails=[found.manager_email])))
        if found.manager_email
        else _nothing(),
    )
    # The quiet windows open now, for the first alert this same task makes: one local
    # activity fewer before it.
    windows = _once(quiet_windows()) if quiet_windows is not None else _nothing()
    (owner, boss), prepared, found.windows = await asyncio.gather(
        people, asyncio.gather(*preparing), windows
    )
    found.owner, found.manager = owner, boss
    found.prepared = {
        step.id: result
        for step, result in zip(steps, prepared, strict=True)
        if isinstance(result, StepOutput)
    }
    return found


async def _once(call: Awaitable[R]) -> R | None:
    try:
        return await call
    except Exception:  # noqa: BLE001 - the workflow looks it up again, with retries
        return None


async def _nothing() -> None:
    return None


def _failure_text(error: BaseException) -> str:
    if isinstance(error, ApplicationError):
        return error.message
    return str(error) or type(error).__name__
