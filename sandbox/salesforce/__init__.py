"""Canary's local, wire-faithful stand-in for Salesforce's REST API.

Mount ``create_salesforce_router(SalesforceState())`` on the sandbox app and point the real
simple-salesforce client at it::

    sf = Salesforce(
        instance_url="https://127.0.0.1:PORT",
        session_id="00D...!token",
        session=SandboxSalesforceSession("http://127.0.0.1:PORT"),
        version=API_VERSION,
    )
"""

from .errors import SalesforceApiError
from .ids import make_id, to18
from .router import create_salesforce_router
from .seed import (
    ANGRY_COMMENT,
    INTEGRATION_USER_ID,
    NEUTRAL_COMMENT,
    ORG_ID,
    SEED_ACCOUNTS,
    SEED_CASE_COMMENTS,
    SEED_CASES,
    SEED_CONTACTS,
    SEED_IDS,
    SEED_OPPORTUNITIES,
    SEED_TASKS,
    SEED_USERS,
)
from .session import SandboxSalesforceSession
from .state import (
    API_VERSION,
    SANDBOX_PASSWORD,
    SANDBOX_SECURITY_TOKEN,
    SalesforceState,
    ValidationRule,
    format_datetime,
)

__all__ = [
    "ANGRY_COMMENT",
    "API_VERSION",
    "INTEGRATION_USER_ID",
    "NEUTRAL_COMMENT",
    "ORG_ID",
    "SANDBOX_PASSWORD",
    "SANDBOX_SECURITY_TOKEN",
    "SEED_ACCOUNTS",
    "SEED_CASES",
    "SEED_CASE_COMMENTS",
    "SEED_CONTACTS",
    "SEED_IDS",
    "SEED_OPPORTUNITIES",
    "SEED_TASKS",
    "SEED_USERS",
    "SalesforceApiError",
    "SalesforceState",
    "SandboxSalesforceSession",
    "ValidationRule",
    "create_salesforce_router",
    "format_datetime",
    "make_id",
    "to18",
]
