"""The remediation workflow, split by concern: the workflow and its handlers (workflow.py),
what one run shares (context.py), the investigation, the steps, alerting, the escalation
ladder, and the retry policies. The state and its pure transitions are
``canary.models.state``."""

from workflows.remediation.workflow import RemediationWorkflow

__all__ = ["RemediationWorkflow"]
