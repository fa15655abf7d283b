"""Temporal workflows. Deterministic code only: I/O lives in canary.activities."""

from canary.workflows.ids import remediation_id
from canary.workflows.remediation import RemediationWorkflow

WORKFLOWS = [RemediationWorkflow]

__all__ = ["WORKFLOWS", "RemediationWorkflow", "remediation_id"]
