"""Detectors as data: what each one queries, the rule it applies and when it runs.

A detector finds GTM errors on a schedule instead of waiting for a webhook. Its queries and
thresholds live in the detector catalog (YAML validated by these models), never in code, and
every value a query needs is a bound parameter the activity supplies (named in each field's
description), so a catalog change never means string formatting of values into SQL or SOQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from canary.models.detection import AccountRef, Detection, Link, Subject
from canary.models.sop import Severity

ValueFormat = Literal["number", "money_cents", "percent", "ratio"]


class DetectorSchedule(BaseModel):
    """When the detector's Temporal Schedule fires: cron expressions (UTC) or an interval."""

    model_config = ConfigDict(extra="forbid")

    cron: list[str] = Field(default_factory=list, description='e.g. ["0 7 * * MON-FRI"] (UTC)')
    every: timedelta | None = Field(None, description="An interval instead, e.g. PT6H.")
    paused: bool = Field(False, description="Create the schedule paused (apply keeps a pause).")

    @model_validator(mode="after")
    def _one_way(self) -> DetectorSchedule:
        if bool(self.cron) == (self.every is not None):
            raise ValueError("a schedule needs either 'cron' or 'every' (exactly one)")
        if self.every is not None and self.every < timedelta(minutes=1):
            raise ValueError("a detector should not run more often than once a minute")
        return self


class _Detector(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z][a-z0-9_\-]*$", max_length=60)
    title: str
    error_type: str = Field(description="The SOP type every finding is raised as.")
    schedule: DetectorSchedule
    enabled: bool = True
    source: str | None = Field(None, description="The detections' source; default 'detector:<id>'.")
    route_to: Literal["csm", "account_owner", "deal_owner"] = Field(
        "csm",
        description="Who owns the findings: the account's CSM or its owner (the other one "
        "stands in when one is missing), or for deal findings the opportunity's owner (the "
        "account's owner stands in); their manager is the escalation target.",
    )


class Milestone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    subject_contains: str = Field(
        description="Case-insensitive text a milestone task's subject has."
    )


class OnboardingOverdueDetector(_Detector):
    """Accounts Closed Won more than ``after_days`` ago with onboarding milestones incomplete."""

    kind: Literal["onboarding_overdue"]
    after_days: int = Field(30, ge=0)
    won_deals_soql: str = Field(
        description="Closed Won deals; params: closed_before (date). Returns Id, Name, CloseDate, "
        "AccountId, Account.Name, Account.Onboarding_Complete__c and the CSM's Id/Name/Email "
        "and manager e-mail through Account.Customer_Success_Manager__r."
    )
    tasks_soql: str = Field(
        description="Milestone tasks; params: account_ids (list). Returns Subject, Status, Type, "
        "AccountId."
    )
    milestone_task_type: str | None = Field(
        None, description="Only tasks of this Type count as milestones (None: any type)."
    )
    milestones: list[Milestone] = Field(min_length=1)


class RenewalTouchpointDetector(_Detector):
    """Renewals within ``within_days`` with no business review logged in the window."""

    kind: Literal["renewal_touchpoint_missed"]
    within_days: int = Field(90, ge=0)
    lookback_days: int = Field(90, ge=1, description="How far back a held review still counts.")
    renewals_soql: str = Field(
        description="Accounts renewing; params: renewal_from, renewal_to (dates)."
    )
    tasks_soql: str = Field(
        description="Touchpoint tasks; params: account_ids (list), since (date)."
    )
    touchpoint_task_type: str | None = "Meeting"
    touchpoint_subjects: list[str] = Field(
        default_factory=lambda: ["business review", "qbr", "ebr"], min_length=1
    )


class LowAdoptionDetector(_Detector):
    """Accounts whose usage over a window is under a threshold (a warehouse query)."""

    kind: Literal["low_adoption"]
    sql: str = Field(
        description="One row per account; params: since, until (dates). Columns: app_account_id, "
        "crm_id, account_name and the value column (plus any figures to show)."
    )
    window_days: int = Field(28, ge=1)
    value_column: str = "adoption_rate"
    below: float = Field(description="Usage strictly under this is low.")
    value_format: ValueFormat = "percent"


class AccountShiftDetector(_Detector):
    """One customer's spend or usage beyond its own trailing baseline, down or up."""

    kind: Literal["account_shift"]
    sql: str = Field(
        description="One row per account and period, oldest first; params: since (date). "
        "Columns: app_account_id, crm_id, account_name, period, value."
    )
    metric: str = Field(description="What the value is, for people: 'weekly spend'.")
    value_format: ValueFormat = "number"
    history_weeks: int = Field(12, ge=2, description="How much history to load.")
    baseline_points: int = Field(8, ge=1, description="Trailing periods the baseline averages.")
    min_baseline_points: int = Field(4, ge=1, description="Fewer than this: no baseline yet.")
    stddevs: float | None = Field(2.0, gt=0, description="Shift when |z| is strictly above this.")
    percent: float | None = Field(
        None, gt=0, description="Or when |change vs mean| is strictly above this (0.5 = 50%)."
    )

    @model_validator(mode="after")
    def _some_threshold(self) -> AccountShiftDetector:
        if self.stddevs is None and self.percent is None:
            raise ValueError(f"detector {self.id}: set 'stddevs', 'percent' or both")
        if self.min_baseline_points > self.baseline_points:
            raise ValueError(f"detector {self.id}: min_baseline_points > baseline_points")
        return self


class IrateCustomerDetector(_Detector):
    """Service interactions scored for anger with VADER; past the threshold alerts."""

    kind: Literal["irate_customer"]
    cases_soql: str = Field(description="Recent cases; params: since (datetime).")
    comments_soql: str = Field(description="Recent case comments; params: since (datetime).")
    lookback_hours: int = Field(48, ge=1)
    threshold: float = Field(
        -0.6, ge=-1, le=1, description="VADER compound score strictly under this is irate."
    )


class MetricThresholdDetector(_Detector):
    """A KPI crossing its threshold produces a report sent to the named audience."""

    kind: Literal["metric_threshold"]
    kpi: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kpi_title: str
    sql: str = Field(
        description="The KPI's series, oldest first; params: kpi (text), since (date). Columns: "
        "period, value."
    )
    periods: int = Field(14, ge=1, description="How many periods the report shows.")
    lookback_days: int = Field(30, ge=1, description="How far back the query reads (since).")
    above: float | None = Field(None, description="Alert when the latest value is above this.")
    below: float | None = Field(None, description="Or below this.")
    value_format: ValueFormat = "number"
    audience_channel: str | None = Field(None, description="Slack channel the report goes to.")
    audience_emails: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _threshold(self) -> MetricThresholdDetector:
        if self.above is None and self.below is None:
            raise ValueError(f"detector {self.id}: set 'above', 'below' or both")
        return self


class PastCloseDetector(_Detector):
    """Pipeline sweep: committed opportunities past their close date and not Closed Won."""

    kind: Literal["pipeline_past_close"]
    opportunities_soql: str = Field(
        description="Open committed opportunities; params: closed_before (date, the last close "
        "date that counts as past). Returns Id, Name, StageName, Amount, CloseDate, "
        "ForecastCategoryName, AccountId, Account.Name, Owner.Name, Owner.Email."
    )
    grace_days: int = Field(
        0, ge=0, description="Days past the close date before a deal counts (0: the day after)."
    )


class WonUnpaidDetector(_Detector):
    """Pipeline sweep: Closed Won opportunities with no successful payment in Stripe."""

    kind: Literal["pipeline_won_unpaid"]
    won_soql: str = Field(
        description="Closed Won opportunities; params: closed_after, closed_before (dates). "
        "Returns Id, Name, Amount, CloseDate, AccountId, Account.Name, "
        "Account.Stripe_Customer_Id__c, Stripe_Invoice_Id__c, Owner.Email."
    )
    payment_terms_days: int = Field(
        14, ge=0, description="A deal closed fewer days ago than this is not yet due."
    )
    lookback_days: int = Field(60, ge=1, description="Deals closed longer ago are not swept.")
    paid_before_close_days: int = Field(
        30,
        ge=0,
        description="A paid invoice of the customer counts for the deal when paid at most this "
        "many days before the close date (or any time after). An invoice that names the "
        "opportunity (metadata salesforce_opportunity_id, or the deal's Stripe_Invoice_Id__c) "
        "always counts.",
    )

    @model_validator(mode="after")
    def _window(self) -> WonUnpaidDetector:
        if self.lookback_days <= self.payment_terms_days:
            raise ValueError(f"detector {self.id}: lookback_days must exceed payment_terms_days")
        return self


class UnlinkedAccountsDetector(_Detector):
    """Pipeline sweep: accounts with no linked app account, from both sides.

    Product accounts (the warehouse) that no Salesforce account carries in its app-account
    field are raised as ``error_type`` (the SOP proposes the CRM account to link); customer
    accounts in Salesforce with no product account at all are raised as
    ``customer_error_type``."""

    kind: Literal["pipeline_unlinked_accounts"]
    linked_soql: str = Field(
        description="Salesforce accounts that carry an app account id; no params. Returns Id, "
        "App_Account_Id__c."
    )
    customers_soql: str = Field(
        description="Customer accounts with no app account id; no params. Returns Id, Name, "
        "Domain__c, Website, Type, Stripe_Customer_Id__c, Owner.Email."
    )
    app_accounts_sql: str = Field(
        description="Product accounts; no params. Columns: app_account_id, name, domain, plan."
    )
    customer_error_type: str = Field(
        "app_account_missing",
        description="The SOP type of a customer account with no product account at all.",
    )


class CardExpiryDetector(_Detector):
    """Heads-up before renewals: the card on file expires before the next invoice of an
    account's open renewal or committed deal. The next invoice is due when the deal closes."""

    kind: Literal["card_expiring"]
    opportunities_soql: str = Field(
        description="Open renewal or Commit opportunities; params: closes_from, closes_to "
        "(dates). Returns Id, Name, Type, ForecastCategoryName, Amount, CloseDate, AccountId, "
        "Account.Name, Account.Stripe_Customer_Id__c, OwnerId, Owner.Name, Owner.Email, "
        "Owner.Manager.Email."
    )
    within_days: int = Field(
        120, ge=1, description="Deals closing further ahead than this are not looked at yet."
    )


DetectorSpec = Annotated[
    OnboardingOverdueDetector
    | RenewalTouchpointDetector
    | LowAdoptionDetector
    | AccountShiftDetector
    | IrateCustomerDetector
    | MetricThresholdDetector
    | PastCloseDetector
    | WonUnpaidDetector
    | UnlinkedAccountsDetector
    | CardExpiryDetector,
    Field(discriminator="kind"),
]


class DetectorCatalog(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    detectors: list[DetectorSpec]

    @field_validator("detectors")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        ids = [d.id for d in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate detector ids: {dupes}")
        return value

    def get(self, detector_id: str) -> DetectorSpec | None:
        return next((d for d in self.detectors if d.id == detector_id), None)


# -- what rules return, and the detector workflow's inputs/outputs ----------------------------


class Finding(BaseModel):
    """One rule violation, before it becomes a :class:`Detection`."""

    error_type: str | None = Field(
        None, description="Raised as this SOP type instead of the detector's error_type."
    )
    subject: Subject
    account: AccountRef = Field(default_factory=AccountRef)
    message: str
    facts: dict[str, Any] = Field(default_factory=dict)
    links: list[Link] = Field(default_factory=list)


class Skipped(BaseModel):
    """Checked but not judged (no baseline yet, no data): shown in the run's result."""

    subject_id: str
    reason: str


class RuleResult(BaseModel):
    checked: int = 0
    findings: list[Finding] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)


class DetectorRunInput(BaseModel):
    detector: DetectorSpec
    catalog_version: str = ""
    search_attributes: bool = Field(True, description="Passed on to the remediations.")
    as_of: datetime | None = Field(
        None, description="Judge the data as of this instant (default: the workflow's now)."
    )


class DetectorQueryInput(BaseModel):
    detector: DetectorSpec
    as_of: datetime


class AccountTeamInput(BaseModel):
    crm_ids: list[str]


class AccountTeam(BaseModel):
    owner_email: str | None = None
    owner_name: str | None = None
    owner_manager_email: str | None = None
    csm_id: str | None = None
    csm_email: str | None = None
    csm_name: str | None = None
    csm_manager_email: str | None = None
    account_name: str | None = None


class AccountTeamOutput(BaseModel):
    teams: dict[str, AccountTeam] = Field(default_factory=dict)


class DetectorQueryOutput(BaseModel):
    """Plain rows per named query (JSON-safe values: dates as ISO strings)."""

    rows: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)


class RaiseInput(BaseModel):
    detection: Detection
    search_attributes: bool = True


class RaiseOutput(BaseModel):
    workflow_id: str
    error_type: str


class DetectorRunResult(BaseModel):
    detector_id: str
    kind: str
    as_of: datetime
    checked: int
    raised: int
    workflow_ids: list[str] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    failed: list[str] = Field(default_factory=list, description="Findings not raised, and why.")


# -- the daily digest ------------------------------------------------------------------------


class DigestItem(BaseModel):
    workflow_id: str
    headline: str
    severity: Severity
    error_type: str
    summary: str = ""
    actions: list[dict[str, Any]] = Field(
        default_factory=list, description="Buttons: {id, label, style} of the remediation."
    )
    added_at: datetime | None = None


class DigestInput(BaseModel):
    owner: str = Field(description="The owner's e-mail (or a channel when nobody owns it).")
    slack_user: str | None = None
    channel: str = "#gtm-alerts"
    hour_utc: int = Field(8, ge=0, le=23)
    pending: list[DigestItem] = Field(default_factory=list, description="Carried over.")
    flushes: int = 0


class DigestAddInput(BaseModel):
    """What a remediation hands to its owner's digest (signal-with-start by the activity)."""

    digest: DigestInput
    item: DigestItem


class DigestAddOutput(BaseModel):
    digest_id: str


class DigestStatesInput(BaseModel):
    workflow_ids: list[str]


class DigestStatesOutput(BaseModel):
    """Which of the items' remediations are still open, with their current headline."""

    open: dict[str, str] = Field(default_factory=dict)


class DigestFlushResult(BaseModel):
    posted: bool
    items: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list, description="Closed before the digest.")


class EmailInput(BaseModel):
    to: list[str]
    subject: str
    text: str
    html: str | None = None
    message_id_key: str = Field(description="Stable key: the Message-ID is derived from it.")


class EmailOutput(BaseModel):
    message_id: str
    accepted: list[str] = Field(default_factory=list)


def as_date(value: Any) -> date | None:
    """Dates arrive as ``date``, ``datetime`` or ISO text (warehouse rows, SOQL JSON)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    return date.fromisoformat(text[:10])
