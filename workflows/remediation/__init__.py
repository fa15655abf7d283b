"""The remediation workflow, split by concern: the workflow and its handlers (workflow.py),
what one run shares (context.py), the investigation, the steps, alerting, quiet windows and the
escalation ladder. The state and its pure transitions are ``canary.models.state``; the retry
policies, shared with the other workflows, ``workflows.policies``."""

from workflows.remediation.workflow import RemediationWorkflow

__all__ = ["RemediationWorkflow"]
