"""Temporal workflows. Deterministic code only: I/O lives in canary.activities."""

from canary.workflows.detectors import DetectorWorkflow, DigestWorkflow
from canary.workflows.ids import remediation_id
from canary.workflows.remediation import RemediationWorkflow

WORKFLOWS = [RemediationWorkflow, DetectorWorkflow, DigestWorkflow]

__all__ = [
    "WORKFLOWS",
    "DetectorWorkflow",
    "DigestWorkflow",
    "RemediationWorkflow",
    "remediation_id",
]
