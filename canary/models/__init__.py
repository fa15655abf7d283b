"""Pydantic models shared by the workflows, activities, gateway, CLI and tests."""

from canary.models.detection import AccountRef, Detection, Link, Subject
from canary.models.remediation import (
    OPEN_STATES,
    ActionRequest,
    ActionResult,
    DiagnoseInput,
    Diagnosis,
    DiagnosisPlan,
    DiagnosisStep,
    EnrichInput,
    EnrichOutput,
    ExternalEvent,
    Outcome,
    RemediationConfig,
    RemediationInput,
    RemediationStatus,
    RemediationSummary,
    ResolutionRecord,
    ResolveOwnerInput,
    ResolveOwnerOutput,
    SlackMessageInput,
    SlackMessageOutput,
    SlackRef,
    State,
    StepInput,
    StepOutput,
    TimelineEntry,
)
from canary.models.sop import (
    Branch,
    Catalog,
    EscalationStep,
    HumanAction,
    Message,
    Resolution,
    Rule,
    Sop,
    Step,
)

__all__ = [
    "OPEN_STATES", "AccountRef", "ActionRequest", "ActionResult", "Branch", "Catalog",
    "DiagnoseInput", "Diagnosis", "DiagnosisPlan", "DiagnosisStep", "Detection", "EnrichInput",
    "EnrichOutput", "EscalationStep", "ExternalEvent", "HumanAction", "Link", "Message", "Outcome",
    "RemediationConfig", "RemediationInput", "RemediationStatus", "RemediationSummary", "Resolution",
    "ResolutionRecord", "ResolveOwnerInput", "ResolveOwnerOutput", "Rule", "SlackMessageInput",
    "SlackMessageOutput", "SlackRef", "Sop", "State", "Step", "StepInput", "StepOutput",
    "Subject", "TimelineEntry",
]
