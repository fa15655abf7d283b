"""Diagnosis, timeline, status and resolution record: what a remediation knows and leaves."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import getaddresses
from typing import Any, Literal

from pydantic import BaseModel, Field

from canary.models.capabilities import LOOKUP_FACTS
from canary.models.detection import AccountRef, Detection, Link, Subject
from canary.models.sop import Alerting, EscalationStep, HumanAction, Resolution, Severity, Step
from canary.models.windows import QuietWindows
from canary.recovery.plans import RetryPlan

#: Events in one run's history before it continues as new. Temporal suggests continuing at
#: about 4K events and refuses a history at 50K; a remediation's story (its timeline) is
#: carried over whole, so one run never needs to grow far.
HISTORY_EVENT_LIMIT = 2000

State = Literal[
    "diagnosing", "remediating", "awaiting_human", "escalated", "resolved", "dismissed", "failed"
]
Outcome = Literal[
    "auto_resolved", "resolved_by_human", "resolved_externally", "dismissed", "expired"
]
OPEN_STATES: frozenset[str] = frozenset(
    {"diagnosing", "remediating", "awaiting_human", "escalated"}
)
#: The error type of a failed payment: its remediations carry a PaymentRecovery.
PAYMENT_FAILED = "payment_failed"
#: What recovered a failed payment (Recurly's ``recovery_reason`` has the same idea): a
#: scheduled retry, the retry a new card started, the payer paying on the hosted invoice page,
#: a person's retry; or nobody, when it was written off.
RecoveredBy = Literal[
    "scheduled_retry", "card_update_retry", "hosted_page", "person_retry", "written_off"
]
#: The RecoveredBy values that brought money in (all but written_off).
RECOVERIES: tuple[RecoveredBy, ...] = (
    "scheduled_retry",
    "card_update_retry",
    "hosted_page",
    "person_retry",
)
#: What a timeline entry records. Reports read these names (canary/reports).
TimelineKind = Literal[
    "detected",
    "diagnosed",
    "enrich_failed",
    "owner",
    "owner_reported",
    "quiet",
    "muted",
    "recovered",
    "owner_lookup_failed",
    "manager",
    "manager_lookup_failed",
    "state",
    "step_started",
    "step_succeeded",
    "step_failed",
    "held",
    "notified",
    "slack_failed",
    "digested",
    "digest_failed",
    "emailed",
    "email_skipped",
    "email_failed",
    "escalated",
    "human_action",
    "action_refused",
    "snoozed",
    "occurrence",
    "suppressed",
    "external",
    "closed",
    "cooldown",
    "continued",
]


class DiagnosisStep(BaseModel):
    """One check the diagnosis made, in order, and whether it matched."""

    id: str
    title: str
    matched: bool
    detail: str = ""
    verdict: Literal["passed", "failed", "unanswered"] | None = Field(
        None,
        description="A confirming check's result (None for the other steps): unanswered "
        "when the lookup it reads failed, so nothing is known either way.",
    )
    evidence: str = Field("", description="A confirming check's finding, as the alert says it.")


class DiagnosisPlan(BaseModel):
    """First half of diagnosis: which SOP applies and what to look up before deciding."""

    error_type: str = Field(
        description="The SOP the report names or its shape suggests (the remediation's id is "
        "made of it); with candidates, the diagnosis decides the type once they are checked."
    )
    catalog_version: str
    enrich: list[str] = Field(default_factory=list)
    steps: list[DiagnosisStep] = Field(default_factory=list)
    candidates: list[str] = Field(
        default_factory=list,
        description="SOPs the report matched by its shape, in catalog order, each named only "
        "once its confirming checks pass (the last may have none); none of them: unknown.",
    )


class DunningCue(BaseModel):
    """When the catalog's dunning e-mail ``email`` goes to the payer: once the plan's retry
    ``after_attempt`` failed, or ``day`` days after the first failure."""

    email: str
    after_attempt: int | None = None
    day: int | None = None


class Diagnosis(BaseModel):
    """Everything the workflow needs to run the remediation, pinned at diagnosis time.

    The SOP's steps, actions and ladder are copied in here (and so into history), which is
    what keeps a running or replayed remediation deterministic when the catalog changes.
    """

    error_type: str
    catalog_version: str
    title: str
    branch: str | None = None
    severity: Severity
    steps: list[DiagnosisStep]
    headline: str
    summary: str
    what_to_do: str
    investigate: list[Link] = Field(default_factory=list)
    automated: list[Step] = Field(default_factory=list)
    actions: list[HumanAction] = Field(default_factory=list)
    escalation: list[EscalationStep] = Field(default_factory=list)
    resolution: Resolution = Field(default_factory=Resolution)
    decline_class: str | None = Field(
        None, description="A failed payment's decline class (soft, card_must_change, hard)."
    )
    retry_plan: RetryPlan | None = Field(
        None, description="The recovery plan its payment is retried on, pinned here."
    )
    quiet_while_retrying: bool = Field(
        False,
        description="Nobody is pinged while the plan has retries ahead (the SOP's alerting "
        "says so and its loud_when did not match).",
    )
    dunning: list[DunningCue] = Field(
        default_factory=list, description="The payer's e-mails on the plan's schedule, pinned."
    )
    facts: dict[str, Any] = Field(default_factory=dict)
    signature: str | None = Field(None, description="Stable signature of an unknown error.")
    nothing_to_fix: bool = False
    evidence: str | None = Field(
        None,
        description='What the confirming checks found, one line per SOP tried ("Checked: '
        "product account exists; no Salesforce account carries it.\"); also the summary's "
        "last line.",
    )
    # Defaulted so diagnoses recorded before alerting existed replay unchanged.
    alerting: Alerting = Field(default_factory=Alerting)

    def leading_preparations(self) -> list[Step]:
        """The immediate steps up to the first that does more than prepare a link: what a new
        remediation's investigation may run before the workflow takes over."""
        leading: list[Step] = []
        for step in self.automated:
            if step.after is not None:
                continue
            if not step.prepares_only:
                break
            leading.append(step)
        return leading


def step_attempt_key(prefix: str, step_id: str, run: int) -> str:
    """A step run's attempt key, which its idempotency keys derive from: the remediation's
    key prefix (workflow id / first run id), the step, and which run of the step it is."""
    return f"{prefix}/{step_id}/{run}"


#: Where a report may name an owner: kept as reported, never trusted (see ``reported_owner``).
REPORTED_OWNER_FIELD = "owner_email"
#: The people a report may name, who then could approve, be paged or be e-mailed: only the
#: systems of record (the Salesforce lookup sets ``manager_email``) say who they are.
REPORTED_PEOPLE_FIELDS = frozenset({REPORTED_OWNER_FIELD, "manager_email", "manager_name"})


def reported_owner(detection: Detection) -> str | None:
    """The owner a report names (its account's, else its facts'), or None."""
    named = detection.account.owner_email or detection.facts.get(REPORTED_OWNER_FIELD)
    return str(named) if named else None


def without_reported_owner(
    detection: Detection, from_detector: bool = False
) -> tuple[AccountRef, dict[str, Any]]:
    """The report's account and facts with what only the systems of record may say taken
    out: the people it names (who owns a remediation may approve its fixes and receives its
    e-mail, the manager is pinged by the escalation ladder) and the lookups' verdicts and
    targets (``LOOKUP_FACTS``), which Canary's own detectors alone may bring."""
    account = detection.account.model_copy(update={"owner_email": None})
    untrusted = REPORTED_PEOPLE_FIELDS if from_detector else REPORTED_PEOPLE_FIELDS | LOOKUP_FACTS
    facts = {k: v for k, v in detection.facts.items() if k not in untrusted}
    return account, facts


def one_address(value: str | None) -> str | None:
    """``value`` if it is exactly one plain e-mail address (local@domain), else None: an
    e-mail goes to one validated recipient, so a comma, a display name or a second address
    never adds one."""
    if not value:
        return None
    parsed = getaddresses([value])
    if len(parsed) != 1 or parsed[0] != ("", value):
        return None
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c in value for c in ' ,;:<>()[]"\\'):
        return None
    return value


def owner_emails(account: AccountRef, facts: dict[str, Any]) -> list[str]:
    """Where a remediation's owner is looked up: the account's owner, then the facts'. Both
    are what the remediation trusts (lookups and Canary's own detectors), never a report's."""
    return [str(e) for e in (account.owner_email, facts.get("owner_email")) if e]


class TimelineEntry(BaseModel):
    at: datetime
    kind: TimelineKind
    text: str
    actor: str = "canary"
    data: dict[str, Any] = Field(default_factory=dict)


class RemediationConfig(BaseModel):
    """Deployment settings the workflow needs, passed in (workflows never read the env)."""

    alert_channel: str = "#gtm-alerts"
    escalation_channel: str = "#gtm-escalations"
    temporal_ui_url: str = "http://localhost:8233"
    namespace: str = "default"
    admins: list[str] = Field(
        default_factory=list,
        description="No longer read: who is an admin is read when a click arrives "
        "(ActionRequest.admin). Kept so recorded inputs still load.",
    )
    search_attributes: bool = Field(
        True, description="Upsert Canary's search attributes (off where none are registered)."
    )
    ids_only_in_search: bool = Field(
        False,
        description="Payloads are encrypted: search attributes (which Temporal cannot encrypt) "
        "carry ids and types only, the account by its id and no owner e-mail.",
    )
    step_timeout_seconds: float = Field(
        60.0, gt=0, description="Start-to-close timeout of one SOP step (a Stripe call, say)."
    )
    digest_hour_utc: int = Field(
        8, ge=0, le=23, description="When (UTC) the owners' daily digests are posted."
    )
    continue_as_new_after: int = Field(
        HISTORY_EVENT_LIMIT,
        ge=10,
        description="A run whose history reaches this many events continues as new (same "
        "workflow id, state carried), before Temporal's history limits come near.",
    )


class SlackRef(BaseModel):
    channel: str
    ts: str
    permalink: str | None = None

    def names(self, channel: str | None, ts: str | None) -> bool:
        """Whether a click's channel and message ts are this message's."""
        return bool(channel and ts) and (self.channel, self.ts) == (channel, ts)


def carries_buttons(
    alert: SlackRef | None, others: list[SlackRef], channel: str | None, ts: str | None
) -> bool:
    """Whether ``channel``/``ts`` names the alert or one of the other messages a remediation
    posted with its buttons (escalation posts, digests listing it)."""
    return any(m.names(channel, ts) for m in [*([alert] if alert else []), *others])


class ActionRequest(BaseModel):
    """A person's click (or `canary signal`): the update's single argument."""

    action: str
    user: str = Field(description="Slack user id or CLI user name.")
    user_name: str | None = None
    note: str | None = Field(None, max_length=2000, description="A note for the timeline.")
    reason: str | None = Field(
        None, max_length=300, description="Why (a dismissal's reason, what fixed it)."
    )
    snooze_until: datetime | None = Field(
        None, description="A snooze's end chosen in its form (instead of the action's length)."
    )
    snooze_for: timedelta | None = Field(
        None, description="A snooze's length chosen in its form (one the SOP offers)."
    )
    value: str | None = None
    source: Literal["slack", "cli", "api"] = "slack"
    # Read by the gateway when the click arrives (CANARY_ADMINS, Slack's user groups), so
    # the workflow decides from its input alone and a revoked admin or member is refused on
    # remediations opened before the change.
    admin: bool = Field(False, description="The clicker is in CANARY_ADMINS now.")
    member_of: list[str] = Field(
        default_factory=list,
        description="Of the groups the action allows, those the clicker is in now.",
    )
    groups_unread: bool = Field(
        False,
        description="The gateway has not read the clicker's groups yet: when only a group "
        "would let them press, the update is refused with the groups to read "
        "(ActionResult.groups_to_read) and sent again with them.",
    )
    # Where a click came from, as Slack's signed payload names it; the workflow checks it
    # against its own messages as it validates the update, in the same step as the action.
    message: SlackRef | None = Field(
        None,
        description="The Slack message the click (or the form it opened) came from: one of "
        "this remediation's (its alert, an escalation post, a digest listing it) or the "
        "update is refused. None from a Home tab (the gateway checks that Home), the CLI and "
        "the API.",
    )
    pressed: bool = Field(
        False,
        description="A button pressed where a form can open: an action that asks first (a "
        "reason, a note, a snooze length) is refused with its form (ActionResult.form).",
    )


class FormAsk(BaseModel):
    """What a form needs to open for an action that asks first."""

    action: HumanAction
    headline: str


class ActionResult(BaseModel):
    accepted: bool
    action: str
    state: State
    outcome: Outcome | None = None
    message: str
    form: FormAsk | None = Field(
        None, description="Not acted yet: the action asks in this form first."
    )
    groups_to_read: list[str] = Field(
        default_factory=list,
        description="Not acted yet: the clicker's membership of these groups decides.",
    )

    @property
    def asks_more(self) -> bool:
        """Refused only until the caller brings what it asks for (a form, groups)."""
        return self.form is not None or bool(self.groups_to_read)


class ExternalEvent(BaseModel):
    """A fact from the outside world about the subject, e.g. Stripe's ``invoice.paid``."""

    kind: str
    source: str
    evidence: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None
    event_id: str | None = None


class PaymentRecovery(BaseModel):
    """How a failed payment went, for the recovery report: set on payment remediations
    (error type payment_failed), None elsewhere and in records made before Canary said what
    recovered a payment. Amounts are in the currency's minor units (cents), as Stripe's."""

    recovered_by: RecoveredBy | None = Field(
        None, description="What recovered it (or written_off); None while it is not recovered."
    )
    recovery_attempt: int | None = Field(
        None, description="Which scheduled retry recovered it (1-based)."
    )
    recovered_amount: int | None = Field(None, description="What was collected.")
    failed_amount: int | None = Field(None, description="What the failure left unpaid.")
    currency: str | None = Field(None, description="ISO code, lowercase as Stripe writes it.")
    decline_class: str | None = Field(
        None, description="The first decline's class (soft, card_must_change, hard)."
    )
    first_failed_at: datetime | None = Field(
        None, description="When the invoice's first payment failed."
    )
    recovered_at: datetime | None = Field(None, description="When it was recovered.")

    def recovery_fields(self) -> PaymentRecovery:
        """These fields alone, of a state, a status or a record."""
        fields = PaymentRecovery.model_fields
        return PaymentRecovery(**{name: getattr(self, name) for name in fields})


class RemediationSummary(BaseModel):
    workflow_id: str
    error_type: str
    state: State
    outcome: Outcome | None = None
    escalation_level: int = 0
    severity: Severity = "medium"
    subject: Subject
    subject_id: str
    account: AccountRef
    owner: str | None = None
    owner_slack_user: str | None = Field(
        None, description="The owner's Slack user id, when the owner is on Slack."
    )
    headline: str = ""
    occurrences: int = 1
    attempts: int = 0
    started_at: datetime
    updated_at: datetime
    slack: SlackRef | None = None


class RemediationStatus(RemediationSummary, PaymentRecovery):
    next_retry: str | None = Field(
        None,
        description="The recovery plan's next retry, in words: 'next retry Thu 1 Jan 09:00 "
        "UTC, attempt 3 of 6'.",
    )
    messages: list[SlackRef] = Field(
        default_factory=list,
        description="The escalation and digest posts that carry its buttons (the alert is "
        "'slack').",
    )
    diagnosis: Diagnosis | None = None
    actions: list[str] = Field(default_factory=list)
    close_reason: str | None = Field(
        None, description="Why it was dismissed, or what fixed it, as the person said."
    )
    snoozed_until: datetime | None = None
    retrying_quietly: bool = Field(
        False,
        description="Canary retries the payment on its plan without pinging anyone: nothing "
        "waits for a person until the plan is exhausted.",
    )
    timeline: list[TimelineEntry] = Field(default_factory=list)


class ResolutionRecord(PaymentRecovery):
    """What a finished remediation leaves behind, for reports and replays."""

    workflow_id: str
    error_type: str
    state: State
    outcome: Outcome
    subject: Subject
    account: AccountRef
    severity: Severity
    resolved_by: str | None = None
    close_reason: str | None = Field(
        None, description="Why it was dismissed, or what fixed it, as the person said."
    )
    started_at: datetime
    first_notified_at: datetime | None = None
    first_human_action_at: datetime | None = None
    closed_at: datetime
    time_to_first_notification: timedelta | None = None
    time_to_first_human_action: timedelta | None = None
    time_to_resolution: timedelta
    attempts: int
    occurrences: int
    highest_escalation_level: int
    signature: str | None = None
    timeline: list[TimelineEntry]


# -- activity inputs/outputs (one model in, one out) ----------------------------------------


class EnrichInput(BaseModel):
    enricher: str
    detection: Detection


class EnrichOutput(BaseModel):
    facts: dict[str, Any] = Field(default_factory=dict)
    account: AccountRef | None = None
    links: list[Link] = Field(default_factory=list)


class DiagnoseInput(BaseModel):
    detection: Detection
    plan: DiagnosisPlan
    facts: dict[str, Any] = Field(default_factory=dict)


class StepInput(BaseModel):
    workflow_id: str
    step: Step
    attempt_key: str = Field(description="Stable per workflow and step run: idempotency keys.")
    detection: Detection
    facts: dict[str, Any] = Field(default_factory=dict)
    value: str | None = Field(None, description="What the person chose (a select's value).")


class StepOutput(BaseModel):
    ok: bool
    resolved: bool = False
    text: str
    facts: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)
    error_code: str | None = None


class SlackMessageInput(BaseModel):
    workflow_id: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str | None = Field(None, description="Update this message in place when set.")
    thread_ts: str | None = None
    metadata_key: str | None = Field(
        None, description="Marks the message so a retried post finds it instead of posting twice."
    )
    thread_text: str | None = Field(
        None,
        description="A reply to post under the message (new or updated), in the same activity.",
    )
    thread_metadata_key: str | None = None
    permalink: bool = Field(
        True, description="Ask Slack for a new message's permalink (the alert's is linked)."
    )
    look_first: bool = Field(
        False,
        description="Search for the metadata key before a first attempt too: a local "
        "activity is run again, as attempt 1, when its workflow task is retried. An update "
        "looks for its reply (under the message).",
    )
    look_since: datetime | None = Field(
        None,
        description="Search only the channel's posts since then (a few minutes earlier, for "
        "Slack's clock): the post cannot be older than the task that makes it.",
    )


class SlackMessageOutput(BaseModel):
    channel: str
    ts: str
    permalink: str | None = None
    thread_ts: str | None = Field(None, description="The reply posted from ``thread_text``.")
    found_earlier: bool = Field(
        False,
        description="The post (for an update, its reply) was found in Slack, made by an "
        "earlier try: it was not posted again.",
    )


class ResolveOwnerInput(BaseModel):
    emails: list[str]


class ResolveOwnerOutput(BaseModel):
    slack_user: str | None = None
    email: str | None = None
    name: str | None = None


class InvestigateInput(BaseModel):
    detection: Detection
    facts: dict[str, Any] = Field(default_factory=dict)
    account: AccountRef | None = Field(
        None,
        description="The account as the remediation trusts it (the report's without the "
        "owner it names); None: the report's, its owner taken out.",
    )
    workflow_id: str | None = None
    prepare_key: str | None = Field(
        None,
        description="With it, the diagnosis's leading link-preparing steps run in the "
        "investigation too, their attempt keys ``<prepare_key>/<step id>/1``.",
    )
    step_timeout_seconds: float = Field(
        30.0, description="A prepared step slower than this is left to the workflow."
    )


class Investigation(BaseModel):
    """A new remediation's diagnosis in one local activity: the plan, each enricher tried
    once, the diagnosis, and the owner and manager to alert. Whatever failed here is
    looked up again by the workflow, one retried lookup at a time."""

    plan: DiagnosisPlan
    enriched: list[EnrichOutput | None] = Field(
        default_factory=list, description="One per plan.enrich, None where it failed."
    )
    enrich_errors: list[str | None] = Field(default_factory=list)
    enrich_final: list[bool] = Field(
        default_factory=list, description="Failed for good (a permanent refusal): no retry."
    )
    retry_after: timedelta | None = Field(
        None, description="The longest wait a failed enricher's service asked for (Retry-After)."
    )
    diagnosis: Diagnosis | None = Field(None, description="None if an enricher failed.")
    owner_emails: list[str] = Field(default_factory=list)
    owner: ResolveOwnerOutput | None = None
    manager_email: str | None = None
    manager: ResolveOwnerOutput | None = None
    prepared: dict[str, StepOutput] = Field(
        default_factory=dict,
        description="Step id → result of the leading link-preparing steps run here (a step "
        "that failed is left out: the workflow runs it, with retries).",
    )
    windows: QuietWindows | None = Field(
        None,
        description="The quiet windows open when the investigation ran, for a first alert "
        "made in the same workflow task (None: not read).",
    )
