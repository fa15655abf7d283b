"""Activities of the remediation workflow."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any, TypeVar

import httpx
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.crm import CrmActivities
from activities.investigation import investigate
from activities.reports import ReportSteps
from canary import search_attributes as sa
from canary.adapters import (
    PaymentDeclined,
    PermanentError,
    SlackAdapter,
    StripeAdapter,
    TransientError,
    format_amount,
)
from canary.adapters.salesforce_adapter import SalesforceAdapter
from canary.blocks import thread_blocks
from canary.catalog import (
    build_context,
    cached_catalog,
    diagnose,
    plan,
    render,
    unknown_signature,
)
from canary.models import (
    AccountRef,
    Detection,
    DiagnoseInput,
    Diagnosis,
    DiagnosisPlan,
    EnrichInput,
    EnrichOutput,
    InvestigateInput,
    Investigation,
    Link,
    ResolveGroupsInput,
    ResolveGroupsOutput,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    SlackMessageInput,
    SlackMessageOutput,
    StepInput,
    StepOutput,
)
from canary.settings import MissingSettingError, Settings, get_settings
from canary.telemetry import span

T = TypeVar("T")


def idempotency_key(attempt_key: str) -> str:
    """Stripe keys are at most 255 characters; long workflow ids are hashed, not truncated."""
    key = f"canary/{attempt_key}"
    if len(key) <= 255:
        return key
    return "canary/" + hashlib.sha256(attempt_key.encode()).hexdigest()


def _to_application_error(exc: Exception) -> ApplicationError:
    if isinstance(exc, TransientError):
        delay = timedelta(seconds=exc.retry_after) if exc.retry_after else None
        return ApplicationError(str(exc), type=f"{exc.service}.transient", next_retry_delay=delay)
    if isinstance(exc, PermanentError):
        return ApplicationError(
            str(exc),
            {"code": exc.code},
            type=f"{exc.service}.{exc.code or 'permanent'}",
            non_retryable=True,
        )
    raise exc


async def _run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking SDK call off the event loop, translating adapter errors."""
    # One span per outside call (Stripe, Slack, Salesforce), a child of the activity's span;
    # to_thread copies the context, so the SDK's own HTTP spans (if any) nest under it.
    name = getattr(fn, "__qualname__", getattr(fn, "__name__", "call"))
    with span(f"canary.{name}"):
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except (TransientError, PermanentError) as exc:
            raise _to_application_error(exc) from exc


def _configuration_error(exc: MissingSettingError) -> ApplicationError:
    # Retrying cannot conjure a setting: fail the step now, with the variable's name.
    return ApplicationError(str(exc), type="canary.missing_setting", non_retryable=True)


class RemediationActivities(CrmActivities, ReportSteps):
    """Activities bound to adapters built lazily from settings (tests pass their own)."""

    def __init__(
        self,
        settings: Settings | None = None,
        stripe: StripeAdapter | None = None,
        slack: SlackAdapter | None = None,
        salesforce: SalesforceAdapter | None = None,
        temporal: Client | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self._stripe = stripe
        self._slack = slack
        self._salesforce = salesforce
        self.temporal = temporal

    async def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await _run(fn, *args, **kwargs)

    @cached_property
    def salesforce(self) -> SalesforceAdapter:  # type: ignore[override]
        if self._salesforce is None:
            self._salesforce = SalesforceAdapter.from_settings(self.settings)
        return self._salesforce

    @cached_property
    def stripe(self) -> StripeAdapter:
        if self._stripe is None:
            key = self.settings.require("stripe_api_key", "to read invoices and retry payments")
            self._stripe = StripeAdapter(key, self.settings.stripe_api_base)
        return self._stripe

    @cached_property
    def slack(self) -> SlackAdapter:
        if self._slack is None:
            token = self.settings.require("slack_bot_token", "to post alerts to Slack")
            self._slack = SlackAdapter(token, self.settings.slack_api_url)
        return self._slack

    def link_bases(self) -> dict[str, Any]:
        return {
            "stripe_dashboard": self.settings.stripe_dashboard_url.rstrip("/"),
            "salesforce_url": (self.settings.salesforce_instance_url or "").rstrip("/"),
            "temporal_ui": self.settings.temporal_ui_url.rstrip("/"),
        }

    # -- diagnosis ------------------------------------------------------------------------

    @activity.defn(name="canary.plan_diagnosis")
    async def plan_diagnosis(self, detection: Detection) -> DiagnosisPlan:
        return plan(detection, cached_catalog(self.settings.catalog_path))

    @activity.defn(name="canary.enrich")
    async def enrich(self, request: EnrichInput) -> EnrichOutput:
        handler = {
            "stripe.invoice": self._enrich_invoice,
            "stripe.customer": self._enrich_customer,
            "salesforce.opportunity": self.enrich_opportunity,
            "salesforce.account": self.enrich_account,
            "salesforce.account_candidates": self.enrich_candidates,
            "canary.signature_count": self._signature_count,
        }.get(request.enricher)
        if handler is None:
            raise ApplicationError(f"unknown enricher {request.enricher}", non_retryable=True)
        try:
            return await handler(request.detection)
        except MissingSettingError as exc:
            raise _configuration_error(exc) from exc

    @activity.defn(name="canary.investigate")
    async def investigate(self, request: InvestigateInput) -> Investigation:
        """Plan, enrich, diagnose and look up the people to alert in one local activity (see
        :mod:`activities.investigation`)."""
        return await investigate(
            request,
            plan=self.plan_diagnosis,
            enrich=self.enrich,
            diagnose=self.diagnose,
            resolve_owner=self.resolve_owner,
            resolve_groups=self.resolve_groups,
            prepare=self.run_step,
        )

    async def _signature_count(self, detection: Detection) -> EnrichOutput:
        """How often this unknown error's signature was seen in the last 7 days, this one
        included, counted in Temporal's visibility store (no extra database)."""
        signature = unknown_signature(detection.source, detection.message)
        facts: dict[str, Any] = {"signature": signature, "signature_seen": 1}
        if self.temporal is None:
            return EnrichOutput(facts=facts)
        since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        query = f"{sa.SIGNATURE.name} = '{signature}' AND StartTime > '{since}'"
        try:
            counted = await self.temporal.count_workflows(query)
        except RPCError as exc:
            facts["signature_count_error"] = str(exc)
            return EnrichOutput(facts=facts)
        own = activity.info().workflow_id
        facts["signature_seen"] = counted.count + (0 if own is None else 1)
        return EnrichOutput(facts=facts)

    async def _enrich_invoice(self, detection: Detection) -> EnrichOutput:
        """The invoice, its customer and (without a decline code) its payment intent, read in
        one call; a detection that names no invoice but a customer reads the customer."""
        invoice_id = _invoice_id(detection)
        if not invoice_id:
            if _customer_id(detection):
                return await self._enrich_customer(detection)
            return EnrichOutput(facts={"invoice_lookup": "no invoice on this detection"})
        # Without a decline code, why it failed is on the payment intent.
        needs_intent = not detection.facts.get("decline_code")
        expand = ["customer", "payment_intent"] if needs_intent else ["customer"]
        invoice = await _run(self.stripe.invoice, invoice_id, expand)
        customer = invoice.get("customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else customer
        facts = {
            "invoice_id": invoice.get("id"),
            "invoice_number": invoice.get("number") or invoice.get("id"),
            "invoice_status": invoice.get("status"),
            "amount_due": invoice.get("amount_due"),
            "amount_remaining": invoice.get("amount_remaining"),
            "currency": invoice.get("currency"),
            "amount_display": format_amount(
                invoice.get("amount_remaining", invoice.get("amount_due")), invoice.get("currency")
            ),
            "attempt_count": invoice.get("attempt_count"),
            "hosted_invoice_url": invoice.get("hosted_invoice_url"),
            "customer_id": customer_id,
            "customer_email": invoice.get("customer_email"),
        }
        if needs_intent:
            facts.update(await self._last_payment_error(invoice))
        account = AccountRef(stripe_customer_id=customer_id, name=invoice.get("customer_name"))
        found = EnrichOutput(
            facts={k: v for k, v in facts.items() if v is not None}, account=account
        )
        if isinstance(customer, dict) and not customer.get("deleted"):
            # The customer's own record knows more (its CRM account, its owner, its domain).
            known = _customer_facts(customer)
            assert known.account is not None
            found.facts.update(known.facts)
            found.account = known.account.filled_from(account)
        return found

    async def _last_payment_error(self, invoice: dict[str, Any]) -> dict[str, Any]:
        """Why the last attempt failed, from the invoice's payment intent.

        Older API versions link it as ``invoice.payment_intent``; newer ones list it under
        ``invoice.payments``. Either way the decline code lives on the payment intent.
        """
        intent = invoice.get("payment_intent")
        if not intent:
            for payment in (invoice.get("payments") or {}).get("data", []):
                intent = (payment.get("payment") or {}).get("payment_intent")
                if intent:
                    break
        if not intent:
            return {}
        # Expanded with the invoice (one call), or only its id: then read it.
        found = intent if isinstance(intent, dict) else await _run(
            self.stripe.payment_intent, str(intent)
        )
        error = found.get("last_payment_error") or {}
        facts = {
            "payment_intent_id": found.get("id"),
            "decline_code": error.get("decline_code"),
            "error_code": error.get("code"),
            "decline_message": error.get("message"),
        }
        return {k: v for k, v in facts.items() if v}

    async def _enrich_customer(self, detection: Detection) -> EnrichOutput:
        customer_id = _customer_id(detection)
        if not customer_id:
            return EnrichOutput(facts={"customer_lookup": "no Stripe customer on this detection"})
        return _customer_facts(await _run(self.stripe.customer, customer_id))

    @activity.defn(name="canary.diagnose")
    async def diagnose(self, request: DiagnoseInput) -> Diagnosis:
        return diagnose(
            request.detection,
            request.plan,
            cached_catalog(self.settings.catalog_path),
            request.facts,
            self.link_bases(),
        )

    # -- automated and human-triggered steps ------------------------------------------------

    @activity.defn(name="canary.run_step")
    async def run_step(self, request: StepInput) -> StepOutput:
        handlers = {
            "stripe.retry_payment": self._retry_payment,
            "stripe.hosted_invoice_link": self._hosted_invoice_link,
            "stripe.billing_portal_link": self._billing_portal_link,
            "stripe.check_invoice_paid": self._check_invoice_paid,
            "stripe.find_deal_payment": self._find_deal_payment,
            "slack.notify_finance": self._notify_finance,
            "slack.notify_channel": self._notify_channel,
            "source.retry": self._source_retry,
            "salesforce.mark_closed_won": self.mark_closed_won,
            "salesforce.check_opportunity": self.check_opportunity,
            "salesforce.link_account": self.link_account,
            "salesforce.create_account": self.create_account,
            "salesforce.create_task": self.create_task,
            "report.send": self.send_report,
            "salesforce.fast_track_case": self.fast_track_case,
        }
        handler = handlers.get(request.step.action)
        if handler is None:
            raise ApplicationError(
                f"no handler for step action {request.step.action}", non_retryable=True
            )
        try:
            return await handler(request)
        except MissingSettingError as exc:
            raise _configuration_error(exc) from exc

    async def _notify_channel(self, request: StepInput) -> StepOutput:
        channel = str(request.step.params.get("channel") or self.settings.escalation_channel)
        context = build_context(request.detection, request.facts)
        text = render(str(request.step.params.get("text") or request.step.title), context)
        await _run(self.slack.post, channel, text, None, None, f"{request.attempt_key}/notify")
        return StepOutput(ok=True, text=f"Posted to {channel}.")

    async def _retry_payment(self, request: StepInput) -> StepOutput:
        invoice_id = _invoice_id(request.detection, request.facts)
        if not invoice_id:
            raise ApplicationError("no invoice to retry on this remediation", non_retryable=True)
        key = idempotency_key(request.attempt_key)
        try:
            invoice = await asyncio.to_thread(self.stripe.pay_invoice, invoice_id, key)
        except PaymentDeclined as declined:
            return StepOutput(
                ok=False,
                text=f"Stripe declined the retry: {declined.message}"
                + (f" (decline code `{declined.decline_code}`)" if declined.decline_code else ""),
                error_code=declined.decline_code or declined.code,
                facts={"last_retry_decline_code": declined.decline_code},
            )
        except PermanentError as exc:
            if "already paid" in exc.detail.lower():
                return StepOutput(ok=True, resolved=True, text="The invoice was already paid.")
            raise _to_application_error(exc) from exc
        except TransientError as exc:
            raise _to_application_error(exc) from exc
        paid = invoice.get("status") == "paid"
        amount = format_amount(invoice.get("amount_paid"), invoice.get("currency"))
        return StepOutput(
            ok=paid,
            resolved=paid,
            text=f"Payment retried: {amount} collected."
            if paid
            else f"Payment retried; invoice is {invoice.get('status')}.",
            facts={"invoice_status": invoice.get("status"), "idempotency_key": key},
        )

    async def _hosted_invoice_link(self, request: StepInput) -> StepOutput:
        invoice_id = _invoice_id(request.detection, request.facts)
        url = request.facts.get("hosted_invoice_url")
        if not url and invoice_id:
            invoice = await _run(self.stripe.invoice, invoice_id)
            url = invoice.get("hosted_invoice_url")
        if not url:
            return StepOutput(ok=False, text="Stripe has no hosted page for this invoice.")
        return StepOutput(
            ok=True,
            text="Hosted invoice page ready for the payer.",
            links=[Link(label="Hosted invoice page (send to the payer)", url=str(url))],
        )

    async def _billing_portal_link(self, request: StepInput) -> StepOutput:
        customer = request.facts.get("customer_id") or request.detection.account.stripe_customer_id
        if not customer:
            return StepOutput(ok=False, text="No Stripe customer to create a card-update link for.")
        url = await _run(
            self.stripe.billing_portal_link,
            str(customer),
            request.facts.get("hosted_invoice_url"),
            idempotency_key(request.attempt_key),
        )
        return StepOutput(
            ok=True,
            text="Card-update link created for the customer.",
            links=[Link(label="Card-update link (billing portal)", url=url)],
        )

    async def _check_invoice_paid(self, request: StepInput) -> StepOutput:
        invoice_id = _invoice_id(request.detection, request.facts)
        if not invoice_id:
            return StepOutput(ok=False, text="No invoice to check.")
        invoice = await _run(self.stripe.invoice, invoice_id)
        paid = invoice.get("status") == "paid"
        return StepOutput(ok=True, resolved=paid, text=f"Invoice is {invoice.get('status')}.")

    async def _find_deal_payment(self, request: StepInput) -> StepOutput:
        """Look in Stripe again for the payment of a Closed Won deal (same judgement as the
        pipeline sweep that raised it)."""
        from canary.rules.pipeline import payment_for_deal

        customer = request.facts.get("stripe_customer") or (
            request.detection.account.stripe_customer_id
        )
        if not customer:
            return StepOutput(
                ok=False,
                text="The account has no Stripe customer yet: create the customer and invoice "
                "in Stripe (or link the right customer in Salesforce), then check again.",
            )
        invoices = await _run(self.stripe.customer_invoices, str(customer))
        closed = request.facts.get("opportunity_close_date")
        paid, unpaid = payment_for_deal(
            str(request.facts.get("opportunity_id") or request.detection.subject.id),
            date.fromisoformat(str(closed)[:10]) if closed else date.min,
            request.facts.get("stripe_invoice_id"),
            invoices,
            int(request.facts.get("paid_before_close_days") or 0),
        )
        if paid is not None:
            amount = format_amount(paid.get("amount_paid"), paid.get("currency"))
            return StepOutput(
                ok=True,
                resolved=True,
                text=f"Stripe shows invoice {paid['id']} paid ({amount}).",
                facts={"invoice_id": paid["id"], "invoice_status": "paid"},
            )
        return StepOutput(
            ok=False,
            text=f"Still no payment in Stripe for {customer}"
            + (f"; {len(unpaid)} invoice(s) open." if unpaid else "; no open invoice either."),
        )

    async def _notify_finance(self, request: StepInput) -> StepOutput:
        channel = str(request.step.params.get("channel", "#finance"))
        text = (
            f":warning: Suspected fraudulent card on {request.detection.account.label()} "
            f"(invoice {_invoice_id(request.detection, request.facts) or 'n/a'}). Canary will not "
            f"retry it; please review the customer."
        )
        await _run(self.slack.post, channel, text, None, None, f"{request.attempt_key}/finance")
        return StepOutput(ok=True, text=f"Finance told in {channel}.")

    async def _source_retry(self, request: StepInput) -> StepOutput:
        url = request.facts.get("retry_url") or request.detection.facts.get("retry_url")
        if not url:
            return StepOutput(
                ok=False,
                text=f"{request.detection.source} gave no retry URL: retry it there, then press "
                "Mark resolved.",
            )
        try:
            async with httpx.AsyncClient(timeout=15) as http:
                response = await http.post(
                    str(url),
                    json={"detection_id": request.detection.id, "workflow_id": request.workflow_id},
                    headers={"Idempotency-Key": idempotency_key(request.attempt_key)},
                )
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"retry URL unreachable: {exc}", type="source.transient"
            ) from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise ApplicationError(
                f"retry URL answered {response.status_code}", type="source.transient"
            )
        ok = response.status_code < 300
        return StepOutput(
            ok=ok,
            resolved=ok,
            text=f"{request.detection.source} accepted the retry."
            if ok
            else f"{request.detection.source} refused the retry ({response.status_code}).",
        )

    # -- Slack ---------------------------------------------------------------------------------

    @activity.defn(name="canary.post_slack")
    async def post_slack(self, request: SlackMessageInput) -> SlackMessageOutput:
        """Post (or, with ``ts``, update) a message. Retries never post twice: a post carries
        a metadata key and, on a retried attempt (or when asked to look first), the channel
        is searched for it first."""
        slack = self.slack
        if request.ts:
            await _run(slack.update, request.channel, request.ts, request.text, request.blocks)
            channel_id = await _run(slack.channel_id, request.channel)
            return SlackMessageOutput(channel=channel_id, ts=request.ts)
        retried = activity.info().attempt > 1 or request.look_first
        existing = None
        if request.metadata_key and retried:
            existing = await _run(
                slack.find_by_metadata,
                request.channel,
                request.metadata_key,
                thread_ts=request.thread_ts,
            )
        if existing:
            channel_id, ts = await _run(slack.channel_id, request.channel), existing
        else:
            channel_id, ts = await _run(
                slack.post,
                request.channel,
                request.text,
                request.blocks,
                request.thread_ts,
                request.metadata_key,
            )
        # A retried attempt may have posted before failing on the permalink: fetch it here
        # too, or the escalations lose their link to the alert.
        permalink = None
        if not request.thread_ts and request.permalink:
            permalink = await _run(slack.permalink, channel_id, ts)
        reply = None
        if request.thread_text:
            if request.thread_metadata_key and retried:
                reply = await _run(
                    slack.find_by_metadata, channel_id, request.thread_metadata_key, thread_ts=ts
                )
            if reply is None:
                _, reply = await _run(
                    slack.post,
                    channel_id,
                    request.thread_text,
                    thread_blocks(request.thread_text),
                    ts,
                    request.thread_metadata_key,
                )
        return SlackMessageOutput(channel=channel_id, ts=ts, permalink=permalink, thread_ts=reply)

    @activity.defn(name="canary.resolve_owner")
    async def resolve_owner(self, request: ResolveOwnerInput) -> ResolveOwnerOutput:
        for email in request.emails:
            user = await _run(self.slack.user_by_email, email)
            if user:
                return ResolveOwnerOutput(
                    slack_user=user.get("id"),
                    email=email,
                    name=user.get("real_name") or user.get("name"),
                )
        return ResolveOwnerOutput()

    @activity.defn(name="canary.resolve_groups")
    async def resolve_groups(self, request: ResolveGroupsInput) -> ResolveGroupsOutput:
        members: dict[str, list[str]] = {}
        for group in request.groups:
            members[group] = await _run(self.slack.usergroup_members, group)
        return ResolveGroupsOutput(members=members)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.plan_diagnosis,
            self.enrich,
            self.investigate,
            self.diagnose,
            self.run_step,
            self.post_slack,
            self.resolve_owner,
            self.resolve_groups,
        ]


ACTIVITY_NAMES = (
    "canary.plan_diagnosis",
    "canary.enrich",
    "canary.diagnose",
    "canary.run_step",
    "canary.post_slack",
    "canary.resolve_owner",
    "canary.resolve_groups",
)


def _customer_id(detection: Detection) -> str | None:
    found = detection.account.stripe_customer_id or detection.facts.get("customer_id")
    return str(found) if found else None


def _customer_facts(customer: dict[str, Any]) -> EnrichOutput:
    """What a Stripe customer tells about its account: the CRM account, owner and domain its
    metadata names, its billing e-mail and name."""
    metadata = customer.get("metadata") or {}
    domain = None
    if customer.get("email") and "@" in customer["email"]:
        domain = customer["email"].split("@", 1)[1]
    account = AccountRef(
        stripe_customer_id=customer.get("id"),
        name=customer.get("name"),
        domain=metadata.get("domain") or domain,
        crm_id=metadata.get("salesforce_account_id") or metadata.get("crm_id"),
        app_account_id=metadata.get("app_account_id"),
        owner_email=metadata.get("owner_email"),
    )
    facts = {"customer_email": customer.get("email"), "customer_name": customer.get("name")}
    return EnrichOutput(facts={k: v for k, v in facts.items() if v}, account=account)


def _invoice_id(detection: Detection, facts: dict[str, Any] | None = None) -> str | None:
    if detection.subject.kind == "invoice":
        return detection.subject.id
    for source in (facts or {}, detection.facts):
        if source.get("invoice_id"):
            return str(source["invoice_id"])
    return None
