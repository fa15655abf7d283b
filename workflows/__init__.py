"""Temporal workflows. Deterministic code only: I/O lives in activities."""

from workflows.card_update import CardUpdateWorkflow
from workflows.detectors import DetectorWorkflow
from workflows.digest import DigestWorkflow
from workflows.ids import remediation_id
from workflows.payment_attempt import PaymentAttemptWorkflow
from workflows.quiet_window import QuietWindowWorkflow
from workflows.remediation import RemediationWorkflow

WORKFLOWS = [
    RemediationWorkflow,
    DetectorWorkflow,
    DigestWorkflow,
    PaymentAttemptWorkflow,
    CardUpdateWorkflow,
    QuietWindowWorkflow,
]

__all__ = [
    "WORKFLOWS",
    "CardUpdateWorkflow",
    "DetectorWorkflow",
    "DigestWorkflow",
    "PaymentAttemptWorkflow",
    "QuietWindowWorkflow",
    "RemediationWorkflow",
    "remediation_id",
]
