"""Same-name fake activities for workflow-logic tests (the real ones are tested against the
sandbox). They record every call so tests assert on what the workflow asked for."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from activities.investigate import run_investigation
from canary.blocks import thread_blocks
from canary.catalog import diagnose, load_catalog, plan
from canary.models import (
    AccountRef,
    AlertInput,
    Detection,
    DiagnoseInput,
    Diagnosis,
    DiagnosisPlan,
    EnrichInput,
    EnrichOutput,
    EscalationInput,
    EscalationOutput,
    InvestigateInput,
    Investigation,
    Link,
    QuietWindow,
    QuietWindows,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    SlackMessageInput,
    SlackMessageOutput,
    SlackRef,
    StepInput,
    StepOutput,
)
from canary.models.detectors import DigestAddInput, DigestAddOutput, EmailInput, EmailOutput
from canary.models.home import HomeChanged

CATALOG = load_catalog()


@dataclass
class FakeServices:
    pay_results: list[bool] = field(default_factory=list)  # next retry outcomes; default decline
    owner: str | None = "U0ALICE"
    owner_email: str | None = "alice@acme-gtm.example"
    groups: dict[str, list[str]] = field(default_factory=lambda: {"revops": ["U0DAN"]})
    steps: list[StepInput] = field(default_factory=list)
    posts: list[SlackMessageInput] = field(default_factory=list)
    charges: set[str] = field(default_factory=set)
    # Called after a successful charge, before the step answers: Stripe's invoice.paid webhook
    # racing the activity's own result.
    on_charge: Any = None
    # Awaited with each step request before it answers (hold a click's fix "in flight").
    on_step: Any = None
    # Awaited with each Slack request before it answers (something arriving mid-post).
    on_post: Any = None
    diagnoses: int = 0  # runs of the canary.diagnose activity (not inside an investigation)
    # Actions whose success resolves, as the real report.send / Salesforce writes do.
    resolving: set[str] = field(default_factory=set)
    digests: list[DigestAddInput] = field(default_factory=list)
    emails: list[EmailInput] = field(default_factory=list)
    # What the systems of record answer, per enricher, besides the defaults below: the
    # verdicts (won, candidates …) a report may not establish by itself.
    lookups: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The quiet windows open now, as Temporal's visibility would list them.
    windows: list[QuietWindow] = field(default_factory=list)
    # How the investigation reads the windows (default: quiet_windows, the fake's listing).
    read_windows: Any = None
    # What the remediations told the worker of their Homes.
    home_changes: list[HomeChanged] = field(default_factory=list)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    # The messages posted, by metadata key: what a post that looks first finds, as Slack's
    # search by metadata finds a post its earlier try made.
    _posted: dict[str, SlackMessageOutput] = field(default_factory=dict)

    async def plan_diagnosis(self, detection: Detection) -> DiagnosisPlan:
        """The investigation's plan (not an activity: it plans by itself)."""
        return plan(detection, CATALOG)

    @activity.defn(name="canary.enrich")
    async def enrich(self, request: EnrichInput) -> EnrichOutput:
        found = self._enrich(request)
        found.facts.update(self.lookups.get(request.enricher, {}))
        return found

    def _enrich(self, request: EnrichInput) -> EnrichOutput:
        if request.enricher == "stripe.invoice":
            # The Stripe customer's metadata names the owner, as the sandbox's seeds do: the
            # system of record, which is where a remediation's owner comes from.
            return EnrichOutput(
                facts={
                    "amount_display": "$4,800.00",
                    "invoice_number": "INV-1",
                    "attempt_count": 1,
                },
                account=AccountRef(owner_email=self.owner_email),
            )
        if request.enricher == "salesforce.opportunity":
            # Found, with its owner, as the sandbox's Salesforce answers the lookup.
            return EnrichOutput(
                facts={"opportunity_found": True},
                account=AccountRef(owner_email=self.owner_email),
            )
        if request.enricher == "salesforce.deal":
            # Answered, with no committed deal or named segment behind the payment.
            return EnrichOutput(facts={"deal_checked": True, "deal_account_found": False})
        return EnrichOutput(facts={})

    @activity.defn(name="canary.quiet_windows")
    async def quiet_windows(self) -> QuietWindows:
        return QuietWindows(windows=list(self.windows))

    @activity.defn(name="canary.home_changed")
    async def home_changed(self, change: HomeChanged) -> None:
        self.home_changes.append(change)

    @activity.defn(name="canary.diagnose")
    async def diagnose(self, request: DiagnoseInput) -> Diagnosis:
        if activity.info().activity_type == "canary.diagnose":
            self.diagnoses += 1
        return diagnose(
            request.detection,
            request.plan,
            CATALOG,
            request.facts,
            {"stripe_dashboard": "https://dashboard.stripe.com/test"},
        )

    @activity.defn(name="canary.investigate")
    async def investigate(self, request: InvestigateInput) -> Investigation:
        return await run_investigation(
            request,
            plan=self.plan_diagnosis,
            enrich=self.enrich,
            diagnose=self.diagnose,
            resolve_owner=self.resolve_owner,
            prepare=self.run_step,
            quiet_windows=self.read_windows or self.quiet_windows,
        )

    @activity.defn(name="canary.run_step")
    async def run_step(self, request: StepInput) -> StepOutput:
        self.steps.append(request)
        if self.on_step is not None:
            await self.on_step(request)
        if request.step.action == "stripe.retry_payment":
            ok = self.pay_results.pop(0) if self.pay_results else False
            if ok:
                self.charges.add(request.attempt_key)
                if self.on_charge is not None:
                    await self.on_charge(request)
                return StepOutput(ok=True, resolved=True, text="Payment retried: collected.")
            return StepOutput(
                ok=False,
                text="Stripe declined the retry: insufficient funds",
                error_code="insufficient_funds",
            )
        return StepOutput(
            ok=True,
            resolved=request.step.action in self.resolving,
            text=f"{request.step.title} done",
            links=[Link(label="Hosted invoice page", url="http://x/hosted")],
        )

    @activity.defn(name="canary.post_slack")
    async def post_slack(self, request: SlackMessageInput) -> SlackMessageOutput:
        key = request.metadata_key
        earlier = self._posted.get(key) if key and request.look_first and not request.ts else None
        if earlier is not None:
            return earlier.model_copy(update={"found_earlier": True})
        self.posts.append(request)
        if self.on_post is not None:
            await self.on_post(request)
        ts = request.ts or f"1700000000.{next(self._ts):06d}"
        reply = None
        if request.thread_text:
            # The first thread reply rides with a new alert; kept as the message Slack shows.
            self.posts.append(
                SlackMessageInput(
                    workflow_id=request.workflow_id,
                    channel="C0GTMALERTS",
                    text=request.thread_text,
                    blocks=thread_blocks(request.thread_text),
                    thread_ts=ts,
                    metadata_key=request.thread_metadata_key,
                )
            )
            reply = f"1700000000.{next(self._ts):06d}"
        posted = SlackMessageOutput(channel="C0GTMALERTS", ts=ts, thread_ts=reply)
        if key and not request.ts:
            self._posted[key] = posted
        return posted

    @activity.defn(name="canary.post_alert")
    async def post_alert(self, request: AlertInput) -> SlackMessageOutput:
        # The Home change rides with the alert, as with the worker's Slack activities: an
        # update's told first, a first post's once posted, with the alert's ref in its entry.
        message, home = request.message, request.home
        if home is not None and message.ts is not None:
            self.home_changes.append(home)
        posted = await self.post_slack(message)
        if home is not None and message.ts is None:
            alert = SlackRef(channel=posted.channel, ts=posted.ts, permalink=posted.permalink)
            self.home_changes.append(home.with_alert(alert))
        return posted

    @activity.defn(name="canary.post_escalation")
    async def post_escalation(self, request: EscalationInput) -> EscalationOutput:
        # The Home change rides with the escalation, as with the worker's Slack activities.
        if request.home is not None:
            self.home_changes.append(request.home)
        # Through post_slack, so a subclass's (a scenario's permalinks) shows here too.
        update = await self.post_slack(request.update)
        if request.post is None:
            return EscalationOutput(update=update)
        return EscalationOutput(update=update, post=await self.post_slack(request.post))

    @activity.defn(name="canary.resolve_owner")
    async def resolve_owner(self, request: ResolveOwnerInput) -> ResolveOwnerOutput:
        return ResolveOwnerOutput(slack_user=self.owner, email=request.emails[0], name="Alice")

    @activity.defn(name="canary.digest_add")
    async def digest_add(self, request: DigestAddInput) -> DigestAddOutput:
        self.digests.append(request)
        return DigestAddOutput(digest_id=f"digest:{request.digest.owner}")

    @activity.defn(name="canary.send_email")
    async def send_email(self, request: EmailInput) -> EmailOutput:
        self.emails.append(request)
        return EmailOutput(message_id=f"<{request.message_id_key}@canary>", accepted=request.to)

    def alerting(self) -> list[Any]:
        """The digest and e-mail activities, for tests that do not run the real ones."""
        return [self.digest_add, self.send_email]

    def all(self) -> list[Any]:
        return [
            self.enrich,
            self.investigate,
            self.diagnose,
            self.run_step,
            self.post_slack,
            self.post_alert,
            self.post_escalation,
            self.resolve_owner,
            self.quiet_windows,
            self.home_changed,
        ]
