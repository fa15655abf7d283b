"""The report's models: what goes in (a window and its knobs), what each remediation
contributes, and what comes out (one Report for the terminal, the JSON API and the page).

Durations are plain seconds (floats) so that the JSON, the page and the tests compare the
same numbers without parsing ISO 8601 durations.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from canary.models import (
    RECOVERIES,
    Outcome,
    QuietWindow,
    RemediationStatus,
    ResolutionRecord,
)

OUTCOMES: tuple[Outcome, ...] = (
    "auto_resolved",
    "resolved_by_human",
    "resolved_externally",
    "dismissed",
    "expired",
)
#: Where a remediation's time goes, derived from its timeline (see canary.reports.compute).
PHASES = ("diagnosis", "automated", "waiting_for_person", "escalated")
#: Where a failed invoice stands (see canary.reports.recovery): recovered one of the
#: RECOVERIES ways, still being recovered, written off, closed without being recovered, or
#: closed as resolved by a record that does not say how (made before Canary said).
STANDINGS: tuple[str, ...] = (
    *RECOVERIES,
    "open",
    "written_off",
    "not_recovered",
    "unattributed",
)
#: Decline classes in the order the report lists them; others follow by name.
DECLINE_CLASSES = ("soft", "card_must_change", "hard")
UNCLASSIFIED = "unclassified"


class ReportRequest(BaseModel):
    """The window and the thresholds of the analyses."""

    since: datetime
    until: datetime
    cooccurrence_window: timedelta = Field(
        timedelta(hours=24),
        description="Two error types co-occur when one account has both started this close.",
    )
    burst_window: timedelta = Field(
        timedelta(hours=1), description="A burst is burst_min or more of one type this close."
    )
    burst_min: int = Field(3, ge=2)
    cluster_min: int = Field(2, ge=2, description="Remediations on one account to call a cluster.")
    sop_candidate_min: int = Field(
        2, ge=1, description="Times an unknown error's signature is seen to suggest an SOP."
    )
    limit: int = Field(2000, ge=1, description="At most this many workflow runs are read.")

    @model_validator(mode="after")
    def _ordered(self) -> ReportRequest:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until must carry a time zone")
        if self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class RemediationFacts(BaseModel):
    """One remediation run as read from Temporal: visibility's search attributes, plus the
    status query (running) or the ResolutionRecord (completed) when those could be read."""

    workflow_id: str
    run_id: str
    execution: Literal["running", "completed", "other"]
    execution_status: str = Field(description="Temporal's status name, e.g. TERMINATED.")
    start_time: datetime
    close_time: datetime | None = None
    error_type: str = "unknown"
    severity: str = "medium"
    state: str | None = None
    escalation_level: int = 0
    owner: str | None = None
    account_key: str | None = None
    subject: str | None = None
    signature: str | None = None
    status: RemediationStatus | None = None
    record: ResolutionRecord | None = None
    read_error: str | None = Field(None, description="Why status/result could not be read.")


class OpenRemediation(BaseModel):
    workflow_id: str
    run_id: str
    error_type: str
    severity: str
    state: str
    escalation_level: int
    owner: str | None
    account: str
    account_key: str | None
    subject: str
    headline: str
    occurrences: int
    attempts: int
    started_at: datetime
    age_seconds: float = Field(description="From start to the end of the report's window.")
    temporal_url: str
    slack_url: str | None = None


class OpenSummary(BaseModel):
    total: int
    by_type: dict[str, int]
    by_severity: dict[str, int]
    by_escalation_level: dict[str, int]
    by_owner: dict[str, int]
    items: list[OpenRemediation] = Field(description="Oldest first.")


class DayCount(BaseModel):
    day: date
    total: int
    by_type: dict[str, int]


class Percentiles(BaseModel):
    count: int
    p50: float | None = None
    p90: float | None = None


class TypeStats(BaseModel):
    error_type: str
    opened: int = Field(description="Remediations started in the window.")
    occurrences: int = Field(description="Reports folded into those remediations.")
    closed: int = Field(description="Remediations closed in the window.")
    open_now: int
    mtta: Percentiles = Field(description="Start to first human action (closed in window).")
    mttr: Percentiles = Field(description="Start to resolution (closed in window).")
    outcomes: dict[str, int]


class OutcomeShare(BaseModel):
    outcome: str
    count: int
    share: float = Field(description="Of the remediations closed in the window, 0..1.")


class DismissalReason(BaseModel):
    """How many remediations closed in the window were dismissed for one reason."""

    reason: str = Field(description="As the person gave it; '(no reason given)' for old records.")
    count: int
    by_type: dict[str, int] = Field(default_factory=dict)


class StepTime(BaseModel):
    error_type: str
    step: str
    title: str
    runs: int
    failures: int
    total_seconds: float
    mean_seconds: float


class TimeSpent(BaseModel):
    """Seconds of closed remediations' lives by phase (``all`` sums every type)."""

    error_type: str
    remediations: int
    seconds: dict[str, float] = Field(description="diagnosis / automated / waiting / escalated.")
    total_seconds: float
    shares: dict[str, float]


class AccountCluster(BaseModel):
    account_key: str
    account: str
    remediations: int
    open: int
    error_types: list[str]
    workflow_ids: list[str]


class CoOccurrence(BaseModel):
    error_types: list[str] = Field(description="Two distinct types, sorted.")
    accounts: list[str]
    count: int = Field(description="Pairs of remediations this close on one account.")


class Burst(BaseModel):
    error_type: str
    start: datetime
    end: datetime
    count: int
    workflow_ids: list[str]


class Clusters(BaseModel):
    accounts: list[AccountCluster]
    co_occurrences: list[CoOccurrence]
    bursts: list[Burst]


class SopCandidate(BaseModel):
    signature: str
    source: str | None
    seen: int = Field(description="Reports with this signature (occurrences included).")
    remediations: int
    open: int
    sample: str
    first_seen: datetime
    last_seen: datetime
    workflow_ids: list[str]


class RecoveryGroup(BaseModel):
    """The failed invoices of one decline class (or all of them)."""

    key: str
    invoices: int = Field(description="Invoices whose first failure fell in the window.")
    recovered: int
    recovery_rate: float | None = Field(description="recovered / invoices, 0..1.")
    standings: dict[str, int] = Field(description="Invoices per standing (STANDINGS).")
    failed_amount: dict[str, int] = Field(description="Per currency, in minor units.")
    recovered_amount: dict[str, int]


class RecoveryWay(BaseModel):
    """The invoices one way recovered (what recovered them, or which scheduled retry)."""

    key: str
    recovered: int
    share_of_recoveries: float = Field(description="Of the recovered invoices, 0..1.")
    share_of_failures: float = Field(description="Of the invoices that failed, 0..1.")
    recovered_amount: dict[str, int]


class Recovery(BaseModel):
    """How failed payments (payment_failed remediations) were recovered. The denominator is
    every invoice whose first failure fell in the window, counted once however many
    remediations it had, whether recovered, still open, written off or given up."""

    denominator: str = Field(description="What the rates divide by, in words.")
    invoices: int
    recovered: int
    recovery_rate: float | None = Field(description="recovered / invoices, 0..1.")
    standings: dict[str, int]
    failed_amount: dict[str, int] = Field(description="Per currency, in minor units.")
    recovered_amount: dict[str, int]
    amount_recovery_rate: dict[str, float] = Field(
        description="Per currency: recovered amount / failed amount, 0..1."
    )
    without_amount: int = Field(description="Invoices whose failed amount is not known.")
    by_decline_class: list[RecoveryGroup]
    by_recovered_by: list[RecoveryWay] = Field(description="One row per way, in RECOVERIES.")
    by_attempt: list[RecoveryWay] = Field(
        description="Recoveries by scheduled retry, by which retry it was (1-based)."
    )
    time_to_recover: Percentiles = Field(
        description="Seconds from the first failure to the recovery, of recovered invoices."
    )
    at_risk_invoices: int = Field(description="Invoices of payment remediations open now.")
    at_risk_amount: dict[str, int] = Field(
        description="Their failed amounts per currency (any first failure, not only the window)."
    )


class Totals(BaseModel):
    open_now: int
    opened: int
    closed: int
    occurrences: int


class Unreadable(BaseModel):
    workflow_id: str
    run_id: str
    reason: str


class Report(BaseModel):
    generated_at: datetime
    since: datetime
    until: datetime
    namespace: str
    temporal_ui_url: str
    temporal_list_url: str
    request: ReportRequest
    totals: Totals
    open: OpenSummary
    frequency: list[DayCount]
    error_types: list[str]
    by_type: list[TypeStats]
    outcomes: list[OutcomeShare]
    dismissals: list[DismissalReason] = Field(
        default_factory=list, description="Dismissals closed in the window, by reason."
    )
    windows: list[QuietWindow] = Field(
        default_factory=list, description="Quiet windows open at some time in the window."
    )
    time_spent: list[TimeSpent]
    steps: list[StepTime]
    clusters: Clusters
    sop_candidates: list[SopCandidate]
    recovery: Recovery
    unreadable: list[Unreadable] = Field(
        default_factory=list,
        description="Runs counted from visibility only: terminated, failed, or not answering.",
    )
    truncated: bool = Field(False, description="More runs matched than request.limit.")
