"""Temporal activities: thin, idempotent wrappers that call the adapters.

Each takes one pydantic model and returns one. Adapter errors become retry decisions here:
transient ones are retried by the workflow's policy (honouring Retry-After), permanent ones
raise a non-retryable ApplicationError so the workflow records them and asks a person.
"""

from activities.remediation import ACTIVITY_NAMES, RemediationActivities

__all__ = ["ACTIVITY_NAMES", "RemediationActivities"]
