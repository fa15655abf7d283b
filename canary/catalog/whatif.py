"""What a changed catalog would have done with remediations that happened: the pure half of
``canary whatif``.

Each remediation is given as its history recorded it (the report as the workflow saw it, the
account and facts its diagnosis saw, that diagnosis, the lookups that answered); the other
catalog plans and diagnoses it again with those facts and nothing else, so no system is
asked anything. A lookup the other catalog wants that was not run then is missing, as a failed
one would be: its confirming checks count as could not run, and the comparison says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from canary.catalog.diagnosis import diagnose, plan
from canary.models import Detection, Diagnosis
from canary.models.sop import Catalog

Delivery = Literal["automatic", "paged", "digest"]
#: What the comparison looks at, in the order it prints them.
COMPARED = ("error_type", "branch", "severity", "automated", "buttons", "escalation", "pinged")


class Recorded(BaseModel):
    """One remediation as its history recorded it."""

    workflow_id: str
    run_id: str | None = None
    detection: Detection = Field(
        description="The report as the workflow saw it: the people and verdicts it named are "
        "taken out (the account is the one the diagnosis saw)."
    )
    facts: dict[str, Any] = Field(default_factory=dict, description="What the diagnosis saw.")
    diagnosis: Diagnosis
    looked_up: list[str] | None = Field(
        None, description="The lookups that answered; None when the history does not say."
    )


class Handling(BaseModel):
    """What a diagnosis does with a remediation, as the what-if compares it."""

    error_type: str
    branch: str | None = None
    severity: str
    automated: list[str] = Field(default_factory=list, description="step id (action)")
    buttons: list[str] = Field(default_factory=list)
    escalation: list[str] = Field(default_factory=list, description="after: who")
    pinged: str
    delivery: Delivery
    evidence: str | None = None


class Compared(BaseModel):
    workflow_id: str
    run_id: str | None = None
    subject: str
    account: str
    before: Handling
    after: Handling
    changed: list[str] = Field(default_factory=list, description="Fields of COMPARED that differ.")
    missing_lookups: list[str] = Field(
        default_factory=list,
        description="Lookups the other catalog asks for that the history does not hold.",
    )

    @property
    def became_unknown(self) -> bool:
        """A report a known SOP handled that the other catalog leaves to the general error."""
        return self.before.error_type != "unknown" and self.after.error_type == "unknown"


class Counts(BaseModel):
    automatic: int = 0
    paged: int = 0
    digest: int = 0
    unknown: int = 0


class Summary(BaseModel):
    remediations: int = 0
    changed: int = 0
    before: Counts = Field(default_factory=Counts)
    after: Counts = Field(default_factory=Counts)
    became_unknown: list[str] = Field(default_factory=list)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def handling(diagnosis: Diagnosis) -> Handling:
    alerting = diagnosis.alerting
    emailed = ", e-mailed" if diagnosis.severity in alerting.email else ""
    delivery: Delivery
    if diagnosis.nothing_to_fix:
        delivery, pinged = "automatic", "nobody: it closes by itself (nothing to fix)"
    elif diagnosis.quiet_while_retrying:
        delivery, pinged = "automatic", "nobody while the retry plan runs, then the owner"
    elif alerting.digest and diagnosis.severity not in alerting.immediate:
        delivery, pinged = "digest", f"the owner's daily digest{emailed}"
    else:
        delivery, pinged = "paged", f"the owner, at once{emailed}"
    waited = timedelta(0)
    ladder = []
    for rung in diagnosis.escalation:
        waited += rung.after
        ladder.append(f"{_duration(waited)}: {rung.target}")
    return Handling(
        error_type=diagnosis.error_type,
        branch=diagnosis.branch,
        severity=diagnosis.severity,
        automated=[f"{s.id} ({s.action})" for s in diagnosis.automated],
        buttons=[a.label for a in diagnosis.actions],
        escalation=ladder,
        pinged=pinged,
        delivery=delivery,
        evidence=diagnosis.evidence,
    )


def compare(recorded: Recorded, catalog: Catalog, env: dict[str, Any] | None = None) -> Compared:
    """The recorded diagnosis against the other catalog's, on the recorded facts."""
    planned = plan(recorded.detection, catalog)
    missing = (
        [e for e in planned.enrich if e not in recorded.looked_up]
        if recorded.looked_up is not None
        else []
    )
    after = diagnose(recorded.detection, planned, catalog, recorded.facts, env)
    before_handling, after_handling = handling(recorded.diagnosis), handling(after)
    subject = recorded.detection.subject
    return Compared(
        workflow_id=recorded.workflow_id,
        run_id=recorded.run_id,
        subject=f"{subject.kind} {subject.id}",
        account=recorded.detection.account.label(),
        before=before_handling,
        after=after_handling,
        changed=[
            name
            for name in COMPARED
            if getattr(before_handling, name) != getattr(after_handling, name)
        ],
        missing_lookups=missing,
    )


def _count(handled: list[Handling]) -> Counts:
    return Counts(
        automatic=sum(h.delivery == "automatic" for h in handled),
        paged=sum(h.delivery == "paged" for h in handled),
        digest=sum(h.delivery == "digest" for h in handled),
        unknown=sum(h.error_type == "unknown" for h in handled),
    )


def summarise(compared: list[Compared]) -> Summary:
    return Summary(
        remediations=len(compared),
        changed=sum(bool(c.changed) for c in compared),
        before=_count([c.before for c in compared]),
        after=_count([c.after for c in compared]),
        became_unknown=[c.workflow_id for c in compared if c.became_unknown],
    )
